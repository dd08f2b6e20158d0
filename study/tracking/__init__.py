"""MLflow as the study's ledger: parent run per study (driver), child run per trial (worker),
finalised by a driver callback (stop reason, status, artifacts)."""
from study.tracking.driver import LedgerCallback, Tracking

__all__ = ["LedgerCallback", "Tracking"]
