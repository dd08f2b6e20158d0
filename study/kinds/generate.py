"""Generation studies: each trial samples from one fixed classifier with its own generation knobs, one
report with ``gen/*`` metrics; nothing to stop early but a NaN metric, no model to register."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from study.kinds.base import StudyKind
from trainables.schema import records as R

if TYPE_CHECKING:
    from study.spec.spec import StudySpec


class GenerateKind(StudyKind):
    name, label, section = "generate", "generation config", "generation"
    varied = ("init", "sampler")
    registers_model = False
    metric_hint = f"{R.GEN_FID}, {R.GEN_KID} or {R.GEN_ISC}"

    def base(self, spec: StudySpec):
        if spec.generation is None:
            raise ValueError("kind 'generate' needs a generation block with the classifier's checkpoint")
        return spec.generation.config

    def metric_names(self) -> set[str]:
        return {R.GEN_FID, R.GEN_KID, R.GEN_ISC}

    def preflight(self, spec: StudySpec, local: bool) -> None:
        """The classifier must be a readable checkpoint of ours and (on this machine) the feature-extractor
        weights usable; paths become absolute because Ray workers run in their trial folders."""
        from study.kinds.preflight import check_classifier
        from trainables.generation.metrics import check_setup
        from trainables.models.saved import read_checkpoint

        g = spec.generation
        g.checkpoint = str(Path(g.checkpoint).expanduser().absolute())
        if g.data_root:
            g.data_root = str(Path(g.data_root).expanduser().absolute())
        run_cfg, state, _ = read_checkpoint(g.checkpoint)  # CheckpointError (exit 2) names the file and the fault
        if local:  # on a cluster the weights and data live on the workers, not necessarily here
            check_setup(g.config.metrics)  # missing Inception weights offline: InputError saying how to supply them
        check_classifier(run_cfg, state, g.data_root, local)

    def shrink(self, spec: StudySpec) -> None:  # 100 samples against 1,000 reference images
        g = spec.generation.config
        g.n, g.metrics.reference_n = min(g.n, 100), min(g.metrics.reference_n or 1000, 1000)

    def stopping(self, spec: StudySpec):
        from study.stopping import NonFinite, StoppingPolicy

        metrics = spec.search.metrics
        return StoppingPolicy([NonFinite(metrics=tuple(metrics))]), list(metrics), None

    def trainable(self) -> Callable:
        from trainables.tune.generate import generate_trial

        return generate_trial

    def resolve(self, trial_config: dict[str, Any]):
        from trainables.tune.generate import resolve_generation

        return resolve_generation(trial_config)

    def describe(self, spec: StudySpec) -> str:
        return f"generation from {spec.generation.checkpoint}"

    def rerun_hint(self, spec: StudySpec, config_file: str, study_name: str, number: int) -> str:
        return (f"exact resolved generation config of the trial; run it with: study generate --checkpoint "
                f"{spec.generation.checkpoint} --config {config_file}")
