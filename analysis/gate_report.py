"""The gate's verdicts as text: the history a figure was held against, JUnit XML, Markdown.

Pure functions of :func:`analysis.regress.regressions`' frame (and the
validity findings): what ``ringbench regress`` writes for a CI job
(``--junit``, ``--markdown``), and the phrases the terminal table and the
dashboard share ("held against 195-266 ns over 8 comparable earlier runs
and the baseline run").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from xml.sax.saxutils import quoteattr

import pandas as pd

from analysis.regress import HISTORY_MIN_RUNS
from analysis.validity import records
from ringbench.units import format_seconds


def _span(low: float, high: float, fmt: Callable[[float], str], dash: str = "-") -> str:
    """``192-267 ns``: the unit once when both ends share it."""
    a, b = fmt(low), fmt(high)
    if a == b:
        return a
    if " " in a and " " in b and a.rsplit(" ", 1)[1] == b.rsplit(" ", 1)[1]:
        return f"{a.rsplit(' ', 1)[0]}{dash}{b}"
    return f"{a}{dash}{b}"


def _ratio_text(x: float) -> str:
    return f"x{x:.3f}"


def view_name(r: Mapping[str, Any]) -> str:
    """``figure`` or ``ratio to <baseline host>``."""
    return "figure" if r["view"] == "figure" else f"ratio to {r['baseline_host']}"


def value_text(r: Mapping[str, Any], column: str, seconds: Callable[[float], str]) -> str:
    """The view's value ``a`` or ``b`` of a row: a time, or a ratio with the host's time."""
    if r["view"] == "figure":
        return seconds(float(r[column]))
    return f"{_ratio_text(float(r[column]))} ({seconds(float(r[column + '_s']))})"


def held_against(
    r: Mapping[str, Any],
    seconds: Callable[[float], str] = format_seconds,
    dash: str = "-",
    times: str = "x",
) -> str:
    """What a row's current value was held against, in words: ``held against 192-267 ns
    over 9 comparable earlier runs and the baseline run``, or ``no comparable history:
    the baseline run alone``. ``seconds`` formats a time, ``dash`` joins a range,
    ``times`` leads a ratio."""
    found, outlying = int(r["history_runs"]), int(r["history_set_aside"])
    if found < HISTORY_MIN_RUNS:
        if found == 0:
            return "no comparable history: the baseline run alone"
        return (
            f"too little comparable history ({found} earlier run{'s' if found > 1 else ''}, "
            f"{HISTORY_MIN_RUNS} needed): the baseline run alone"
        )
    fmt = seconds if r["view"] == "figure" else (lambda x: f"{times}{x:.3f}")
    text = (
        f"held against {_span(float(r['history_low']), float(r['history_high']), fmt, dash)} "
        f"over {found - outlying} comparable earlier runs and the baseline run"
    )
    if outlying:
        text += f" ({outlying} outlying set aside)"
    return text


def _case_name(r: Mapping[str, Any]) -> str:
    bench = str(r["benchmark"])
    return bench if r["view"] == "figure" else f"{bench} / {r['baseline_host']}"


def junit_xml(result: pd.DataFrame, findings: pd.DataFrame, base: str, current: str) -> str:
    """JUnit XML: one test case per host and benchmark (a ratio to a baseline host is
    named ``benchmark / baseline``); a regression is a failure, an invalid comparison an
    error."""
    invalid_hosts = {
        f["host"]: f["detail"] for f in records(findings) if f["severity"] == "invalid"
    }
    cases = []
    failures = errors = 0
    for r in records(result):
        name = quoteattr(_case_name(r))
        classname = quoteattr(f"ringbench.{r['host']}")
        summary = (
            f"{_case_name(r)} on {r['host']} ({view_name(r)}): x{r['ratio']:.3f} "
            f"[{r['ratio_low']:.3f}-{r['ratio_high']:.3f}] "
            f"({value_text(r, 'a', format_seconds)} -> {value_text(r, 'b', format_seconds)}), "
            f"q={r['q_value']:.2g}; {held_against(r)}"
        )
        body = f"<system-out>{_escape(summary)}</system-out>"
        if r["host"] in invalid_hosts:
            errors += 1
            body = (
                f"<error message={quoteattr('invalid comparison: ' + invalid_hosts[r['host']])}"
                f' type="invalid"/>{body}'
            )
        elif r["change"] == "regression":
            failures += 1
            message = quoteattr("regression: " + summary)
            body = f'<failure message={message} type="regression"/>{body}'
        cases.append(f'<testcase classname={classname} name={name} time="0">{body}</testcase>')
    missing = [f for f in records(findings) if f["check"] == "host"]
    for f in missing:
        errors += 1
        message = quoteattr(f"{f['host']}: {f['detail']}")
        cases.append(
            f'<testcase classname={quoteattr("ringbench." + str(f["host"]))} name="host" '
            f'time="0"><error message={message} type="missing-host"/></testcase>'
        )
    title = quoteattr(f"ringbench regress {current} against {base}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites><testsuite name={title} tests="{len(cases)}" failures="{failures}" '
        f'errors="{errors}">\n<properties><property name="baseline" value={quoteattr(base)}/>'
        f'<property name="current" value={quoteattr(current)}/>'
        '<property name="ringbench_junit_format" value="1"/></properties>\n'
        + "\n".join(cases)
        + "\n</testsuite></testsuites>\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown(
    result: pd.DataFrame,
    findings: pd.DataFrame,
    base: str,
    current: str,
    threshold: float,
    alpha: float,
) -> str:
    """A summary for a CI job's page: the verdict, the regressions and improvements with
    the range each was held against, the findings that make the comparison invalid or
    confounded."""
    counts = result["change"].value_counts().to_dict() if not result.empty else {}
    invalid = findings[findings["severity"] == "invalid"] if not findings.empty else findings
    if not invalid.empty:
        verdict = "**invalid comparison**"
    elif counts.get("regression"):
        verdict = f"**{counts['regression']} regression(s)**"
    else:
        verdict = "**no regression**"
    views = result["view"].value_counts().to_dict() if not result.empty else {}
    compared = f"{views.get('figure', 0)} figures"
    if views.get("ratio"):
        compared += f" and {views['ratio']} ratios to a baseline host"
    lines = [
        f"## ringbench: `{current}` against `{base}`: {verdict}",
        "",
        f"{compared} compared; a change counts when its Benjamini-Hochberg "
        f"q-value is below {alpha:g} and it lies more than {threshold:.0%} beyond the range "
        "of the comparable earlier runs and the baseline run. "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())),
        "",
    ]
    for kind in ("regression", "improvement"):
        rows = result[result["change"] == kind]
        if rows.empty:
            continue
        lines += [
            f"### {kind.capitalize()}s",
            "",
            "| host | benchmark | view | baseline | current | ratio [95% interval] | q "
            "| held against |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in records(rows.sort_values("ratio", ascending=kind == "improvement")):
            lines.append(
                f"| {r['host']} | {r['benchmark']} | {view_name(r)} | "
                f"{value_text(r, 'a', format_seconds)} | {value_text(r, 'b', format_seconds)} | "
                f"x{r['ratio']:.3f} [{r['ratio_low']:.3f}-{r['ratio_high']:.3f}] | "
                f"{r['q_value']:.2g} | {held_against(r)} |"
            )
        lines.append("")
    if not findings.empty:
        lines += ["### What differs between the runs", "", "| host | check | severity | detail |"]
        lines.append("| --- | --- | --- | --- |")
        for f in records(findings):
            detail = str(f["detail"]).replace("|", "\\|")
            lines.append(f"| {f['host']} | {f['check']} | {f['severity']} | {detail} |")
        lines.append("")
    return "\n".join(lines)
