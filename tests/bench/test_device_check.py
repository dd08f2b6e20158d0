"""bench/device_check.py keeps working between GPU machines: its dry run on CPU (every part, tiny sizes, real
CIFAR-10 JPEGs) prints the table and writes the JSON, and the bundle covers what the run imports."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# bench/ is not a package, and putting it on sys.path would let its modules shadow others for the whole session
_spec = importlib.util.spec_from_file_location("bench_device_bundle", REPO / "bench" / "device_bundle.py")
bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundle)


@pytest.fixture(scope="module")
def dry_run(cifar_zip, tmp_path_factory):
    out = tmp_path_factory.mktemp("device-check")
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "device_check.py"), "--dry-run", "--out", str(out),
                           "--data", str(cifar_zip)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads((out / "device_check.json").read_text())


def test_dry_run_measures_every_part(dry_run):
    stdout, result = dry_run
    parts = result["parts"]
    assert sorted(parts) == ["a", "b", "c"] and not any("error" in p or "skipped" in p for p in parts.values())
    for method in ("rs_fgsm", "pgd10", "trades"):
        row = parts["a"][method]
        for variant in ("platform", "platform_der", "reference"):
            assert row[variant]["images_per_s"] > 0, (method, variant)
        assert row["speedup"] > 0 and row["der_overhead"] > -1
    c = parts["c"]
    assert c["epochs_run"] == c["epochs_planned"] == 2 and c["test_images"] == 20
    assert 0 <= c["pgd20_acc"] <= 1 and 0 <= c["clean_acc"] <= 1
    assert c["published"]["clean_acc"] == 0.8606 and c["published"]["robust_acc"] == 0.4606
    assert not c["published_comparable"]  # 2 epochs are not the published 15
    b = parts["b"]
    assert b["images"] == b["of"] == 20 and b["seconds"] > 0 and 0 <= b["robust_acc"] <= 1


def test_dry_run_prints_one_table_with_a_running_total(dry_run):
    stdout, result = dry_run
    assert "| part | measurement | platform | reference / published | note |" in stdout
    table = [line for line in stdout.splitlines() if line.startswith("| ") and "measurement" not in line]
    assert len(table) == len(result["rows"]) == 3 * 3 + 1 + 1  # a: 3 rows per method; b; c
    assert "speed-up" in stdout and "DER overhead" in stdout and "AutoAttack standard" in stdout
    assert "[" in stdout.splitlines()[0] and " s] " in stdout.splitlines()[0]
    assert result["total_s"] < 180


def test_bundle_holds_every_distribution_the_run_imports_that_the_gpu_machine_lacks(dry_run):
    _, result = dry_run
    have = bundle.DEVICE_HAS | {bundle.normalize(w) for w in bundle.WHEELS}
    missing = {m: d for m, d in result["imports"].items() if not {bundle.normalize(x) for x in d} & have}
    assert "pydantic" in result["imports"] and "torchattacks" in result["imports"]
    assert not missing, f"imported on the GPU run but neither there nor in device_bundle.WHEELS: {missing}"


def test_select_members_takes_the_first_of_each_class_and_the_first_official_test_images(tmp_path):
    names = ["data/train/cat/0000.jpg", "data/train/cat/0001.jpg", "data/train/dog/0000.jpg", "data/README",
             "data/test/cat/0000.jpg", "data/test/dog/0000.jpg", "data/test/dog/0001.jpg", "data/train/cat/.DS_Store"]
    index = tmp_path / "index.csv"
    index.write_text("split,index,label,class,path,git_blob_sha1\ntest,0,5,dog,test/dog/0000.jpg,x\n"
                     "test,1,3,cat,test/cat/0000.jpg,x\ntest,2,5,dog,test/dog/0001.jpg,x\n")
    assert bundle.select_members(names, train_per_class=1, test_first=2, index_csv=index) == [
        "data/train/cat/0000.jpg", "data/train/dog/0000.jpg", "data/test/cat/0000.jpg", "data/test/dog/0000.jpg"]
    assert bundle.select_members(names, test_per_class=1) == [  # train: all of it; README and dot files: never
        "data/train/cat/0000.jpg", "data/train/cat/0001.jpg", "data/train/dog/0000.jpg", "data/test/cat/0000.jpg",
        "data/test/dog/0000.jpg"]
    with pytest.raises(ValueError):
        bundle.select_members(names, test_first=2)


def test_subset_zip_of_the_real_zip_unpacks_as_an_imagefolder(cifar_zip, tmp_path):
    from trainables.data.unpack import unpack_zip

    dest = tmp_path / "small.zip"
    counts = bundle.subset_zip(cifar_zip, dest, train_per_class=2, test_first=5,
                               index_csv=cifar_zip.parent / "index.csv")
    assert counts == {"train": 20, "test": 5}
    with zipfile.ZipFile(dest) as z:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        tests = sorted(n for n in z.namelist() if n.startswith("test/"))
    # the first five official test labels are 3 8 8 0 6 (shared/data/PROVENANCE.md): cat, ship, ship, airplane, frog
    assert tests == ["test/airplane/0000.jpg", "test/cat/0000.jpg", "test/frog/0000.jpg", "test/ship/0000.jpg",
                     "test/ship/0001.jpg"]
    assert unpack_zip(dest, tmp_path / "folder") == {"train": 20, "test": 5}
