"""The traces behind a figure, kept in the repository: one gzip JSON per corpus under bench/results/.

A corpus runner writes one JSON file per run under bench/out/ (git-ignored, lost with the machine); ``pack``
gathers a folder of them into ``bench/results/NAME.json.gz`` with the command and commit that produced them,
dropping what no figure reads (checkpoint paths, workdirs), so that a clone can re-print every table without
training. ``load`` reads either form, so a bench script accepts a fresh run folder or the committed file.

    python bench/traces.py pack bench/out/answer_corpus bench/results/answer_corpus.json.gz
    python bench/traces.py info bench/results/answer_corpus.json.gz
"""
from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Iterable

REPO = Path(__file__).resolve().parents[1]
DROP = ("path", "workdir")  # per-run keys that name files on the machine that ran them


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def load(source: str | Path) -> list[dict]:
    """Every run of a corpus: a folder of per-run JSON files (index.json skipped) or a packed ``.json.gz``."""
    p = Path(source)
    if p.is_dir():
        return [json.loads(f.read_text()) for f in sorted(p.glob("*.json")) if f.name != "index.json"]
    with gzip.open(p, "rt") as f:
        return json.load(f)["runs"]


def header(source: str | Path) -> dict:
    """The packed file's command, commit and notes (empty for a folder)."""
    p = Path(source)
    if p.is_dir():
        return {}
    with gzip.open(p, "rt") as f:
        return {k: v for k, v in json.load(f).items() if k != "runs"}


def pack(runs: Iterable[dict], out: str | Path, command: str, **notes) -> Path:
    """Write ``runs`` (records included, file paths dropped) with the producing command and this commit."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    body = {"command": command, "commit": commit(), **notes,
            "runs": [{k: v for k, v in r.items() if k not in DROP} for r in runs]}
    tmp = out.with_suffix(".part")
    with gzip.open(tmp, "wt", compresslevel=9) as f:
        json.dump(body, f, separators=(",", ":"))
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="a folder of run files -> one .json.gz")
    p.add_argument("folder")
    p.add_argument("out")
    p.add_argument("--command", default=None, help="the command that made the runs (default: the folder's index.json)")
    i = sub.add_parser("info", help="what a packed file holds")
    i.add_argument("file")
    args = ap.parse_args(argv)
    if args.cmd == "pack":
        index = Path(args.folder) / "index.json"
        command = args.command or (json.loads(index.read_text())["command"] if index.exists() else "unknown")
        runs = load(args.folder)
        out = pack(runs, args.out, command)
        print(f"{len(runs)} runs -> {out} ({out.stat().st_size / 1e6:.2f} MB)")
    else:
        h, runs = header(args.file), load(args.file)
        print(json.dumps({**h, "runs": len(runs)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
