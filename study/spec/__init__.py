"""A study spec: the typed ``StudySpec`` (``spec``) read by the platform's one strict YAML reader (``yamlio``).
"""
