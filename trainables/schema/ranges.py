"""Values outside their physical range, checked as one class of rules instead of field by field.

ε and α are in 1/255 units on images in [0, 1]. A number can pass its field's own bounds (``gt=0``) and
still mean nothing physically: ``method.epsilon: 300`` is an L∞ radius larger than the pixel range. Each
rule below says what a value means, and whether it is

* **refused** (``refuse=True``): every run with it would be meaningless by construction, so a study of it
  would only burn its budget. The config is rejected by validation (``RunConfig``), which makes the whole
  platform refuse it in one paragraph with exit code 2 and nothing recorded: a spec, each searched value,
  a `study train` config, an exported config;
* **warned about**: legal, and sometimes wanted, but almost certainly not what was meant; `study run` and
  `study train` print it before anything starts (``study.ranges``).

The refusals: an L∞ radius (``method.epsilon``, ``eval.epsilon``) of 127.5 or more: from there every image
can be moved to the same all-grey image (every pixel 0.5), so no classifier can be robust at it beyond
the largest class's share; an L2 radius of at least half the image's diagonal (0.5·√(C·H·W), known from
the data: ``data_findings``), the same all-grey image; an L∞ step (``method.alpha``, ``eval.pgd_alpha``)
larger than the whole pixel range (255), which no attack step can use (projected attacks behave as with
α = 2ε; N-FGSM, which does not project, saturates every pixel): almost surely a value in other units.

The warnings: an L∞ step above 2ε (every step crosses the whole ε-ball, so a projected attack behaves as
with α = 2ε and values above change nothing; N-FGSM trains at a larger radius than ε); a multi-step
attack whose steps together cannot reach the ε-ball's surface (α·steps < ε); a DER weight of 100 or more
(measured on tiny MNIST FGSM runs, 2,000 images, 4 epochs, seeds 0 and 1: at λ = 1000 and 10,000 both runs
were constant classifiers with a NaN ΔE, at 100 one of two, at 10 none, 67-72 % clean accuracy; the
degenerate stop prunes such trials, so a warning, not a refusal: tests/study/test_degenerate.py forces it);
a joint-energy weight of 1 or more (2 of 3 seeds constant classifiers at 1 in bench/README.md's RO
comparison); and, from the data, a probe, masking check, AutoAttack subset or batch larger than the split
it is taken from (each then uses the whole split: one training step per epoch for the batch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from trainables.schema.config import RunConfig
    from trainables.data import DatasetFacts

PIXEL = 255.0  # the pixel range in 1/255 units
GREY = PIXEL / 2  # an L∞ radius reaching the all-0.5 image from every image
DER_DEGENERATE = 100.0
JOINT_DEGENERATE = 1.0
MULTI_STEP = ("pgd", "trades")


@dataclass(frozen=True)
class Finding:
    """One value outside its physical range: the field, whether it is refused, and the sentence (with the fix)."""

    field: str
    refuse: bool
    text: str


def _n(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _linf_radius(field: str, v: float) -> Optional[Finding]:
    if v < GREY:
        return None
    beyond = ", more than the whole pixel range" if v > PIXEL else ""
    return Finding(field, True, (
        f"{field} = {_n(v)} (in 1/255) is an L∞ radius of {v / PIXEL:.2f} on images in [0, 1]{beyond}: from 127.5 on, "
        f"every image can be moved to the same all-grey image, so no model can be robust at it and every trial would "
        f"measure nothing. Fix: a radius below 127.5, in 1/255 units (8 means 8/255, CIFAR-10's usual; 76.5 is "
        f"MNIST's 0.3)"))


def _linf_step(field: str, alpha: float, eps: float, eps_field: str, steps: Optional[int], method: str
               ) -> Optional[Finding]:
    if alpha > PIXEL:
        return Finding(field, True, (
            f"{field} = {_n(alpha)} (in 1/255) is a step larger than the whole pixel range: no attack step can use it "
            f"(a projected attack behaves as with 2 x {eps_field} = {_n(2 * eps)}), so it is most likely a value in "
            f"other units. Fix: a step in 1/255 units, at most 2 x {eps_field} (e.g. {_n(eps / 4)} = ε/4 for PGD, "
            f"{_n(1.25 * eps)} = 1.25ε for RS-FGSM)"))
    if alpha > 2 * eps:
        unprojected = " (N-FGSM, which does not project, trains at a larger radius than ε)" if method == "n_fgsm" else ""
        return Finding(field, False, (
            f"{field} = {_n(alpha)} is more than twice {eps_field} = {_n(eps)}: every step crosses the whole ε-ball, "
            f"so the attack behaves as with a step of {_n(2 * eps)} and larger steps change nothing{unprojected}; "
            f"a search over it explores a flat direction"))
    if steps is not None and alpha * steps < eps:
        return Finding(field, False, (
            f"{field} = {_n(alpha)} x {steps} steps = {_n(alpha * steps)} is less than {eps_field} = {_n(eps)}: the "
            f"attack cannot reach the ε-ball's surface, so it is weaker than its radius says"))
    return None


def config_findings(cfg: "RunConfig") -> list[Finding]:
    """The rules that need only the config (everything but the image size and the split sizes)."""
    out: list[Optional[Finding]] = []
    m, ev = cfg.method, cfg.eval
    if m.norm == "linf":
        out.append(_linf_radius("method.epsilon", m.epsilon))
        if m.alpha is not None:
            steps = m.steps if m.name in MULTI_STEP else None
            out.append(_linf_step("method.alpha", m.alpha, m.epsilon, "method.epsilon", steps, m.name))
    if cfg.eval_norm == "linf":
        if ev.epsilon is not None:
            out.append(_linf_radius("eval.epsilon", ev.epsilon))
        if ev.pgd_alpha is not None:
            out.append(_linf_step("eval.pgd_alpha", ev.pgd_alpha, cfg.eval_epsilon, "the evaluation radius", None, "pgd"))
    if cfg.der.weight >= DER_DEGENERATE:
        out.append(Finding("der.weight", False, (
            f"der.weight = {_n(cfg.der.weight)} is at or above {_n(DER_DEGENERATE)}: on tiny MNIST FGSM runs (4 epochs, "
            f"2 seeds) 1 of 2 became a constant classifier at 100 and both at 1000 and 10000, none at 10, so expect "
            f"the degenerate stop to prune many of these trials; the DER weights studied so far are 0.01-10")))
    if cfg.der.joint_weight >= JOINT_DEGENERATE:
        out.append(Finding("der.joint_weight", False, (
            f"der.joint_weight = {_n(cfg.der.joint_weight)}: at 1, 2 of 3 seeds became constant classifiers in "
            f"bench/README.md's RO comparison; expect degenerate trials")))
    return [f for f in out if f is not None]


def data_findings(cfg: "RunConfig", facts: "DatasetFacts") -> list[Finding]:
    """The rules that need the dataset's facts (image size, split sizes)."""
    out: list[Finding] = []
    c, (h, w) = facts.in_channels, facts.image_shape
    half_diagonal = 0.5 * math.sqrt(c * h * w) * PIXEL
    for field, value, norm in (("method.epsilon", cfg.method.epsilon, cfg.method.norm),
                               ("eval.epsilon", cfg.eval_epsilon, cfg.eval_norm)):
        if norm == "l2" and value >= half_diagonal:
            out.append(Finding(field, True, (
                f"{field} = {_n(value)} (in 1/255) is an L2 radius of {value / PIXEL:.1f} on {facts.name}'s {c}x{h}x{w} "
                f"images in [0, 1], at least half their diagonal ({half_diagonal / PIXEL:.1f}): every image can be moved "
                f"to the same all-grey image, so every trial would measure nothing. Fix: a radius below "
                f"{_n(round(half_diagonal, 1))} (CIFAR-10's usual L2 radius is 0.5, i.e. 127.5)")))
    n_train, n_val, n_test = _split_sizes(cfg, facts)
    ev = cfg.eval
    for field, value, have, split, what in (
            ("eval.probe_size", ev.probe_size, n_train, "training", "the probe uses all of them"),
            ("eval.masking.n", ev.masking.n, n_val, "validation", "the masking check uses all of them"),
            ("eval.autoattack_n", ev.autoattack_n if ev.autoattack and ev.final else 0, n_test, "test",
             "AutoAttack uses all of them"),
            ("batch_size", cfg.batch_size, n_train, "training", "every epoch is one training step")):
        if have and value > have:
            out.append(Finding(field, False, f"{field} = {value} is more than the {have:,} {split} images: {what}"))
    return out


def _split_sizes(cfg: "RunConfig", facts: "DatasetFacts") -> tuple[int, int, int]:
    d = cfg.data
    left = max(0, facts.num_train - d.val_size)
    n_train = min(left, d.train_subset) if d.train_subset else left
    n_test = min(facts.num_test, d.test_subset) if d.test_subset else facts.num_test
    return n_train, d.val_size, n_test


def refuse_text(findings: list[Finding]) -> Optional[str]:
    """The sentence of the first refused finding (None: nothing refused)."""
    return next((f.text for f in findings if f.refuse), None)


def warnings_of(findings: list[Finding]) -> list[str]:
    return [f.text for f in findings if not f.refuse]
