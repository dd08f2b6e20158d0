"""The science core: data, models, energies, attacks, AT methods with DER, the training loop,
evaluation and generation. Imports neither Ray nor MLflow (``trainables.tune.trainable`` is the thin Ray
adapter and is imported only by the study engine)."""
__version__ = "0.1.0"
