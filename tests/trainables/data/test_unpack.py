"""unpack_zip: imagefolder layout, idempotence, refusal of unsafe members, clear errors."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from trainables.data.unpack import MARKER, unpack_zip
from trainables.errors import InputError


def make_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


GOOD = {
    "CIFAR-10-images/train/cat/0000.jpg": b"cat0",
    "CIFAR-10-images/train/cat/0001.jpg": b"cat1",
    "CIFAR-10-images/train/dog/0000.jpg": b"dog0",
    "CIFAR-10-images/test/cat/0000.jpg": b"tcat",
    "CIFAR-10-images/test/dog/0000.jpg": b"tdog",
    "CIFAR-10-images/README.md": b"not an image",
    "__MACOSX/CIFAR-10-images/train/cat/._0000.jpg": b"resource fork",
}


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_layout_and_counts(tmp_path, compression):
    z = make_zip(tmp_path / "a.zip", GOOD, compression)
    counts = unpack_zip(z, tmp_path / "out")
    assert counts == {"train": 3, "test": 2}
    assert (tmp_path / "out/train/cat/0001.jpg").read_bytes() == b"cat1"
    assert (tmp_path / "out/test/dog/0000.jpg").read_bytes() == b"tdog"
    assert not (tmp_path / "out/README.md").exists() and not (tmp_path / "out/__MACOSX").exists()
    assert not list((tmp_path / "out").rglob("._*"))


def test_second_call_is_a_no_op(tmp_path):
    z = make_zip(tmp_path / "a.zip", GOOD)
    dest = tmp_path / "out"
    first = unpack_zip(z, dest)
    assert (dest / MARKER).is_file()
    (dest / "train/cat/0000.jpg").unlink()  # a no-op must not even look at the files again
    assert unpack_zip(z, dest) == first
    assert not (dest / "train/cat/0000.jpg").exists()


def test_interrupted_unpack_is_repeated(tmp_path):
    z = make_zip(tmp_path / "a.zip", GOOD)
    dest = tmp_path / "out"
    (dest / "train/cat").mkdir(parents=True)
    (dest / "train/cat/0000.jpg").write_bytes(b"half")  # a crash before the marker
    assert unpack_zip(z, dest) == {"train": 3, "test": 2}
    assert (dest / "train/cat/0000.jpg").read_bytes() == b"cat0"


def test_other_zip_into_same_dest_is_refused(tmp_path):
    dest = tmp_path / "out"
    unpack_zip(make_zip(tmp_path / "a.zip", GOOD), dest)
    other = make_zip(tmp_path / "b.zip", {"train/x/1.png": b"1", "test/x/1.png": b"2"})
    with pytest.raises(InputError, match="empty folder"):
        unpack_zip(other, dest)


@pytest.mark.parametrize("evil", ["../escape.jpg", "train/../../escape.jpg", "/abs/train/cat/x.jpg", "train/cat/..\\..\\x.jpg"])
def test_path_traversal_refused_before_writing(tmp_path, evil):
    z = make_zip(tmp_path / "evil.zip", {"train/cat/0000.jpg": b"ok", "test/cat/0000.jpg": b"ok", evil: b"pwned"})
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(InputError, match="escape"):
        unpack_zip(z, dest)
    assert not dest.exists()  # refused as a whole, nothing written
    assert not list(tmp_path.rglob("escape.jpg")) and not list(tmp_path.rglob("x.jpg"))


def test_symlink_member_refused(tmp_path):
    info = zipfile.ZipInfo("train/cat/link.jpg")
    info.external_attr = (0o120777 << 16)  # S_IFLNK
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as zf:
        zf.writestr(info, "/etc/passwd")
        zf.writestr("test/cat/0.jpg", b"x")
    with pytest.raises(InputError, match="symbolic link"):
        unpack_zip(tmp_path / "l.zip", tmp_path / "out")


def test_missing_and_non_zip_files(tmp_path):
    with pytest.raises(InputError, match="zip file not found"):
        unpack_zip(tmp_path / "nope.zip", tmp_path / "out")
    (tmp_path / "fake.zip").write_text("hello")
    with pytest.raises(InputError, match="not a zip file"):
        unpack_zip(tmp_path / "fake.zip", tmp_path / "out")


def test_zip_without_splits(tmp_path):
    z = make_zip(tmp_path / "a.zip", {"images/cat/0.jpg": b"x"})
    with pytest.raises(InputError, match="train/<class>/"):
        unpack_zip(z, tmp_path / "out")


def test_corrupted_member_detected(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("train/c/0.jpg", b"AAAA" * 10)
        zf.writestr("test/c/0.jpg", b"BBBB")
    data = bytearray(buf.getvalue())
    data[data.index(b"AAAA")] = ord("Z")  # flip stored bytes: the CRC no longer matches
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(InputError, match="CRC"):
        unpack_zip(tmp_path / "bad.zip", tmp_path / "out")


def test_real_cifar_zip(cifar_zip, cifar_folder):
    """The session fixture unpacked the real zip; unpacking again is an instant no-op with the same counts."""
    assert unpack_zip(cifar_zip, cifar_folder) == {"train": 50000, "test": 10000}
    classes = sorted(p.name for p in (cifar_folder / "train").iterdir())
    assert classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert len(list((cifar_folder / "test" / "cat").iterdir())) == 1000
