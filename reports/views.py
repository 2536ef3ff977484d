"""What the notebooks show: analysis frames shaped for reading, and sentences from numbers.

The notebooks stay light: each cell calls one of these or a function of
:mod:`analysis`. Everything here takes DataFrames and returns a DataFrame
for display or a Markdown string whose every number comes from the data.

A Markdown string reaches the rendered report as HTML, raw HTML and all
(nbconvert passes it through): every text of it that came from a host or a
file (host names, classes, benchmarks, run ids) goes through :func:`md` or
:func:`code`, which the notebooks use too. DataFrames are escaped by pandas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.calibration import DEVIATION_LIMIT, HALF_WIDTH_LIMIT, flagged, summary_line
from analysis.mechanisms import BETWEEN_HOSTS, INTERCEPTION, NAMESPACES, SECCOMP_FILTER
from analysis.validity import records
from ringbench import units
from ringbench.errors import UserError
from ringbench.results import ResultStore
from ringbench.results.text import markdown_code, markdown_text


def md(value: object) -> str:
    """Text a host or a file gave, for a Markdown string: every syntax character escaped,
    on one line."""
    return markdown_text(value)


def code(value: object) -> str:
    """An identifier (a run id, a benchmark) as a Markdown code span, escaped text when it
    cannot be one."""
    return markdown_code(value)


def resolve_runs(runs: Sequence[str], results_dir: str, default: int = 1) -> list[Path]:
    """The notebooks' ``runs`` parameter: ids or paths; empty means the latest ``default``."""
    store = ResultStore(Path(results_dir))
    if runs:
        return [store.resolve(r).path for r in runs]
    every = [r.path for r in store.runs()]
    if not every:
        raise UserError(f"no runs in {results_dir}: run 'ringbench run' first")
    return every[-default:]


def seconds(value: float) -> str:
    """A time per operation in the unit that reads best: 166 ns, 3.66 µs, 1.93 ms."""
    return units.seconds(value, missing="–")


def times(ratio: float) -> str:
    if ratio is None or math.isnan(ratio):
        return "–"
    return f"×{ratio:.0f}" if ratio >= 100 else f"×{ratio:.3g}"


def interval(low: float, high: float) -> str:
    return f"[{times(low)[1:]}–{times(high)[1:]}]"


def family_table(summary: pd.DataFrame, overhead: pd.DataFrame, family: str) -> pd.DataFrame:
    """One family: each host's median with its interval, and its ratio to the baseline."""
    rows = summary[summary["family"] == family]
    ratio = {(r["host"], r["benchmark"]): r for r in records(overhead)}
    out = []
    for r in records(rows):
        o = ratio.get((r["host"], r["benchmark"]))
        out.append(
            {
                "benchmark": r["benchmark"],
                "host": r["host"],
                "class": r["virt_class"],
                "median": seconds(r["median_s"]),
                "95% interval": f"{seconds(r['ci_low_s'])} – {seconds(r['ci_high_s'])}",
                "cv": f"{r['cv']:.1%}" if not math.isnan(r["cv"]) else "–",
                "× baseline": ""
                if o is None
                else f"{times(o['ratio'])} {interval(o['ratio_low'], o['ratio_high'])}",
                "verdict": "" if o is None else o["verdict"],
                "flags": "" if o is None else o["flagged"],
            }
        )
    return pd.DataFrame(out).set_index(["benchmark", "host"]) if out else pd.DataFrame()


def calibration_note(known: pd.DataFrame, overhead: pd.DataFrame) -> str:
    """The run's calibration line (:func:`analysis.calibration.summary_line`) as Markdown,
    and, when it is flagged, what that means for the other ratios."""
    text = md(summary_line(known, overhead))
    if flagged(known):
        text += (
            "\n\n**The run is flagged**: a ratio whose truth is ×1.00 came out more than "
            f"{DEVIATION_LIMIT:.0%} off, or with an interval wider than ±{HALF_WIDTH_LIMIT:.0%}. "
            "The other ratios of this run may carry an error of that size too."
        )
    return text


