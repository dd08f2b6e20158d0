"""Typed configuration of one training run.

Defaults are the published recipes of ``method.md``: CIFAR-10, PreActResNet-18, PGD-10 AT at
ε = 8/255 with the robust-overfitting schedule (200 epochs, piecewise 0.1 → 0.01 → 0.001).
ε and α are given in 1/255 units (``epsilon: 8`` means 8/255) and logged exactly as given.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from trainables.schema.generation import GenerationConfig
from trainables.schema.overrides import with_overrides  # noqa: F401  (re-exported: configs take dotted overrides)
from trainables.schema.registry import check_name, registry
from trainables.schema.strict import Strict as _Strict


class DataConfig(_Strict):
    """Which dataset, where it lives, and how it is split and subset."""

    name: str = "cifar10"
    root: Optional[str] = Field(
        None, description="Data dir; else $STUDY_DATA_DIR; else the user cache dir. "
        "For imagefolder: the folder holding train/ and test/."
    )
    download: bool = True
    val_size: int = Field(1000, ge=0, description="Held-out validation images taken from train.")
    split_seed: int = 0
    train_subset: Optional[int] = Field(None, gt=0, description="Use only this many training images.")
    test_subset: Optional[int] = Field(None, gt=0, description="Use only this many test images.")
    image_size: Optional[int] = Field(
        None, gt=0, description="imagefolder only: resize every image to image_size x image_size; "
        "None: images must already share one size."
    )
    augment: Optional[bool] = Field(None, description="Pad-4 crop + flip; None: on for 32x32 colour data.")
    loader: Literal["torch", "device"] = Field(
        "torch", description="torch: CPU DataLoader; device: uint8 dataset on the device, augmented there."
    )
    num_workers: int = Field(0, ge=0)

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        return check_name("dataset", v)


class ModelConfig(_Strict):
    name: str = "preact_resnet18"
    width: Optional[int] = Field(None, gt=0, description="Base width for the small CNN.")
    batchnorm: Optional[bool] = Field(
        None, description="small_cnn only: BatchNorm after each convolution (None: on). Off, width 16 on MNIST is "
        "fast_adversarial's mnist_net exactly.")
    normalize: bool = Field(True, description="Standardise inputs by the dataset's mean/std inside the model; "
                            "fast_adversarial's MNIST net takes raw [0, 1] pixels (false).")

    @field_validator("name")
    @classmethod
    def _known_model(cls, v: str) -> str:
        return check_name("model", v)

    @model_validator(mode="after")
    def _options_fit_the_model(self) -> "ModelConfig":
        for opt in ("width", "batchnorm"):
            if getattr(self, opt) is not None and opt not in model_options(self.name):
                raise ValueError(f"model.{opt} does not apply to model {self.name!r} (only to "
                                 f"{', '.join(n for n in _models_with(opt))})")
        return self


def model_options(name: str) -> set[str]:
    """The optional keyword arguments (``width``, ``batchnorm``) the registered model ``name`` accepts."""
    import inspect

    return set(inspect.signature(registry("model").get(name)).parameters) - {"num_classes", "in_channels", "image_size"}


def _models_with(option: str) -> list[str]:
    return [n for n in registry("model").names() if option in model_options(n)]


class MethodConfig(_Strict):
    """The adversarial-training method and the attack it trains against."""

    name: str = "pgd"
    attack: Optional[str] = Field(None, description="Training attack; None: the method's own (method.md §3).")
    norm: Literal["linf", "l2"] = "linf"
    epsilon: float = Field(8.0, gt=0, description="Attack radius in 1/255 units (8 means 8/255).")
    alpha: Optional[float] = Field(
        None, gt=0, description="Step size in 1/255 units; None: the method's default from method.md §3."
    )
    steps: int = Field(10, ge=1, description="Attack steps for multi-step methods (PGD-AT, TRADES).")
    noise_k: float = Field(2.0, gt=0, description="N-FGSM noise magnitude k (start in U(-kε, kε)).")
    clip_start: bool = Field(True, description="RS-FGSM: clip the random start to [0, 1] before its gradient "
                             "(fast_adversarial's CIFAR-10 script does; its MNIST script does not).")
    trades_beta: float = Field(6.0, ge=0)
    gradalign_lambda: float = Field(0.2, ge=0)
    attack_bn_mode: Optional[Literal["eval", "train"]] = Field(
        None, description="BatchNorm mode while generating the training attack (it changes ΔE); None: the "
        "method's reference code's mode (docs/method.md §3: train for FGSM/RS-FGSM/N-FGSM/PGD-AT/GradAlign, "
        "eval for TRADES)."
    )

    @field_validator("name")
    @classmethod
    def _known_method(cls, v: str) -> str:
        return check_name("method", v)

    @field_validator("attack")
    @classmethod
    def _known_attack(cls, v: Optional[str]) -> Optional[str]:
        return v if v is None else check_name("attack", v)


class DERConfig(_Strict):
    """Delta Energy Regularizer, method.md §5. weight = 0 disables it."""

    weight: float = Field(0.0, ge=0, description="λ, the DER weight.")
    rho: Literal["square", "abs"] = "square"
    joint_weight: float = Field(0.0, ge=0, description="λ_joint for the joint-energy term.")
    energy_weights: bool = Field(False, description="w_i = 1/softplus(|E(x_i)|), detached.")
    natural_at: Literal["clean", "random_start"] = "clean"

    @property
    def enabled(self) -> bool:
        return self.weight > 0 or self.joint_weight > 0


class OptimConfig(_Strict):
    """The optimizer (``trainables.training.optimizers``: sgd, adam, adamw); a field left None takes the optimizer's
    reference default (sgd: robust_overfitting's lr 0.1, momentum 0.9, weight decay 5e-4; adam:
    fast_adversarial MNIST's lr 5e-3, no weight decay; adamw: torch's)."""

    name: str = "sgd"
    lr: Optional[float] = Field(None, gt=0, description="Peak learning rate; None: the optimizer's default.")
    momentum: Optional[float] = Field(None, ge=0, lt=1, description="SGD only; None: 0.9.")
    weight_decay: Optional[float] = Field(None, ge=0, description="None: the optimizer's default.")
    nesterov: bool = False
    betas: Optional[tuple[float, float]] = Field(None, description="Adam/AdamW only; None: (0.9, 0.999).")

    @field_validator("name")
    @classmethod
    def _known_optimizer(cls, v: str) -> str:
        return check_name("optimizer", v)

    @model_validator(mode="after")
    def _fields_fit_the_optimizer(self) -> "OptimConfig":
        used = registry("optimizer").get(self.name).fields
        for k in ("momentum", "betas"):
            if getattr(self, k) is not None and k not in used:
                raise ValueError(f"optim.{k} does not apply to optimizer {self.name!r} (it uses {', '.join(used)})")
        if self.nesterov and "nesterov" not in used:
            raise ValueError(f"optim.nesterov does not apply to optimizer {self.name!r}")
        return self

    def with_defaults(self) -> "OptimConfig":
        """This config with every ``None`` field set to its optimizer's default (the reference recipe's)."""
        opt = registry("optimizer").get(self.name)
        return self.model_copy(update={k: v for k, v in opt.defaults.items() if getattr(self, k) is None})


class ScheduleConfig(_Strict):
    name: Literal["piecewise", "cyclic", "cosine", "constant"] = "piecewise"
    milestones: list[float] = Field(
        default_factory=lambda: [0.5, 0.75],
        description="piecewise: fractions of training where lr is multiplied by gamma.",
    )
    gamma: float = Field(0.1, gt=0)
    milestone_drop: Literal["epoch_start", "reached"] = Field(
        "epoch_start", description="piecewise: which step first runs at the lower rate. epoch_start: the first step of "
        "the milestone epoch (milestones rounded to whole epochs; TRADES's per-epoch adjust_learning_rate); reached: "
        "the step whose progress epoch + (i + 1)/steps reaches the milestone, i.e. the last step of the epoch "
        "before it (robust_overfitting's lr_schedule, t / epochs < m; issue 27).")
    warmup_fraction: float = Field(0.4, gt=0, lt=1, description="cyclic: where the triangle peaks.")

    @field_validator("milestones")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < m < 1 for m in v) or v != sorted(v):
            raise ValueError("milestones must be increasing fractions of training in (0, 1), e.g. [0.5, 0.75]")
        return v


class MaskingCheck(_Strict):
    """A per-epoch check that the validation reading is not fooled by gradient masking (issues 14, 26).

    On the first ``n`` validation images, the ones the validation PGD left robust are attacked again by
    APGD-CE (``apgd_steps`` iterations, fra31's settings), optionally APGD-DLR (``apgd_dlr``), targeted APGD towards
    the ``apgd_targets`` most likely other classes, and then, on the survivors, by the gradient-free Square attack
    (``square_queries`` queries), at the same radius: a gradient-based check alone cannot see masking that zeroes or
    shatters gradients. ``val/masking_gap`` = the share of those images only the check broke, ``val/robust_acc`` =
    ``val/pgd_acc`` − ``val/masking_gap``: what model selection and (via ``best/val_robust_acc``) the default search
    objective read. An epoch is flagged (``val/masked`` = 1) by the ``flag`` rule; the flag marks the trial when
    that epoch is selected (``best/masked``), it does not veto the epoch (issue 25, docs/method.md "Which
    checkpoint").

    The defaults (APGD-CE, APGD-T top 3, Square 1,000; the binomial flag) were chosen by bench/masking_panel.py on
    a held-out panel of 27 checkpoints with AutoAttack standard on 1,000 test images as the truth (bench/README.md,
    "Does the check see what AutoAttack sees?"): the checked reading within 3 points of AutoAttack on validation for
    26 of 27 (the check before issue 26, APGD-CE + Square 300: 9 of 27), 12 of 13 masked checkpoints flagged, 2 of
    14 others; on one thread 3.1 s per check on 128 images against 0.9 s before.
    """

    n: int = Field(128, ge=0, description="Validation images checked per epoch (0: off).")
    apgd_steps: int = Field(100, ge=1, description="APGD iterations, per target for APGD-T (fra31's standard: 100).")
    apgd_dlr: bool = Field(False, description="Also APGD-DLR (``apgd_steps`` iterations) on APGD-CE's survivors, "
                           "before APGD-T and Square. With APGD-T top 3 it adds cost and, on bench/masking_panel.py's "
                           "held-out panel, no reading nearer AutoAttack.")
    apgd_targets: int = Field(3, ge=0, description="Targeted APGD (AutoAttack's APGD-T: the DLR-targeted loss, "
                              "``apgd_steps`` iterations per target) towards this many of the most likely other "
                              "classes, on the survivors, before Square (AutoAttack standard: 9; 0: none). 3: as near "
                              "AutoAttack as 9 on the panel at about half the cost.")
    square_queries: int = Field(1000, ge=0, description="Square attack queries on APGD's survivors (0: none).")
    threshold: float = Field(0.05, gt=0, le=1, description="Gap (fraction of the validation images) above which "
                             "an epoch is flagged as masked.")
    flag: Literal["gap", "gap_bound"] = Field(
        "gap_bound", description="Flag rule (trainables/evaluation/masking_flag.py): gap_bound: the gap's one-sided "
        "95 % lower bound (binomial, on the checked images) exceeds threshold, so a gap a few images make is not "
        "flagged; gap: the estimated gap itself does (flags every epoch whose PGD reading the check lowered by more "
        "than threshold, including a weak validation PGD's overestimate).")


class EvalConfig(_Strict):
    """Per-epoch validation, CO probe, and the final test evaluation (method.md §7).

    Every validation, probe and test attack runs at ``epsilon``/``norm`` (default: the training
    attack's), in fp32 unless ``precision`` says otherwise, with the model in eval mode.
    """

    epsilon: Optional[float] = Field(
        None, gt=0, description="Radius of every validation, probe and test attack in 1/255 units; None: "
        "method.epsilon. Fix it when a study searches method.epsilon, so trials are compared at one radius."
    )
    norm: Optional[Literal["linf", "l2"]] = Field(None, description="Norm of the evaluation attacks; None: method.norm.")
    precision: Literal["fp32", "as_training"] = Field(
        "fp32", description="fp32: evaluate in full precision on every device (as every reference does); "
        "as_training: under the training autocast (bf16 on CUDA with precision auto)."
    )
    energy_trace: bool = Field(True, description="Trace ΔE of the training attack every epoch.")
    trace_every: int = Field(1, ge=1, description="Trace every k-th training batch (1: all).")
    report_every: Optional[int] = Field(
        None, ge=1, description="Also report after every k-th training step of an epoch: the window's ΔE "
        "statistics, training accuracy and loss and a CO probe reading, as window/... metrics, so a stopping rule "
        "can stop a trial mid-epoch (trainables/training/window.py); None: once per epoch.")
    val_pgd_steps: int = Field(10, ge=1, description="Steps of the per-epoch validation PGD (robust_overfitting's).")
    val_restarts: int = Field(1, ge=1)
    pgd_alpha: Optional[float] = Field(
        None, gt=0, description="Step of every evaluation PGD in 1/255 units; None: trainables/evaluation/defaults.py (test: "
        "the dataset's reference step, MNIST-like 0.01, others ε/4; validation, probe, masking check: ε/4; never "
        "below 1.5·ε/steps).")
    masking: MaskingCheck = Field(default_factory=MaskingCheck)
    probe_size: int = Field(256, ge=1, description="Fixed training batch for the CO probe.")
    probe_pgd_steps: int = Field(10, ge=1)
    final: bool = True
    test_pgd: list[tuple[int, int]] = Field(
        default_factory=lambda: [(20, 1), (50, 10)], description="(steps, restarts) pairs for the test set."
    )
    autoattack: bool = True
    autoattack_version: Literal["standard", "apgd"] = Field(
        "standard", description="standard: fra31's AutoAttack (APGD-CE, APGD-T and FAB-T at 100 iterations with 9 "
        "target classes, Square with 5,000 queries), metric autoattack_acc; apgd: only APGD-CE + APGD-T (100 "
        "iterations), cheaper, metric apgd_ce_t_acc."
    )
    autoattack_n: int = Field(1000, ge=1, description="Test images for AutoAttack (RobustBench uses 1,000).")
    batch_size: int = Field(256, ge=1)


class Reference(_Strict):
    """A published result a run config claims to reproduce (recipes in search_spaces/recipes/): where it
    comes from and the figures, keyed by the metric names this platform reports (fractions, not percent)."""

    source: str = Field(..., description="Paper / repository / file the recipe and its figures come from.")
    figures: dict[str, float] = Field(default_factory=dict, description="e.g. test/last/pgd50x10_acc: 0.4606")
    note: str = ""


class RunConfig(_Strict):
    """One training run: everything needed to reproduce it."""

    name: str = "run"
    reference: Optional[Reference] = Field(None, description="The published result this run reproduces, if any.")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    method: MethodConfig = Field(default_factory=MethodConfig)
    der: DERConfig = Field(default_factory=DERConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(128, ge=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 autocast on CUDA.")
    channels_last: Optional[bool] = Field(None, description="None: on for CUDA.")
    compile: bool = False
    deterministic: bool = False
    threads: Optional[int] = Field(None, ge=1, description="torch CPU threads; None: torch's default.")
    generate: Optional[GenerationConfig] = Field(
        None, description="Generate from the selected (best) model after training; None: no generation."
    )

    @model_validator(mode="after")
    def _consistent(self) -> "RunConfig":
        if self.method.norm == "l2" and (self.method.attack or self.method.name) != "pgd":
            raise ValueError(f"method.norm 'l2' is only supported by the pgd attack, not {self.method.name!r}")
        return self

    @model_validator(mode="after")
    def _physical(self) -> "RunConfig":
        """Values outside their physical range that make every run meaningless are refused here, as one class
        (``trainables.schema.ranges``; its warnings are printed by the commands)."""
        from trainables.schema.ranges import config_findings, refuse_text

        refused = refuse_text(config_findings(self))
        if refused:
            raise ValueError(refused)
        return self

    @property
    def eval_epsilon(self) -> float:
        """The evaluation radius in 1/255 units: ``eval.epsilon``, else the training ``method.epsilon``."""
        return self.eval.epsilon if self.eval.epsilon is not None else self.method.epsilon

    @property
    def eval_norm(self) -> str:
        """The evaluation norm: ``eval.norm``, else ``method.norm``."""
        return self.eval.norm or self.method.norm

    def resolved(self) -> "RunConfig":  # noqa: D401
        """A copy with every "None means the default" choice that depends on other fields filled in
        (evaluation radius and norm, the training attack's BatchNorm mode, the optimizer's defaults): what
        is used and what is logged as parameters (evaluation PGD steps: trainables/evaluation/defaults.py)."""
        out = self.model_copy(deep=True)
        out.eval.epsilon, out.eval.norm = self.eval_epsilon, self.eval_norm
        out.optim = self.optim.with_defaults()
        if out.method.attack_bn_mode is None:
            out.method.attack_bn_mode = registry("method").get(self.method.name).attack_bn
        return out
