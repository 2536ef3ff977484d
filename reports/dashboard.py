"""A static HTML dashboard of a results directory's history (``ringbench dashboard``).

``build(store, out)`` writes ``<out>/index.html``: one page that opens from
``file://`` with no server and no network (styles, script and figures are
inline), holding

- the open regressions: the latest run against the one before it, held
  against the comparable history before it (:func:`analysis.regress.regressions`),
  the rows that regressed in either view with the range each was held against;
- the change points of every (host, benchmark) history
  (:func:`analysis.changepoints.change_points`) with what changed on the host;
- the latest run's overhead heat map (:func:`analysis.plots.heatmap_figure`),
  when its hosts have baselines, and its mechanisms
  (:func:`analysis.mechanisms.mechanisms`: the seccomp filter, the
  container's namespaces and an application kernel's interception among
  them), each beside the published figures for it
  (:func:`analysis.references.beside_mechanisms`);
- per environment and benchmark, the median of every run with its 95%
  interval (:mod:`reports.series_svg`), change points marked;
- the runs, and per host what changed from its run before.

A ``<select>`` per environment and per family shows and hides the series and
the tables' rows. The page carries ``<meta name="ringbench-dashboard-format">``.
Every text on it is escaped (:func:`_e`): host names, facts and findings
are what hosts wrote. Runs the history leaves out are named on the page and
through ``progress``.

Format history:
- 1: first version.
- 2: the open regressions carry their view (figure, or ratio to the baseline
  host) and the history range each was held against.
- 3: the latest run's mechanisms, beside the published figures (issue 16).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.changepoints import change_points, what_changed
from analysis.gate_report import held_against, view_name
from analysis.history import history
from analysis.mechanisms import mechanisms
from analysis.overhead import overhead
from analysis.plots import SOFTWARE, heatmap_figure
from analysis.references import beside_mechanisms
from analysis.regress import ALPHA, DEFAULT_THRESHOLD, regressions
from analysis.stats import bootstrap
from analysis.tidy import load
from analysis.validity import across_runs, records
from reports.series_svg import TIMES, series_svg
from reports.views import mechanism_cell
from ringbench import __version__
from ringbench.errors import UserError
from ringbench.files import atomic_write_text
from ringbench.progress import SILENT, Progress
from ringbench.results.text import printable
from ringbench.units import seconds as fmt

DASHBOARD_FORMAT = 3
HEATMAP_DPI = 100
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Dashboard:
    """What the page shows, computed; :func:`render` turns it into HTML."""

    store: Path
    history: pd.DataFrame
    changes: pd.DataFrame
    heatmap_png: bytes | None  # the latest run's overhead, None without baselines
    previous: str  # the run the latest is compared with ("" for none)
    regressions: pd.DataFrame  # every figure of latest against previous
    findings: pd.DataFrame  # what differs between them (analysis.validity.across_runs)
    # the latest run's mechanisms (analysis.mechanisms), and those beside published figures
    mechanisms: pd.DataFrame = field(default_factory=pd.DataFrame)
    published: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def runs(self) -> list[str]:
        return list(dict.fromkeys(self.history["run"]))


def _png(overhead_frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    figure = heatmap_figure(overhead_frame)
    figure.savefig(buffer, format="png", dpi=HEATMAP_DPI, metadata={"Software": SOFTWARE})
    return buffer.getvalue()


def gather(store: Path, progress: Progress = SILENT) -> Dashboard:
    """Index the store and compute everything the page shows; UserError without runs."""

    def step(title: str) -> None:
        progress.update("dashboard", description=title)

    frame = history(store, progress)
    if frame.empty:
        skipped = frame.attrs.get("skipped", [])
        why = f" ({len(skipped)} unreadable, first: {skipped[0]})" if skipped else ""
        raise UserError(f"no runs with results in {store}{why}: run 'ringbench run' first")
    step("finding change points")
    changes = change_points(frame)
    runs = list(dict.fromkeys(frame["run"]))
    step("drawing the latest run's overhead")
    latest = load(store / runs[-1])
    boot = bootstrap(latest)
    table = overhead(latest, boot)
    png = _png(table) if not table.empty else None
    step("the latest run's mechanisms")
    mech = mechanisms(latest, boot)
    published = beside_mechanisms(mech)
    previous, result, findings = "", pd.DataFrame(), pd.DataFrame()
    if len(runs) > 1:
        step("comparing the latest run with the one before")
        previous = runs[-2]
        before = load(store / previous)
        # the gate's decision: held against the comparable runs before the latest
        settings = str(frame.loc[frame["run"] == runs[-1], "settings"].iat[0])
        earlier = frame[frame["run"].isin(runs[:-1])]
        result = regressions(before, latest, history=earlier, settings=settings)
        findings = across_runs(before, latest)
    return Dashboard(store, frame, changes, png, previous, result, findings, mech, published)


def build(store: Path, out: Path, progress: Progress = SILENT) -> Path:
    """Write ``<out>/index.html`` (atomically) for the runs of ``store``; returns its path."""
    progress.start("dashboard", "indexing the history")
    page = render(gather(store, progress))
    progress.update("dashboard", description="writing the page")
    path = out / "index.html"
    atomic_write_text(path, page)
    progress.finish("dashboard", "written")
    return path


# --- the page -------------------------------------------------------------------


def _e(value: object) -> str:
    """Text for HTML (every text of the page goes through here: what hosts wrote is in it):
    control characters as visible escapes, then ``html.escape``, quotes too."""
    return html.escape(printable(value))


def _row(cells: list[str], attrs: str = "") -> str:
    return f"<tr{attrs}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _table(headers: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="none">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _ratio(r: dict[str, object]) -> str:
    return f"{TIMES}{r['ratio']:.3f} [{r['ratio_low']:.3f}–{r['ratio_high']:.3f}]"


def _regressions(d: Dashboard, families: dict[str, str]) -> str:
    latest = d.runs[-1]
    if not d.previous:
        return '<p class="none">Only one run: nothing to compare it with yet.</p>'
    title = f"<p><code>{_e(latest)}</code> against <code>{_e(d.previous)}</code>: "
    counts = d.regressions["change"].value_counts().to_dict() if not d.regressions.empty else {}
    said = [
        f"{counts[k]} {word}{'s' if counts[k] > 1 and k != 'no change' else ''}"
        for k, word in (("regression", "regression"), ("improvement", "improvement"))
        if counts.get(k)
    ]
    said += [f"{counts['no change']} unchanged"] if counts.get("no change") else []
    views = d.regressions["view"].value_counts().to_dict() if not d.regressions.empty else {}
    both = f"{views.get('figure', 0)} figures"
    both += f" and {views['ratio']} ratios to a baseline host" if views.get("ratio") else ""
    title += f"{both} in both: " + (", ".join(said) or "none")
    title += (
        f" (a regression: slower by {DEFAULT_THRESHOLD:.0%} or more than the range of the "
        f"comparable earlier runs and the previous run, Benjamini–Hochberg q &lt; {ALPHA:g}; "
        "a ratio to a baseline host is judged the same way).</p>"
    )
    invalid = d.findings[d.findings["severity"] == "invalid"] if not d.findings.empty else None
    if invalid is not None and not invalid.empty:
        why = "; ".join(f"{f['host']}: {f['detail']}" for f in records(invalid))
        title += f'<p class="warn">Invalid comparison: {_e(why)}</p>'
    rows = []
    regressed = d.regressions[d.regressions["change"] == "regression"]
    for r in records(regressed.sort_values(["view", "ratio"], ascending=[True, False])):
        cells = [
            _e(r["host"]),
            f'<a href="#s-{_e(r["host"])}-{_e(r["benchmark"])}">{_e(r["benchmark"])}</a>',
            _e(view_name(r)),
            _value(r, "a"),
            _value(r, "b"),
            _ratio(r),
            f"{r['q_value']:.2g}",
            _e(held_against(r, fmt, dash="–", times=TIMES)),
            _e(r["flagged"]),
        ]
        rows.append(_row(cells, _filter_attrs(r["host"], families.get(str(r["benchmark"]), ""))))
    headers = ["host", "benchmark", "view", "previous", "latest", "ratio [95%]", "q"]
    headers += ["held against", "flags"]
    return title + _table(headers, rows, "No regression.")


def _value(r: dict[str, Any], column: str) -> str:
    """A figure, or a ratio to the baseline host with the host's figure beside it."""
    seconds = fmt(float(r[column + "_s"]))
    if r["view"] == "figure":
        return seconds
    return f"{TIMES}{float(r[column]):.3f} ({seconds})"


