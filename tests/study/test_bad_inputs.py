"""Bad input → one readable paragraph naming the field or value and the fix, exit code 2, and nothing
created or changed in the workspace. Every case runs the real CLI entry point.

The matrix is grouped by class: non-finite numbers, unsatisfiable resources (each must be refused
within seconds: a 30 s hang guard), files that are not proper YAML mappings of text, data-dependent
mistakes caught by the pre-flight, unknown names ("did you mean …?"), other spec values, stores and
cluster, and other commands. Failed studies and unexpected errors (exit code 1) are in
test_failed_studies.py and cli/test_crash.py; bad input against existing state (a running Ray, a cluster, an existing study, a
damaged catalog, a generation classifier's data) in test_preflight.py.
"""
from __future__ import annotations

import pytest

from badinputs import closed_port, image_folder, make_env, set_
from study.cli.main import main


@pytest.fixture()
def env(mnist_env, tmp_path):
    return make_env(mnist_env, tmp_path)


def spec(*mutations):
    return lambda e: ["run", e["variant"](*mutations)]


def param(path, dist):
    return set_("search/parameters", {path: dist})


def imagefolder(shapes):
    """A spec variant training on a tiny imagefolder (whole splits, one validation image)."""
    def argv(e):
        root = image_folder(e["tmp"] / "folder", shapes)
        data = {"name": "imagefolder", "root": str(root), "val_size": 1}
        return ["run", e["variant"](set_("run/data", data))]
    return argv


def gen_config(text=None, data=None):
    return lambda e: ["generate", "--checkpoint", str(e["tmp"] / "nope.pt"), "--config",
                      e["variant"](text=text, data=data, name="gen.yaml")]


