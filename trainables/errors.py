"""Errors the science core raises for bad input; the CLI turns them into exit code 2."""
from __future__ import annotations


class InputError(Exception):
    """Bad input from the user (config, data location, checkpoint): the message says what and how to fix."""


class DatasetNotFoundError(InputError):
    """A dataset is not at the searched path and could not be downloaded."""


class CheckpointError(InputError):
    """A checkpoint file is missing, truncated, corrupted or unsafe."""


class ConfigDriftError(InputError):
    """A checkpoint would resume under settings other than the ones it was trained with (training/drift.py)."""
