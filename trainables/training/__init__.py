"""The adversarial-training loop and what it needs: the epoch loop with exact save/restore (``trainer``), sub-epoch
windows, learning-rate schedules, optimizers, the compute runtime, resumable checkpoint folders, the pre-flight
of a run config against its dataset, and a local run to the end (``fit``).
"""
