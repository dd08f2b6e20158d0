"""Issue 13, items 2, 6 and 7: the evaluation radius, the eval-mode ΔE on the probe batch, and fp32
evaluation, each compared with a reference computed independently in the test.

Tolerances: exact for accuracies (same seed, same random starts, same images, so the same adversarial
points); 1e-5 (absolute, energy units) for ΔE statistics, which are float32 reductions computed in a
different order.
"""
from __future__ import annotations

import torch

from references import pgd_accuracy, pgd_delta
from testlib import tiny_run
from trainables.schema import records as R
from trainables.schema.config import RunConfig
from trainables.training.trainer import Trainer


def _trainer(data_root, **over) -> Trainer:
    cfg = RunConfig.model_validate(tiny_run(data_root, threads=1, deterministic=True, **over))
    t = Trainer(cfg)
    t.train_epoch()
    return t


def test_validation_and_test_attacks_run_at_the_evaluation_radius(data_root):
    """Trained at ε = 76.5/255, evaluated at 25.5/255: the readings equal a reference PGD at 25.5/255."""
    t = _trainer(data_root, method__epsilon=76.5, eval__epsilon=25.5, eval__val_pgd_steps=5,
                 eval__test_pgd=[[5, 1]], data__val_size=128)
    model = t.model.eval()
    x = torch.cat([b[0] for b in t.data.val_batches(128)])
    y = torch.cat([b[1] for b in t.data.val_batches(128)])
    from trainables.evaluation.evaluate import robust_accuracy

    torch.manual_seed(7)
    ours = robust_accuracy(model, [(x, y)], t.validator.val_attack)["adv_acc"]
    torch.manual_seed(7)
    ref = pgd_accuracy(model, x, y, 0.1, 0.03, 5, 1)  # step max(ε/4, 1.5ε/5) = 0.3ε (trainables/evaluation/defaults.py)
    assert ours == ref
    assert t.validator.probe_attack.eps == t.validator.val_attack.eps == 0.1
    assert t.cfg.resolved().eval.epsilon == 25.5 and t.cfg.resolved().method.epsilon == 76.5


def test_probe_trace_is_eval_mode_delta_energy_on_the_probe_batch(data_root):
    t = _trainer(data_root, data__val_size=0, eval__probe_size=64, eval__probe_pgd_steps=3)
    torch.manual_seed(11)
    out = t._validate()
    x, y = t.data.probe_batch(64)
    model = t.model.eval()
    torch.manual_seed(11)
    delta = pgd_delta(model, x, y, 51 / 255, 0.5 * 51 / 255, 3, 1)  # step max(ε/4, 1.5ε/3)
    with torch.no_grad():
        d = -torch.logsumexp(model(x), 1) + torch.logsumexp(model(x + delta), 1)  # E(x) − E(x*)
    assert abs(out[R.energy_key("probe", "delta_mean")] - d.mean().item()) < 1e-5
    assert abs(out[R.energy_key("probe", "delta_p50")] - d.quantile(0.5).item()) < 1e-5
    assert abs(out[R.energy_key("probe", "frac_adv_lower")] - (d > 0).float().mean().item()) < 1e-6
    assert out[R.PROBE_PGD_ACC] == (model(x + delta).argmax(1) == y).float().mean().item()


def _dtypes_seen(model):
    seen = []
    hook = model.net[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen, hook


def test_evaluation_runs_in_fp32_when_training_runs_in_bf16(data_root):
    t = _trainer(data_root, precision="bf16", eval__val_pgd_steps=2, data__val_size=64)
    assert t.rt.bf16
    seen, hook = _dtypes_seen(t.model)
    try:
        t._validate()
    finally:
        hook.remove()
    assert seen and set(seen) == {torch.float32}
    x = torch.cat([b[0] for b in t.data.val_batches(64)])
    y = torch.cat([b[1] for b in t.data.val_batches(64)])
    from trainables.evaluation.evaluate import robust_accuracy

    clean_ref = (t.model.eval()(x).argmax(1) == y).float().mean().item()
    assert robust_accuracy(t.model, [(x, y)], None, t.eval_autocast)["clean_acc"] == clean_ref


def test_evaluation_can_follow_the_training_precision_when_asked(data_root):
    t = _trainer(data_root, precision="bf16", eval__precision="as_training", eval__val_pgd_steps=2,
                 data__val_size=64)
    seen, hook = _dtypes_seen(t.model)
    try:
        t._validate()
    finally:
        hook.remove()
    assert torch.bfloat16 in seen
