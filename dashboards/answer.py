"""The report's answer section: each study's test reading of its best configurations (``study.results.answer``), one
table per study, with what the figures are; a study not read yet says how to read it."""
from __future__ import annotations

from html import escape

from dashboards.data import StudyData


def _pct(v) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def answer_table(sd: StudyData) -> str:
    from study.results import answer as A

    entries = sorted(sd.answer.get("trials", {}).items(), key=lambda kv: (kv[1].get("rank", 0), int(kv[0])))
    metrics = list(dict.fromkeys(k for _, e in entries for k in e.get("metrics", {})))
    metrics.sort(key=lambda k: (not k.endswith("clean_acc"), k.endswith(("autoattack_acc", "apgd_ce_t_acc")), k))
    ranked_by = sd.answer.get("ranked_by", "")
    heads = ["rank", "trial", f"{ranked_by} (validation)", "selected epoch", *(f"test {A.label(m)}" for m in metrics),
             "note"]
    out = [f'<table class="trials answer" data-study="{escape(sd.name, quote=True)}"><thead><tr>']
    out += [f"<th>{escape(h)}</th>" for h in heads]
    out.append("</tr></thead><tbody>")
    for number, e in entries:
        seeds = len(e.get("seeds", [])) or 1
        note = "; ".join(x for x in ("MASKED" if e.get("masked") else "", f"mean of {seeds} seeds" if seeds > 1 else "")
                         if x)
        cells = [str(e.get("rank", "")), number, _pct(e.get("objective")),
                 "/".join(f"{x:g}" for x in e.get("epochs", [])),
                 *(_pct(e.get("metrics", {}).get(m)) for m in metrics), note]
        out.append(f'<tr data-trial="{escape(number, quote=True)}">'
                   + "".join(f'<td class="num">{escape(c)}</td>' for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def answer_body(studies: list[StudyData]) -> str:
    from study.console.hints import command

    parts = []
    for sd in studies:
        title = f"<h3>{escape(sd.name)}</h3>" if len(studies) > 1 else ""
        if sd.answer.get("trials"):
            n = sd.answer.get("settings", {}).get("images")
            parts.append(f"{title}<p class=\"caption\">read on the first {n:,} test images, "
                         f"{escape(sd.answer.get('updated', ''))}</p>{answer_table(sd)}")
        elif sd.spec.kind == "train":
            parts.append(f'{title}<p class="note">not read yet: <code>{escape(command("evaluate", sd.name, "--top", "3"))}'
                         f"</code> reads the 3 best configurations on the test set</p>")
    return "".join(parts)


CAPTION = ("The study's answer: the selected checkpoint (best.pt) of each seed of its best configurations, ranked on "
           "validation only, read once on the test set by clean accuracy, PGD with restarts and AutoAttack at the "
           "study's evaluation radius, in fp32. These are the figures to report; the trials' own test readings (if "
           "any) are a cheap PGD-20.")