def calibration_view(known: pd.DataFrame) -> pd.DataFrame:
    """The known-truth ratios, each against its truth of ×1.00, ⚑ where it is not ok."""
    if known.empty:
        return pd.DataFrame()
    out = pd.DataFrame(
        {
            "host": known["host"],
            "class": known["virt_class"],
            "against": known["baseline"],
            "benchmark": known["benchmark"],
            "why": known["why"],
            "ratio": [  # two decimals: a ratio near its truth of 1 reads best so
                f"×{r['ratio']:.2f} [{r['ratio_low']:.2f}–{r['ratio_high']:.2f}]"
                for r in records(known)
            ],
            "off": [f"{d:.1%}" if math.isfinite(d) else "–" for d in known["deviation"]],
            "±": [f"{w:.1%}" if math.isfinite(w) else "–" for w in known["half_width"]],
            "ok": ["✓" if ok else "⚑" for ok in known["ok"]],
        }
    )
    return out.set_index(["host", "benchmark"])


def mechanism_cell(r: dict[str, Any]) -> str:
    """One mechanism of one host: its cost [interval]; what it adds (× ratio), and the host
    it is measured against where that is another host (:data:`BETWEEN_HOSTS`)."""
    if r["cost_ns"] is None or math.isnan(r["cost_ns"]):
        return str(r["note"])
    low, high = seconds(r["cost_low_ns"] / 1e9), seconds(r["cost_high_ns"] / 1e9)
    cell = f"{seconds(r['cost_ns'] / 1e9)} [{low}, {high}]"
    if r["mechanism"] in BETWEEN_HOSTS:
        cell += f" against {r['baseline']}"
        if not math.isnan(r["ratio"]):
            cell += f" ({times(r['ratio'])})"
    elif not math.isnan(r["added_ns"]):
        sign = "+" if r["added_ns"] >= 0 else "−"
        cell += f"; {sign}{seconds(abs(r['added_ns']) / 1e9)}"
        if not math.isnan(r["ratio"]):
            cell += f" ({times(r['ratio'])})"
    if r["note"]:
        cell += f" ({r['note']})"
    return cell


def mechanism_view(mech: pd.DataFrame) -> pd.DataFrame:
    """Mechanisms down, hosts across: cost of one operation, and what it adds; a mechanism
    that does not apply to a host (the runtime ones) leaves its cell empty."""
    out: dict[str, dict[str, str]] = {}
    for r in records(mech):
        out.setdefault(r["mechanism"], {})[f"{r['host']} ({r['virt_class']})"] = mechanism_cell(r)
    return pd.DataFrame.from_dict(out, orient="index").fillna("")


def published_view(beside: pd.DataFrame) -> pd.DataFrame:
    if beside.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "benchmark": beside["benchmark"],
            "class": beside["env_class"],
            "measured": [
                f"{r['host']}: {times(r['ratio'])} {interval(r['ratio_low'], r['ratio_high'])}"
                for r in records(beside)
            ],
            "published": [
                f"{times(r['published_ratio'])} {r['environment']} "
                f"({r['source']}, {r['table']}: {r['operation']})"
                for r in records(beside)
            ],
        }
    ).reset_index(drop=True)


def published_mechanism_view(beside: pd.DataFrame) -> pd.DataFrame:
    """:func:`analysis.references.beside_mechanisms` for reading: the measured ratio (and
    what it adds) beside each published one (and what it adds, in its own unit)."""
    if beside.empty:
        return pd.DataFrame()

    def published(r: dict[str, Any]) -> str:
        added = r["published_added"]
        plus = "" if math.isnan(added) else f", {added:+g} {r['unit']}"
        return (
            f"{times(r['published_ratio'])}{plus} {r['environment']} "
            f"({r['source']}, {r['table']}: {r['operation']})"
        )

    return pd.DataFrame(
        {
            "mechanism": beside["mechanism"],
            "class": beside["env_class"],
            "measured": [
                f"{r['host']} against {r['against']}: {times(r['ratio'])} "
                f"{interval(r['ratio_low'], r['ratio_high'])}, {_added(r['added_ns'] / 1e9)}"
                for r in records(beside)
            ],
            "published": [published(r) for r in records(beside)],
        }
    ).reset_index(drop=True)


def _geomean(values: pd.Series) -> float:
    positive = values[values > 0]
    return float(np.exp(np.log(positive).mean())) if len(positive) else math.nan


