"""Re-print bench/README.md's tables from the traces committed under bench/results/, with no training, and check them.

Every table of bench/README.md that comes from committed traces sits between ``<!-- replay: NAME -->`` and
``<!-- /replay -->``; ``TABLES`` says how NAME is computed from which file. This prints each table as computed
now and compares it with the README's block, character for character: exit 1 when one differs (its diff is
printed), when a block names no known table, or when a known table has no block. ``--write`` puts the computed
tables into the README (after a deliberate change: review the diff). Tables whose traces were lost with an
earlier machine are not marked, and the README says so next to them.

    python bench/replay.py              # check every marked table (tests/bench/test_replay.py runs this)
    python bench/replay.py --only search_replay_n9 --print
    python bench/replay.py --write      # update the README's blocks from the traces
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
README = REPO / "bench" / "README.md"
RESULTS = REPO / "bench" / "results"
BLOCK = re.compile(r"<!-- replay: (?P<name>[\w.-]+) -->\n(?P<body>.*?)\n?<!-- /replay -->", re.S)


def _corpus(file: str) -> Callable[[], str]:
    def table() -> str:
        from bench.co_corpus import markdown_table, summarize
        from bench.traces import load

        return markdown_table(summarize(load(RESULTS / file), by_name=True))
    return table


def _corpus_by_der(file: str) -> Callable[[], str]:
    def table() -> str:
        from bench.co_corpus import der_markdown, summarize
        from bench.traces import load

        return der_markdown(summarize(load(RESULTS / file), by_name=True))
    return table


def _released(file: str) -> Callable[[], str]:
    def table() -> str:
        import json

        from bench.recipes import released_markdown

        return released_markdown(json.loads((RESULTS / file).read_text()))
    return table


def _ro(file: str, match_cell: str = "DER 10") -> Callable[[], str]:
    def table() -> str:
        sys.path.insert(0, str(REPO / "bench"))  # ro_study imports its siblings by name
        from bench.ro_study import read_saved
        from bench.ro_reviewer import headline_markdown

        saved = read_saved(RESULTS / file)
        return (f"{len(saved['runs'])} runs finished.\n\n"
                + headline_markdown(saved["runs"], saved.get("finals", []), match_cell))
    return table


def _bn_modes(file: str) -> Callable[[], str]:
    def table() -> str:
        from bench.co_corpus import bn_mode_markdown
        from bench.traces import load

        return bn_mode_markdown(load(RESULTS / file))
    return table


def _search(file: str, num_samples: int, seeds: int = 1, reps: int = 20) -> Callable[[], str]:
    def table() -> str:
        from bench.search_replay import POLICIES, Table, markdown, replay_rows

        t = Table.load(str(RESULTS / file), windows=False)
        return t.describe() + "\n\n" + markdown(replay_rows(t, ["random", "tpe", "grid"], list(POLICIES), num_samples,
                                                             seeds, reps))
    return table


def _judge(file: str, epochs_only: bool, judge_on: str | None = None) -> Callable[[], str]:
    def table() -> str:
        from bench.co_judge import judgement, markdown

        return markdown(judgement([str(RESULTS / file)], split="settings", folds=3, epochs_only=epochs_only,
                                  judge_on=[str(RESULTS / judge_on)] if judge_on else None))
    return table


def _degenerate(file: str) -> Callable[[], str]:
    def table() -> str:
        from bench.co_judge import degenerate_markdown

        return degenerate_markdown([str(RESULTS / file)])
    return table


def _kept(file: str) -> Callable[[], str]:
    def table() -> str:
        from bench.co_judge import kept_markdown

        return kept_markdown([str(RESULTS / file)])
    return table


def _recipe(file: str) -> Callable[[], str]:
    def table() -> str:
        from bench.recipe_compare import markdown_from_results

        return markdown_from_results(RESULTS / file)
    return table


def _soak(file: str) -> Callable[[], str]:
    def table() -> str:
        import json

        from bench.soak import markdown

        return markdown(json.loads((RESULTS / file).read_text()))
    return table


def _masking(file: str) -> Callable[[], str]:
    def table() -> str:
        from bench.masking_panel import markdown
        from bench.traces import header

        return markdown(header(RESULTS / file)["rows"])
    return table


def _own_study(file: str) -> Callable[[], str]:
    def table() -> str:
        import json

        from bench.own_study import markdown

        return markdown(json.loads((RESULTS / file).read_text()))
    return table


# name -> how it is computed (the traces it reads are in the function)
TABLES: dict[str, Callable[[], str]] = {
    "answer_corpus": _corpus("answer_corpus.json.gz"),
    "search_replay_n9": _search("answer_corpus.json.gz", 9),
    "search_replay_n18": _search("answer_corpus.json.gz", 18),
    "search_replay_n9_s3": _search("answer_corpus.json.gz", 9, seeds=3),
    "judge_settings_epochs": _judge("answer_corpus.json.gz", epochs_only=True),
    "degenerate_answer_corpus": _degenerate("answer_corpus.json.gz"),
    "bn_paired": _bn_modes("bn_paired.json.gz"),
    "judge_settings_windows": _judge("answer_corpus.json.gz", epochs_only=False),
}
TABLES.update({
    "fa_mnist_compare": _recipe("fa_mnist_compare.json.gz"),
    "judge_regimes_epochs": _judge("answer_corpus.json.gz", True, judge_on="fa_mnist_compare.json.gz"),
    "kept_fa_mnist": _kept("fa_mnist_compare.json.gz"),
    "soak": _soak("soak.json"),
    "masking_panel": _masking("masking_panel.json.gz"),
    "own_study": _own_study("own_study.json"),
    "answer_corpus_by_lambda": _corpus_by_der("answer_corpus.json.gz"),
    "released_fa_mnist": _released("released_fa_mnist.json"),
    "ro_reviewer": _ro("ro_reviewer.json.gz"),
})


def blocks(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def write(text: str, computed: dict[str, str]) -> str:
    return BLOCK.sub(lambda m: f"<!-- replay: {m['name']} -->\n{computed.get(m['name'], m['body'])}\n<!-- /replay -->",
                     text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=None, help="comma-separated table names (default: all)")
    ap.add_argument("--print", action="store_true", help="print the computed tables")
    ap.add_argument("--write", action="store_true", help="put the computed tables into bench/README.md")
    ap.add_argument("--list", action="store_true", help="the known tables and the README's blocks")
    ap.add_argument("--readme", default=str(README), help="the markdown file to check (default bench/README.md)")
    args = ap.parse_args(argv)
    readme = Path(args.readme)
    text = readme.read_text(encoding="utf-8")
    found = blocks(text)
    if args.list:
        for name in sorted({*TABLES, *found}):
            print(f"{name:28} {'computed' if name in TABLES else 'NO PRODUCER'}  {'in README' if name in found else 'NOT IN README'}")
        return 0
    names = args.only.split(",") if args.only else list(TABLES)
    failures = [f"{readme.name} has a block {n!r} that no table produces" for n in found if n not in TABLES]
    computed = {}
    for name in names:
        t0 = time.perf_counter()
        computed[name] = TABLES[name]().rstrip()
        took = time.perf_counter() - t0
        if args.print:
            print(f"<!-- replay: {name} -->\n{computed[name]}\n<!-- /replay -->\n")
        if name not in found:
            failures.append(f"{name}: no <!-- replay: {name} --> block in {readme}")
        elif found[name].rstrip() != computed[name]:
            diff = difflib.unified_diff(found[name].rstrip().splitlines(), computed[name].splitlines(),
                                        "README", "computed", lineterm="")
            failures.append(f"{name}: the README's table differs from the traces:\n" + "\n".join(diff))
        print(f"{name}: {'ok' if name in found and found[name].rstrip() == computed[name] else 'DIFFERS'} "
              f"({took:.1f} s)", file=sys.stderr)
    if args.write:
        readme.write_text(write(text, computed), encoding="utf-8")
        print(f"wrote {len(computed)} table(s) into {readme}", file=sys.stderr)
        return 0
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
