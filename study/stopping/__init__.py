"""Early stopping: pure decision rules over a trial's records, and the Ray scheduler adapting them."""
from study.stopping.rules import (Decision, Degenerate, DeltaEnergyDivergence, NonFinite, ProbeCollapse, StoppingPolicy,
                                  policy_from_spec)

__all__ = ("Decision", "Degenerate", "DeltaEnergyDivergence", "NonFinite", "ProbeCollapse", "StoppingPolicy",
           "policy_from_spec")
