"""The Ray Tune adapters of the science core, and the only modules of ``trainables`` that import Ray: the training
trainable (``trainable``), the generation trainable (``generate``), what a reused worker resets between
trials (``worker``) and where a trial's time goes (``timing``). Importing this package imports no Ray; its modules do.
"""