def _filter_attrs(host: object, family: object) -> str:
    return f' data-host="{_e(host)}" data-family="{_e(family)}"'


def _changes(d: Dashboard) -> str:
    rows = []
    for k, c in enumerate(records(d.changes)):
        series = f"s-{c['host']}-{c['benchmark']}"
        cells = [
            _e(str(c["created"])[:16].replace("T", " ")),
            _e(c["host"]),
            f'<a href="#{_e(series)}">{_e(c["benchmark"])}</a>',
            f'<a href="#run-{_e(c["run"])}">{_e(c["run"])}</a>',
            fmt(c["before_s"]),
            fmt(c["after_s"]),
            f"{TIMES}{c['ratio']:.3f}",
            _e(c["what_changed"]) or '<span class="none">nothing recorded changed</span>',
        ]
        attrs = f' id="cp-{k}"' + _filter_attrs(c["host"], c["family"])
        rows.append((str(c["created"]), _row(cells, attrs)))
    rows.sort(key=lambda r: r[0], reverse=True)  # newest first
    headers = ["when", "host", "benchmark", "first run after", "before", "after", "ratio"]
    return _table([*headers, "what changed"], [r for _, r in rows], "No change point found.")


def _series(d: Dashboard) -> str:
    run_index = {run: i for i, run in enumerate(d.runs)}
    marks: dict[tuple[str, str], list[tuple[int, str, float]]] = {}
    for k, c in enumerate(records(d.changes)):
        marks.setdefault((c["host"], c["benchmark"]), []).append((k, c["run"], c["ratio"]))
    out = []
    frame = d.history
    for host, rows in frame.groupby("host", sort=True):
        last = records(rows.tail(1))[0]
        facts = " · ".join(
            _e(v) for v in (last["virt_class"], last["kernel"], last["virt_layers"]) if v
        )
        out.append(f'<section class="env" data-host="{_e(host)}" id="env-{_e(host)}">')
        out.append(f"<h3>{_e(host)} <small>{facts}</small></h3>")
        out.append('<div class="grid">')
        for (family, bench), points in rows.groupby(["family", "benchmark"], sort=True):
            pts = records(points[["run", "created", "median_s", "ci_low_s", "ci_high_s"]])
            svg = series_svg(pts, run_index, marks.get((str(host), str(bench)), []))
            end = pts[-1]
            caption = (
                f'<span class="family">{_e(family)}</span> <b>{_e(bench)}</b> '
                f"{fmt(end['median_s'])} "
                f'<span class="ci">[{fmt(end["ci_low_s"])}, {fmt(end["ci_high_s"])}]</span>'
                f" per {_e(points['operation'].iat[-1])}, {len(pts)} run(s)"
            )
            out.append(
                f'<figure class="series" id="s-{_e(host)}-{_e(bench)}" '
                f'data-host="{_e(host)}" data-family="{_e(family)}">'
                f"{svg}<figcaption>{caption}</figcaption></figure>"
            )
        out.append("</div>")
        out.append("</section>")
    return "\n".join(out)


