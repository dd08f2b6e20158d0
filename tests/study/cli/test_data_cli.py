"""``study data unpack`` and ``study data info`` through ``study.cli.main.main``."""
from __future__ import annotations

import zipfile

from study.cli.main import main


def text(capsys) -> tuple[str, str]:
    out, err = capsys.readouterr()
    return " ".join(out.split()), " ".join(err.split())  # rich wraps long lines


def test_unpack_missing_zip_is_exit_2(tmp_path, capsys):
    rc = main(["data", "unpack", str(tmp_path / "nope.zip"), str(tmp_path / "out")])
    out, err = text(capsys)
    assert rc == 2
    assert "error:" in err and "zip file not found" in err and "nope.zip" in err
    assert "Traceback" not in out + err


def test_unpack_prints_counts(tmp_path, capsys):
    z = tmp_path / "imgs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name in ("train/a/0.jpg", "train/a/1.jpg", "train/b/0.jpg", "test/a/0.jpg"):
            zf.writestr(name, b"x")
    assert main(["data", "unpack", str(z), str(tmp_path / "out")]) == 0
    out, _ = text(capsys)
    assert "train │ 3" in out and "test │ 1" in out and "imagefolder" in out
    assert (tmp_path / "out" / "train" / "b" / "0.jpg").is_file()
    assert main(["data", "unpack", str(z), str(tmp_path / "out")]) == 0  # idempotent


def test_unpack_refuses_traversal(tmp_path, capsys):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("train/a/0.jpg", b"x")
        zf.writestr("../../evil.jpg", b"x")
    assert main(["data", "unpack", str(z), str(tmp_path / "out")]) == 2
    assert "escape" in text(capsys)[1]


def test_info_found_and_missing(data_root, tmp_path, capsys):
    assert main(["data", "info", "--name", "mnist", "--root", str(data_root)]) == 0
    out, _ = text(capsys)
    assert "mnist" in out and str(data_root) in out and "searched" in out

    empty = tmp_path / "empty"
    assert main(["data", "info", "--name", "cifar10", "--root", str(empty)]) == 1
    out, _ = text(capsys)
    assert "not found" in out and str(empty) in out and "cifar-10-batches-py" in out


def test_info_lists_every_dataset(data_root, capsys):
    assert main(["data", "info", "--root", str(data_root)]) == 0
    out, _ = text(capsys)
    for name in ("cifar10", "cifar100", "svhn", "mnist", "fashion_mnist", "imagefolder"):
        assert name in out


def test_info_unknown_dataset_is_exit_2(capsys):
    assert main(["data", "info", "--name", "imagenet"]) == 2
    assert "unknown dataset 'imagenet'" in text(capsys)[1]