NONFINITE = {
    "epsilon .inf": (spec(set_("run/method/epsilon", float("inf"))), ["run.method.epsilon", ".inf", "finite"]),
    "epsilon .nan": (spec(set_("run/method/epsilon", float("nan"))), ["run.method.epsilon", ".nan", "finite"]),
    "DER weight -.inf": (spec(set_("run/der/weight", float("-inf"))), ["run.der.weight", "-.inf", "finite"]),
    "val_size .inf (an int field)": (spec(set_("run/data/val_size", float("inf"))), ["run.data.val_size", "finite"]),
    "uniform high .inf": (spec(param("der.weight", {"distribution": "uniform", "low": 0, "high": float("inf")})),
                          ["search.parameters.der.weight.high", "finite"]),
    "choice value .nan": (spec(param("der.weight", {"distribution": "choice", "values": [0.5, float("nan")]})),
                          ["der.weight.values", "item [1]", "finite"]),
    "stopping threshold .inf": (spec(set_("stopping/delta_energy/threshold", float("inf"))),
                                ["stopping.delta_energy.threshold", "finite"]),
    "resources.gpu .nan": (spec(set_("resources/gpu", float("nan"))), ["resources.gpu", "finite"]),
    "--num-cpus inf": (lambda e: ["run", e["spec"], "--num-cpus", "inf"], ["--num-cpus", "not a finite number"]),
    "--num-gpus nan": (lambda e: ["run", e["spec"], "--num-gpus", "nan"], ["--num-gpus", "not a finite number"]),
    "train: optim.lr .inf": (lambda e: ["train", e["variant"](set_("optim/lr", float("inf")), doc=e["run"])],
                             ["optim.lr", "finite"]),
}
RESOURCES = {  # refused before Ray starts, from what a local Ray would have; see also the tests below
    "more CPUs than this machine": (spec(set_("resources/cpu", 4096)),
                                    ["asks for 4096 CPU", "this machine", "lower resources.cpu"]),
    "a GPU where Ray gets none": (lambda e: ["run", e["variant"](set_("resources/gpu", 1)), "--num-gpus", "0"],
                                  ["1 GPU", "0 GPU", "resources.gpu"]),
    "more GPUs than this machine": (spec(set_("resources/gpu", 4096)), ["4096 GPU", "resources.gpu"]),
    "a GPU fraction above 1": (spec(set_("resources/gpu", 1.5)), ["resources.gpu = 1.5", "whole GPUs", "1 or 2"]),
    "more CPUs than --num-cpus": (lambda e: ["run", e["variant"](set_("resources/cpu", 3)), "--num-cpus", "2"],
                                  ["3 CPU", "this machine: 2 CPU", "--num-cpus"]),
}
YAML_FILES = {
    "empty spec": (lambda e: ["run", e["variant"](text="")], ["is empty", "must hold a mapping"]),
    "comments only": (lambda e: ["run", e["variant"](text="# nothing yet\n\n")], ["is empty", "quickstart.yaml"]),
    "binary spec": (lambda e: ["run", e["variant"](data=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")],
                    ["binary file", "not YAML text"]),
    "latin-1 spec": (lambda e: ["run", e["variant"](data="name: caf\u00e9\n".encode("latin-1"))],
                     ["not UTF-8", "line 1", "save it as UTF-8"]),
    "duplicate top-level key": (lambda e: ["run", e["variant"](text="name: a\nname: b\n")],
                                ["'name' appears twice", "lines 1 and 2", "keep one"]),
    "duplicate nested key": (lambda e: ["run", e["variant"](text="run:\n  method:\n    epsilon: 8\n    epsilon: 16\n")],
                             ["'epsilon' appears twice", "lines 3 and 4"]),
    "invalid YAML": (lambda e: ["run", e["variant"](text="run: [1, 2\n")], ["not valid YAML", "line"]),
    "spec not a mapping": (lambda e: ["run", e["variant"](text="- 1\n- 2\n")], ["must hold a mapping", "a list"]),
    "spec a bare value": (lambda e: ["run", e["variant"](text="just words\n")], ["must hold a mapping", "str"]),
    "two documents": (lambda e: ["run", e["variant"](text="name: a\n---\nname: b\n")], ["2 YAML documents", "keep one"]),
    "spec is a folder": (lambda e: ["run", str(e["tmp"])], ["is a folder", "YAML file"]),
    "missing spec file": (lambda e: ["run", str(e["tmp"] / "nope.yaml")], ["does not exist"]),
    "train: empty config": (lambda e: ["train", e["variant"](text="")], ["config file", "is empty"]),
    "train: duplicate key": (lambda e: ["train", e["variant"](text="epochs: 1\nseed: 0\nepochs: 2\n")],
                             ["'epochs' appears twice"]),
    "train: binary config": (lambda e: ["train", e["variant"](data=bytes(range(256)))], ["binary file"]),
    "generate: duplicate key": (gen_config(text="n: 10\nn: 20\n"), ["generation config", "'n' appears twice"]),
    "generate: not UTF-8": (gen_config(data=b"n: \xff\xfe\n"), ["generation config", "not UTF-8"]),
}
DATA = {  # the pre-flight against the dataset's facts, before anything is recorded
    "val_size = the train set": (spec(set_("run/data/val_size", 60000)),
                                 ["data.val_size=60000", "60,000 training images", "below 60,000"]),
    "train_subset too large": (spec(set_("run/data/train_subset", 59990)),
                               ["data.train_subset=59990", "59,872", "at most 59,872"]),
    "test_subset too large": (spec(set_("run/data/test_subset", 20000)), ["data.test_subset=20000", "10,000"]),
    "image_size on MNIST": (spec(set_("run/data/image_size", 32)), ["data.image_size=32", "28x28", "unset"]),
    "a searched val_size too large": (spec(param("data.val_size", {"distribution": "choice", "values": [128, 70000]})),
                                      ["search parameter data.val_size = 70000", "leaves no training images"]),
    "a searched train_subset too large": (spec(param("data.train_subset", {"distribution": "int", "low": 64,
                                                                          "high": 60000})),
                                          ["data.train_subset = 60000", "at most 59,872"]),
    "imagefolder of one class": (imagefolder({"cat": (8, 8)}), ["1 class", "at least 2"]),
    "images too small for the model": (imagefolder({"a": (2, 2), "b": (2, 2)}),
                                       ["small_cnn", "3x2x2", "data.image_size to 4"]),
    "images of two sizes": (imagefolder({"a": (8, 8), "b": (12, 10)}), ["share one size", "data.image_size"]),
    "non-square images": (imagefolder({"a": (8, 12), "b": (8, 12)}), ["3x8x12", "data.image_size to 12"]),
    "train: val_size = the train set": (lambda e: ["train", e["variant"](set_("data/val_size", 60000), doc=e["run"])],
                                        ["data.val_size=60000", "below 60,000"]),
    "train: images too small for the model": (
        lambda e: ["train", e["variant"](set_("data", {"name": "imagefolder", "val_size": 1, "root": str(
            image_folder(e["tmp"] / "folder", {"a": (3, 3), "b": (3, 3)}))}), doc=e["run"])],
        ["small_cnn", "3x3x3", "data.image_size to 4"]),
    "missing data offline": (spec(set_("run/data/root", "/nonexistent/empty-data")),
                             ["dataset 'mnist' not found", "STUDY_DATA_DIR"]),
}
NAMES = {  # unknown keys, registry names, paths and metrics: "did you mean …?"
    "key typo": (spec(set_("run/method/epsilom", 8)), ["run.method.epsilom", "unknown key", "did you mean 'epsilon'?"]),
    "section typo": (spec(set_("serach", {})), ["serach", "did you mean 'search'?"]),
    "unknown method": (spec(set_("run/method/name", "fgsn")), ["fgsn", "did you mean 'fgsm'?", "rs_fgsm"]),
    "unknown attack": (spec(set_("run/method/attack", "cw")), ["method.attack", "pgd"]),
    "unknown dataset": (spec(set_("run/data/name", "imagenet21k")), ["imagenet21k", "mnist"]),
    "unknown model": (spec(set_("run/model/name", "preact_resnet")),
                      ["preact_resnet", "did you mean 'preact_resnet18'?"]),
    "unknown search parameter": (spec(param("der.wieght", {"distribution": "uniform", "low": 0, "high": 1})),
                                 ["der.wieght", "not a field", "did you mean 'der.weight'?"]),
    "unknown metric": (spec(set_("search/metric", "val/pgd_ac")), ["unknown metric", "did you mean 'val/pgd_acc'?"]),
    "distribution typo": (spec(param("der.weight", {"distribution": "unifrom", "low": 0, "high": 1})),
                          ["distribution 'unifrom'", "did you mean 'uniform'?"]),
    "mode typo": (spec(set_("search/mode", "maxx")), ["search.mode", "did you mean 'max'?"]),
    "unknown stopping key": (spec(set_("stopping/delta_energy/treshold", 3)), ["treshold", "did you mean 'threshold'?"]),
    "a run config given to study run": (lambda e: ["run", e["variant"](doc=e["run"])],
                                        ["looks like a run config", "study train", "under `run:`"]),
    "train config typo": (lambda e: ["train", e["variant"](text="epochz: 3\n")], ["epochz", "did you mean 'epochs'?"]),
}
VALUES = {
    "zero epsilon": (spec(set_("run/method/epsilon", 0)), ["run.method.epsilon", "greater than 0", "(got 0)"]),
    "negative epsilon": (spec(set_("run/method/epsilon", -8)), ["run.method.epsilon", "(got -8)", "default is 8"]),
    "epochs not a number": (spec(set_("run/epochs", "ten")), ["run.epochs", "whole number", "'ten'"]),
    "low > high": (spec(param("der.weight", {"distribution": "uniform", "low": 2, "high": 1})),
                   ["der.weight", "must be < high"]),
    "empty choice": (spec(param("method.name", {"distribution": "choice", "values": []})), ["at least one value"]),
    "negative gpu": (spec(set_("resources/gpu", -1)), ["resources.gpu", "at least 0"]),
    "bad study name": (lambda e: ["run", e["spec"], "--name", "a b/c"], ["study name", "letters"]),
    "bad study name in the spec": (spec(set_("name", "my study")), ["study name 'my study'", "no spaces"]),
}
PHYSICAL = {  # values outside their physical range that make every trial meaningless (trainables.schema.ranges)
    "L∞ epsilon beyond the pixel range": (spec(set_("run/method/epsilon", 300)),
                                          ["method.epsilon = 300", "L∞ radius of 1.18", "all-grey image",
                                           "below 127.5"]),
    "L∞ epsilon at half the pixel range": (spec(set_("run/method/epsilon", 127.5)),
                                           ["method.epsilon = 127.5", "no model can be robust", "below 127.5"]),
    "evaluation radius beyond": (spec(set_("run/eval/epsilon", 200)), ["eval.epsilon = 200", "all-grey image"]),
    "a searched epsilon beyond": (spec(param("method.epsilon", {"distribution": "uniform", "low": 8, "high": 300})),
                                  ["search parameter 'method.epsilon' with value 300", "below 127.5"]),
    "a step beyond the pixel range": (spec(set_("run/method/alpha", 300)),
                                      ["method.alpha = 300", "larger than the whole pixel range", "other units"]),
    "an evaluation step beyond": (spec(set_("run/eval/pgd_alpha", 400)), ["eval.pgd_alpha = 400", "pixel range"]),
    "L2 radius beyond half the diagonal": (spec(set_("run/method", {"name": "pgd", "norm": "l2", "epsilon": 4000,
                                                                     "steps": 2}), set_("run/eval/epsilon", 4000)),
                                           ["method.epsilon = 4000", "L2 radius of 15.7", "1x28x28",
                                            "below 3570"]),
    "train: epsilon beyond": (lambda e: ["train", e["variant"](set_("method/epsilon", 200), doc=e["run"])],
                              ["method.epsilon = 200", "below 127.5"]),
}
STORES = {
    "storage URL not a URL": (lambda e: ["run", e["spec"], "--optuna-storage", "optuna.db"],
                              ["Optuna storage", "sqlite:///"]),
    "storage driver missing": (lambda e: ["run", e["spec"], "--optuna-storage", "mysql+nodriver://u:pw@h/db"],
                               ["driver", "u:***@"]),
    "unreachable PostgreSQL": (lambda e: ["run", e["spec"], "--optuna-storage",
                               f"postgresql+psycopg://u:hunter2@127.0.0.1:{closed_port()}/optuna"],
                               ["cannot connect", "u:***@"]),
    "bad MLflow URI": (lambda e: ["run", e["spec"], "--mlflow-uri", "ftp://host/x"], ["MLflow", "http://host:port"]),
    "same DB for Optuna and MLflow": (lambda e: ["run", e["spec"], "--optuna-storage", f"sqlite:///{e['tmp']}/x.db",
                                      "--mlflow-uri", f"sqlite:///{e['tmp']}/x.db"], ["cannot share one database"]),
    "unreachable Ray address": (lambda e: ["run", e["spec"], "--ray-address", f"127.0.0.1:{closed_port()}"],
                                ["cannot reach a Ray cluster", "ray start --head"]),
    "malformed Ray address": (lambda e: ["run", e["spec"], "--ray-address", "headnode"], ["not host:port"]),
    "local resources with a cluster": (lambda e: ["run", e["spec"], "--ray-address", "auto", "--num-cpus", "2"],
                                       ["--num-cpus"]),
    "zero samples": (lambda e: ["run", e["spec"], "--num-samples", "0"], ["--num-samples"]),
}
COMMANDS = {
    "resume unknown study": (lambda e: ["resume", "nope", "--workspace", str(e["ws"])], ["no studies in workspace"]),
    "status unknown study": (lambda e: ["status", "nope", "--workspace", str(e["ws"])], ["no studies in workspace"]),
    "train missing config": (lambda e: ["train", str(e["tmp"] / "nope.yaml")], ["does not exist"]),
}
CLASSES = {"non-finite": NONFINITE, "resources": RESOURCES, "yaml": YAML_FILES, "data": DATA, "names": NAMES,
           "values": VALUES, "physical ranges": PHYSICAL, "stores": STORES, "commands": COMMANDS}
# a refused resource request must never hang (the bug was an endless wait for resources)
PARAMS = [pytest.param(cls, name, id=f"{cls}: {name}", marks=[pytest.mark.timeout(30)] if cls == "resources" else [])
          for cls, cases in CLASSES.items() for name in cases]


def test_the_matrix_is_large_and_every_class_has_several_cases():
    assert len(PARAMS) >= 50
    assert all(len(cases) >= 3 for cases in CLASSES.values())


@pytest.mark.parametrize("cls, case", PARAMS)
def test_bad_input_exits_2_with_a_clear_message_and_changes_nothing(cls, case, env, capsys):
    argv_of, needles = CLASSES[cls][case]
    argv = argv_of(env)
    if "--workspace" not in argv:
        argv += ["--workspace", str(env["ws"])]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    flat = " ".join(err.split())
    for needle in needles:
        assert needle in flat, f"{needle!r} not in: {flat}"
    assert "Traceback" not in err
    assert "hunter2" not in err and ":pw@" not in err  # passwords never shown
    assert not env["ws"].exists()  # nothing created