def _published_cell(rows: list[dict[str, Any]]) -> str:
    """The published figures beside one measured mechanism, one line each."""
    lines = []
    for r in rows:
        added = r["published_added"]
        plus = "" if pd.isna(added) else f", {added:+g} {r['unit']}"
        text = f"{TIMES}{r['published_ratio']:.3g}{plus} {r['environment']} ({r['source']})"
        lines.append(_e(text))
    return "<br>".join(lines)


def _mechanisms(d: Dashboard, families: dict[str, str]) -> str:
    """The latest run's mechanisms with a figure, a row per (mechanism, host), filtered by
    host and by the family of the benchmark each is measured on."""
    if d.mechanisms.empty:
        return '<p class="none">No mechanism measured in the latest run.</p>'
    beside: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records(d.published):
        beside.setdefault((str(r["mechanism"]), str(r["host"])), []).append(r)
    rows = []
    measured = d.mechanisms[d.mechanisms["cost_ns"].notna()]
    for r in records(measured):
        cells = [
            _e(r["mechanism"]),
            _e(r["host"]),
            _e(r["virt_class"]),
            _e(r["baseline"]) or "–",
            _e(mechanism_cell(r)),
            _published_cell(beside.get((str(r["mechanism"]), str(r["host"])), [])),
        ]
        family = families.get(str(r["minuend"]), "")
        rows.append(_row(cells, _filter_attrs(r["host"], family)))
    headers = ["mechanism", "host", "class", "against", "cost [95%]", "published beside it"]
    note = (
        '<p class="note">The cost of one operation of each mechanism with its 95% interval '
        "(<code>analysis/mechanisms.py</code> states each one's assumptions); the seccomp "
        "filter, the container's namespaces and an application kernel's system-call "
        "interception are differences between two hosts, shown only for the hosts they apply "
        "to, against the host named. Published figures: <code>analysis/references.csv</code>, "
        "each with its source, table and hardware.</p>"
    )
    return note + _table(headers, rows, "No mechanism measured in the latest run.")


