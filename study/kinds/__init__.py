"""Study kinds, by the name a spec's ``kind`` gives: ``train`` and ``generate``."""
from study.kinds.base import StudyKind
from study.kinds.generate import GenerateKind
from study.kinds.train import TrainKind

KINDS: dict[str, StudyKind] = {k.name: k for k in (TrainKind(), GenerateKind())}

__all__ = ["KINDS", "GenerateKind", "StudyKind", "TrainKind"]
