"""The science core imports without the study stack: no Ray, no MLflow, no Optuna (issue: foundation)."""
import subprocess
import sys

HEAVY = ("ray", "mlflow", "optuna", "torch_fidelity")


def test_trainables_imports_without_ray_mlflow_optuna():
    code = ("import sys, trainables, trainables.schema.config, trainables.energy.energies, trainables.training.trainer, trainables.training.fit, "
            "trainables.generation; bad = [m for m in %r if m in sys.modules]; print(bad); sys.exit(bool(bad))" % (HEAVY,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
