"""The gate's verdicts as text: the history a figure was held against, JUnit XML, Markdown.

Pure functions of :func:`analysis.regress.regressions`' frame (and the
validity findings): what ``ringbench regress`` writes for a CI job
(``--junit``, ``--markdown``), and the phrases the terminal table and the
dashboard share ("held against 195-266 ns over 8 comparable earlier runs
and the baseline run").

Host names, reasons and findings are text a host may have written: the
Markdown escapes every character Markdown or HTML would read as syntax
(:func:`ringbench.results.text.markdown_text`), the JUnit XML is built by
:mod:`xml.etree.ElementTree`, which escapes it, after the characters XML 1.0
cannot carry are made visible escapes (:func:`ringbench.results.text.printable`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from analysis.regress import HISTORY_MIN_RUNS
from analysis.validity import records
from ringbench.results.text import markdown_code, markdown_text, printable
from ringbench.units import format_seconds

JUNIT_FORMAT = 1


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


def _element(parent: ET.Element, tag: str, **attrs: object) -> ET.Element:
    """A child element whose attributes are printable text (XML 1.0 carries no control
    character); ElementTree escapes the rest."""
    return ET.SubElement(parent, tag, {k: printable(v) for k, v in attrs.items()})


def junit_xml(result: pd.DataFrame, findings: pd.DataFrame, base: str, current: str) -> str:
    """JUnit XML: one test case per host and benchmark (a ratio to a baseline host is
    named ``benchmark / baseline``); a regression is a failure, an invalid comparison an
    error."""
    invalid_hosts = {
        f["host"]: f["detail"] for f in records(findings) if f["severity"] == "invalid"
    }
    root = ET.Element("testsuites")
    suite = _element(root, "testsuite", name=f"ringbench regress {current} against {base}")
    properties = _element(suite, "properties")
    _element(properties, "property", name="baseline", value=base)
    _element(properties, "property", name="current", value=current)
    _element(properties, "property", name="ringbench_junit_format", value=JUNIT_FORMAT)
    cases = failures = errors = 0
    for r in records(result):
        summary = (
            f"{_case_name(r)} on {r['host']} ({view_name(r)}): x{r['ratio']:.3f} "
            f"[{r['ratio_low']:.3f}-{r['ratio_high']:.3f}] "
            f"({value_text(r, 'a', format_seconds)} -> {value_text(r, 'b', format_seconds)}), "
            f"q={r['q_value']:.2g}; {held_against(r)}"
        )
        case = _element(
            suite, "testcase", classname=f"ringbench.{r['host']}", name=_case_name(r), time=0
        )
        cases += 1
        if r["host"] in invalid_hosts:
            errors += 1
            message = f"invalid comparison: {invalid_hosts[r['host']]}"
            _element(case, "error", message=message, type="invalid")
        elif r["change"] == "regression":
            failures += 1
            _element(case, "failure", message=f"regression: {summary}", type="regression")
        _element(case, "system-out").text = printable(summary)
    for f in records(findings):
        if f["check"] != "host":
            continue
        errors += 1
        cases += 1
        case = _element(suite, "testcase", classname=f"ringbench.{f['host']}", name="host", time=0)
        _element(case, "error", message=f"{f['host']}: {f['detail']}", type="missing-host")
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    ET.indent(root, space="")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


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
        f"## ringbench: {markdown_code(current)} against {markdown_code(base)}: {verdict}",
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
                f"| {markdown_text(r['host'])} | {markdown_text(r['benchmark'])} | "
                f"{markdown_text(view_name(r))} | "
                f"{value_text(r, 'a', format_seconds)} | {value_text(r, 'b', format_seconds)} | "
                f"x{r['ratio']:.3f} [{r['ratio_low']:.3f}-{r['ratio_high']:.3f}] | "
                f"{r['q_value']:.2g} | {markdown_text(held_against(r))} |"
            )
        lines.append("")
    if not findings.empty:
        lines += ["### What differs between the runs", "", "| host | check | severity | detail |"]
        lines.append("| --- | --- | --- | --- |")
        for f in records(findings):
            cells = (markdown_text(f[k]) for k in ("host", "check", "severity", "detail"))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
