"""The science core imports and trains with Ray, Optuna and MLflow absent (issue 30: a bare GPU machine has none).

A fresh interpreter refuses every import of the three (a ``sys.meta_path`` finder that raises ImportError,
as on a machine without them), then trains the tiny MNIST run for two epochs, saves it and evaluates it.
"""
import json
import subprocess
import sys
from pathlib import Path

from testlib import tiny_run

BLOCKED = ("ray", "optuna", "mlflow")
SCRIPT = r"""
import json, sys

BLOCKED = %r


class Absent:
    '''Finds nothing for the blocked packages: their import fails as if they were not installed.'''

    tried = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            self.tried.append(name)
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None


sys.meta_path.insert(0, Absent())
from trainables.schema.config import RunConfig
from trainables.training.trainer import Trainer

cfg = RunConfig.model_validate(json.loads(sys.argv[1]))
trainer = Trainer(cfg)
records = [trainer.train_epoch() for _ in range(cfg.epochs)]
trainer.save(sys.argv[2])
final = trainer.final_eval()
print(json.dumps({"epochs": [r.epoch for r in records], "steps": records[-1].step,
                  "loss": records[-1].metrics["loss/total"], "final": final, "tried": Absent.tried,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
""" % (BLOCKED,)


def test_trainables_trains_with_ray_optuna_and_mlflow_blocked(data_root, tmp_path):
    cfg = tiny_run(data_root, epochs=2, method__name="rs_fgsm", der__weight=0.5)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(cfg), str(tmp_path / "run")], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["epochs"] == [1, 2] and out["steps"] == 2 * 512 // 64
    assert out["loss"] == out["loss"]  # finite, not NaN
    assert "test/last/clean_acc" in out["final"] and (tmp_path / "run" / "state.pt").is_file()
    assert out["tried"] == [] and out["loaded"] == [], out  # the science core never even asked for them