def _runs(d: Dashboard) -> str:
    facts = d.history.drop_duplicates(["run", "host"])
    hosts = sorted(set(facts["host"]))
    last: dict[str, dict[str, object]] = {}
    changed: dict[tuple[str, str], str] = {}
    for r in records(facts):
        before = last.get(r["host"])
        if before is not None:
            changed[(r["run"], r["host"])] = what_changed(before, r) or "·"
        last[r["host"]] = r
    rows = []
    for r in reversed(records(d.history.drop_duplicates("run"))):
        when = str(r["created"])[:19].replace("T", " ")
        cells = [f"<code>{_e(r['run'])}</code>", _e(when), _e(r["status"])]
        cells += [_e(changed.get((r["run"], h), "")) for h in hosts]
        rows.append(_row(cells, f' id="run-{_e(r["run"])}"'))
    headers = ["run", "created", "status", *hosts]
    note = (
        '<p class="note">Newest first; per host, what changed from its run before '
        "(· nothing recorded).</p>"
    )
    return note + _table(headers, rows, "No run.")


def render(d: Dashboard) -> str:
    """The page: self-contained HTML."""
    runs = d.runs
    latest = records(d.history[d.history["run"] == runs[-1]].head(1))[0]
    families = dict(zip(d.history["benchmark"], d.history["family"], strict=True))
    hosts = sorted(set(d.history["host"]))
    options = {
        "f-host": ("environment", hosts),
        "f-family": ("family", sorted(set(d.history["family"]))),
    }
    selects = "".join(
        f'<label>{label} <select id="{key}"><option value="">all</option>'
        + "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
        + "</select></label> "
        for key, (label, values) in options.items()
    )
    skipped = d.history.attrs.get("skipped", [])
    warn = (
        f'<p class="warn">{len(skipped)} run(s) left out: '
        + "; ".join(_e(s) for s in skipped)
        + "</p>"
        if skipped
        else ""
    )
    heatmap = (
        f'<img alt="overhead heat map of run {_e(runs[-1])}" src="data:image/png;base64,'
        + base64.b64encode(d.heatmap_png).decode("ascii")
        + '">'
        if d.heatmap_png
        else '<p class="none">No host of the latest run has a baseline in it.</p>'
    )
    css = (HERE / "dashboard.css").read_text(encoding="utf-8")
    script = (HERE / "dashboard.js").read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="ringbench-dashboard-format" content="{DASHBOARD_FORMAT}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringbench dashboard: {_e(d.store.resolve().name)}</title>
<style>
{css}</style>
</head>
<body>
<header>
<h1>ringbench dashboard</h1>
<p class="meta">store <code>{_e(d.store.resolve())}</code> · {len(runs)} run(s) ·
latest <a href="#run-{_e(runs[-1])}"><code>{_e(runs[-1])}</code></a>
({_e(str(latest["created"])[:19].replace("T", " "))}, {_e(latest["status"])}) ·
{len(hosts)} environment(s) · {d.history["benchmark"].nunique()} benchmark(s) ·
ringbench {_e(__version__)}</p>
{warn}
</header>
<div class="bar">
<form class="filters" onsubmit="return false">{selects}<span id="shown"></span></form>
<nav><a href="#regressions">regressions</a> · <a href="#changes">change points</a> ·
<a href="#overhead">overhead</a> · <a href="#mechanisms">mechanisms</a> ·
<a href="#history">history</a> · <a href="#runs">runs</a></nav>
</div>
<main>
<section id="regressions"><h2>Open regressions: the latest run against the one before</h2>
{_regressions(d, families)}</section>
<section id="changes"><h2>Change points</h2>
<p class="note">Where a figure's level moved and held for at least two runs (PELT, L1 cost
on log median, penalty 2.5 &sigma; log n); <i>what changed</i> compares the host's facts in the last
run before and the first run after.</p>
{_changes(d)}</section>
<section id="overhead"><h2>Overhead of the latest run</h2>
{heatmap}</section>
<section id="mechanisms"><h2>Mechanisms of the latest run</h2>
{_mechanisms(d, families)}</section>
<section id="history"><h2>History per environment</h2>
<p class="note">Median per run, its 95% interval shaded; red lines mark change points
(hover a point for its run).</p>
{_series(d)}</section>
<section id="runs"><h2>Runs</h2>
{_runs(d)}</section>
</main>
<script>
{script}</script>
</body>
</html>
"""
