"""The architecture is enforced, not described (docs/architecture.md): the import contracts in pyproject.toml
hold (``lint-imports``), each top-level package stays small, and the stopping rules keep no module-level state."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lint_imports() -> list[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("lint-imports is not installed; `pip install -e '.[test]'` installs import-linter")
    return [exe, "--no-cache"]


def test_the_import_contracts_hold():
    out = subprocess.run(_lint_imports(), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    kept = out.stdout.count(" KEPT")
    assert kept >= 6 and " BROKEN" not in out.stdout, out.stdout[-3000:]


def test_a_broken_contract_is_reported(tmp_path):
    """The check can fail: a contract the code breaks (the science core importing the study layer is forbidden;
    here the reverse, which the code does, is forbidden instead) is reported BROKEN."""
    cfg = tmp_path / "contracts.toml"
    cfg.write_text('[tool.importlinter]\nroot_packages = ["trainables", "study"]\n\n'
                   '[[tool.importlinter.contracts]]\nname = "study does not use the science core"\n'
                   'type = "forbidden"\nsource_modules = ["study.spec"]\nforbidden_modules = ["trainables"]\n')
    out = subprocess.run([*_lint_imports(), "--config", str(cfg)], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode != 0 and "BROKEN" in out.stdout


@pytest.mark.parametrize("package", ["trainables", "study"])
def test_each_package_has_at_most_eight_top_level_modules(package):
    modules = sorted(p.name for p in (REPO / package).glob("*.py"))
    assert len(modules) <= 8, f"{package}/ has {len(modules)} top-level modules: {modules}; put them in sub-packages"


def _module_level_mutables(path: Path) -> list[str]:
    """Names bound at module level to a mutable value (a dict, list or set display or comprehension, or a call
    of dict/list/set/defaultdict): state that outlives a study in a long-lived driver."""
    mutable_calls = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque"}
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            v = node.value
            mutable = isinstance(v, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)) or (
                isinstance(v, ast.Call) and getattr(v.func, "id", getattr(v.func, "attr", None)) in mutable_calls)
            if mutable:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found += [f"{path.name}:{node.lineno} {ast.unparse(t)}" for t in targets]
    return found


def test_the_stopping_rules_keep_no_module_level_state():
    found = [m for p in sorted((REPO / "study" / "stopping").glob("*.py")) for m in _module_level_mutables(p)]
    assert found == [], f"module-level mutable state in study/stopping/: {found}"


def test_the_mutable_state_check_sees_a_module_level_dict(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("LEDGER: dict[str, dict] = {}\nNAMES = ('a', 'b')\nSEEN = set()\n")
    assert _module_level_mutables(p) == ["m.py:1 LEDGER", "m.py:3 SEEN"]
