"""Where a study's records live: the workspace (``workspace``), its catalog of studies (``catalog``), and the
storage and tracking URLs with their validation and password masking (``urls``).
"""
