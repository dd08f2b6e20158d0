"""Study orchestration: specs, search, early stopping, tracking, export, and the ``study`` CLI."""
__version__ = "0.1.0"