def _mechanism(mech: pd.DataFrame, host: str, name: str) -> dict[str, Any] | None:
    rows = records(mech[(mech["host"] == host) & (mech["mechanism"] == name)])
    return rows[0] if rows and not math.isnan(rows[0]["cost_ns"]) else None


RUNTIME_SENTENCES = {
    SECCOMP_FILTER: "Its seccomp filter adds {cost} {interval} to each null system call "
    "against {against} ({ratio})",
    NAMESPACES: "Its namespaces add {cost} {interval} to a null system call against "
    "{against} ({ratio})",
    INTERCEPTION: "Its application kernel's system-call interception adds {cost} {interval} "
    "to each null system call against {against} ({ratio})",
}


def _runtime_sentences(mech: pd.DataFrame, host: str) -> str:
    """The runtime mechanisms of one host (:data:`analysis.mechanisms.BETWEEN`), a sentence
    each, every number from ``mech``."""
    text = ""
    for name, sentence in RUNTIME_SENTENCES.items():
        r = _mechanism(mech, host, name)
        if r is None:
            continue
        low, high = seconds(r["cost_low_ns"] / 1e9), seconds(r["cost_high_ns"] / 1e9)
        text += " " + sentence.format(
            cost=seconds(r["cost_ns"] / 1e9),
            interval=f"[{low}, {high}]",
            against=md(r["baseline"]),
            ratio=f"{times(r['ratio'])} {interval(r['ratio_low'], r['ratio_high'])}",
        )
        text += "; not resolved above zero." if not r["cost_low_ns"] > 0 else "."
    return text


def _added(value_s: float) -> str:
    """A difference with its sign: ``+70.7 ns``, ``-4 ns``."""
    return ("+" if value_s >= 0 else "") + seconds(value_s)


def conclusion(
    overhead: pd.DataFrame,
    mech: pd.DataFrame,
    flags: pd.DataFrame,
    known: pd.DataFrame | None = None,
) -> str:
    """A short Markdown conclusion: per environment, what it costs, each number computed;
    with ``known`` (:func:`analysis.calibration`), the run's calibration last."""
    if overhead.empty:
        return "No host of this run has a baseline, so no overhead is computed."
    lines = []
    by_host = {str(h): rows for h, rows in overhead.groupby("host", sort=False)}
    for host in sorted(by_host, key=lambda h: -_geomean(by_host[h]["ratio"])):
        rows = by_host[host]
        first = records(rows.head(1))[0]
        worst = records(rows.sort_values("ratio", ascending=False).head(1))[0]
        dearer = int((rows["verdict"] == "dearer").sum())
        same = int((rows["verdict"] == "same").sum())
        text = (
            f"- **{md(host)}** ({md(first['virt_class'])}) against {md(first['baseline'])}: "
            f"geometric mean ratio {times(_geomean(rows['ratio']))} over {len(rows)} "
            f"benchmarks; {dearer} resolved as dearer, {same} not distinguishable from the "
            f"baseline. Largest: {code(worst['benchmark'])} {times(worst['ratio'])} "
            f"{interval(worst['ratio_low'], worst['ratio_high'])}."
        )
        ring = _mechanism(mech, host, "ring transition")
        if ring is not None and not math.isnan(ring["added_ns"]):
            text += (
                f" One ring transition costs {seconds(ring['cost_ns'] / 1e9)} "
                f"({times(ring['ratio'])} the baseline's {seconds(ring['baseline_ns'] / 1e9)})."
            )
        cpuid = _mechanism(mech, host, "VM exit (cpuid)")
        if cpuid is not None:
            text += f" One CPUID costs {seconds(cpuid['cost_ns'] / 1e9)}."
        text += _runtime_sentences(mech, host)
        lines.append(text)
    if not flags.empty:
        invalid = int((flags["severity"] == "invalid").sum())
        lines.append(
            f"- Validity: {len(flags)} findings, {invalid} of them invalidating a comparison "
            "(see the validity section)."
        )
    if known is not None:
        line = summary_line(known, overhead).removeprefix("calibration: ")
        lines.append(f"- Calibration: {md(line)}.")
    return "\n".join(lines)
