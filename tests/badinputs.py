"""Helpers of the bad-input tests (imported as badinputs; tests/ is on sys.path): a valid tiny spec and
variants of it, workspace snapshots, a closed port, and tiny real image folders."""
from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import yaml

from testlib import set_nested, tiny_spec

# only der.weight is searched: the bad value of each case is the only thing wrong with the spec
SEARCH = {"parameters": {"der.weight": {"distribution": "loguniform", "low": 0.01, "high": 10}}}


def snapshot(ws: Path) -> dict[str, str]:
    """Every path under ``ws`` with its content hash: equal snapshots mean a byte-identical workspace."""
    if not ws.exists():
        return {}
    return {str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(ws.rglob("*"))}


def make_env(data_root: Path, tmp_path: Path) -> dict:
    """A valid spec, a workspace path that does not exist yet, and ``variant`` to write variants of the spec
    (mutations of its mapping, raw text or raw bytes)."""
    spec = tiny_spec(data_root, tmp_path, name="good", epochs=1, num_samples=1, search=SEARCH)
    base = yaml.safe_load(spec.read_text())

    def variant(*mutations, text=None, data=None, name="variant.yaml", doc=None) -> str:
        p = tmp_path / name
        if data is not None:
            p.write_bytes(data)
        elif text is not None:
            p.write_text(text)
        else:
            d = yaml.safe_load(yaml.safe_dump(doc if doc is not None else base))
            for m in mutations:
                m(d)
            p.write_text(yaml.safe_dump(d))
        return str(p)

    return {"spec": str(spec), "ws": tmp_path / "ws", "variant": variant, "tmp": tmp_path, "run": base["run"]}


def set_(path: str, value):
    """A mutation setting the '/'-separated ``path`` of a mapping (dotted search paths stay whole)."""
    def f(doc):
        set_nested(doc, path.split("/"), value)
    return f


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_folder(root: Path, shapes: dict[str, tuple[int, int]], per_class: int = 2, mode: str = "RGB") -> Path:
    """A real imagefolder: ``per_class`` PNGs per class and split, of the given (height, width) per class."""
    from PIL import Image

    for split in ("train", "test"):
        for cls, (h, w) in shapes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                colour = (40 * i % 256, 80, 120) if mode == "RGB" else (40 * i) % 256
                Image.new(mode, (w, h), colour).save(root / split / cls / f"{i}.png")
    return root
