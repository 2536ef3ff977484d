"""Figures of one run: overhead per environment, value distributions, mechanism costs.

Each ``*_figure`` function takes frames of :mod:`analysis` and returns a
matplotlib :class:`~matplotlib.figure.Figure`; each writer of the same name
without the suffix saves that figure under ``out_dir`` as PNG and SVG and
returns the paths. Figures are plain ``Figure`` objects, never pyplot's, so
nothing global is touched, no window opens and threads may draw side by side.

Every file is written atomically and carries ``ringbench plots format N`` in
its metadata (PNG ``Software``, SVG ``Creator``). Format history:

1. heatmap, ratio bars, distributions, mechanism breakdown.
"""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import blended_transform_factory

from analysis.stats import FloatArray
from ringbench.files import atomic_write_bytes
from ringbench.units import FIGURES, sig3, unit

FORMAT = 1
SOFTWARE = f"ringbench plots format {FORMAT}"
DPI = 150
DISTRIBUTION_BENCHMARKS = [
    "syscall-null",
    "trap-cpuid",
    "fault-anon",
    "sched-pipe-1cpu",
    "proc-fork",
    "io-direct-read",
    "net-tcp-rr",
    "mem-chase-4k",
]
ECDF_POINTS = 1000  # an ECDF of more values is drawn through this many quantiles
TIMES, DASH = "\N{MULTIPLICATION SIGN}", "\N{EN DASH}"
Colour = tuple[float, float, float, float]


# --- shared ---------------------------------------------------------------


def _one_run(frame: pd.DataFrame) -> str:
    runs = sorted(set(frame["run"].astype(str)))
    if len(runs) != 1:
        found = ", ".join(runs) or "none"
        raise ValueError(f"a figure shows one run; the frame holds runs: {found}")
    return runs[0]


def _save(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """``name``.png and ``name``.svg, each written atomically."""
    title = fig.get_suptitle().replace("\n", " ")
    metadata = {
        "png": {"Software": SOFTWARE, "Title": title},
        "svg": {"Creator": SOFTWARE, "Title": title, "Date": None},
    }
    written = []
    for fmt, meta in metadata.items():
        path = out_dir / f"{name}.{fmt}"
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata=meta)
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written


def _hosts(frame: pd.DataFrame) -> dict[str, str]:
    """host -> "host (virt_class)", baselines first, then by name."""
    baselines = set(frame["baseline"].astype(str)) - {""}
    pairs = dict(zip(frame["host"].astype(str), frame["virt_class"].astype(str), strict=True))
    order = sorted(pairs, key=lambda h: (h not in baselines, h))
    return {h: f"{h} ({pairs[h]}{', baseline' if h in baselines else ''})" for h in order}


def _palette(frame: pd.DataFrame) -> dict[str, Colour]:
    """One colour per host, the same in every figure of a run (hosts and baselines by name)."""
    names = sorted((set(frame["host"].astype(str)) | set(frame["baseline"].astype(str))) - {""})
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _benchmarks(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(family, benchmark) ordered by family, then name, as the overhead table lists them."""
    pairs = frame[["family", "benchmark"]].astype(str).drop_duplicates()
    return list(pairs.sort_values(["family", "benchmark"]).itertuples(index=False, name=None))


def _unit(ns: float) -> tuple[float, str]:
    """The unit for a time given in nanoseconds, and its scale in nanoseconds."""
    scale, name = unit(ns / 1e9, FIGURES)
    return scale * 1e9, name


def _plain(x: float, _pos: float | None = None) -> str:
    return f"{x:g}"


def _log_ticks(ax: Axes, axis: str, low: float, high: float) -> None:
    """Plain numbers on a log axis; 2, 3 and 5 labelled too when it spans few decades."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(FuncFormatter(_plain))
    if high / low < 50:
        target.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
        target.set_minor_formatter(FuncFormatter(_plain))
    else:
        target.set_minor_formatter(NullFormatter())


def _ratio_label(exponent: int) -> str:
    if exponent >= 0:
        return f"{TIMES}{2**exponent}"
    return f"{TIMES}1/{2**-exponent}"


def _env_labels(overhead: pd.DataFrame) -> tuple[dict[str, str], str]:
    """Environment labels and the title's baseline wording (named per row if several)."""
    labels = _hosts(overhead)
    baselines = sorted(set(overhead["baseline"].astype(str)))
    if len(baselines) == 1:
        return labels, baselines[0]
    of = dict(zip(overhead["host"].astype(str), overhead["baseline"].astype(str), strict=True))
    return {h: f"{label} / {of[h]}" for h, label in labels.items()}, "each host's own"


# --- overhead: heatmap ----------------------------------------------------


def heatmap_figure(overhead: pd.DataFrame) -> Figure:
    """Environments down, benchmarks across by family; colour log2(ratio), text the ratio."""
    run = _one_run(overhead)
    labels, baseline = _env_labels(overhead)
    hosts, benches = list(labels), _benchmarks(overhead)
    names = [b for _, b in benches]
    by = overhead.astype({"host": str, "benchmark": str})
    ratio = (
        by.pivot(index="host", columns="benchmark", values="ratio")
        .reindex(index=hosts, columns=names)
        .to_numpy(dtype=np.float64)
    )
    verdict = by.pivot(index="host", columns="benchmark", values="verdict")
    same = verdict.reindex(index=hosts, columns=names).to_numpy() == "same"
    with np.errstate(divide="ignore", invalid="ignore"):
        log2 = np.log2(ratio)
    finite = log2[np.isfinite(log2)]
    reach = max(1, math.ceil(float(np.max(np.abs(finite))))) if finite.size else 1
    step = 1 if reach <= 4 else 2 ** math.ceil(math.log2(reach / 4))
    limit = step * math.ceil(reach / step)

    fig = Figure(
        figsize=(max(6.5, 3.0 + 0.42 * len(names)), 3.2 + 0.4 * len(hosts)), layout="constrained"
    )
    ax = fig.add_subplot()
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.9")
    image = ax.imshow(np.ma.masked_invalid(log2), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    for i in range(len(hosts)):
        for j in range(len(names)):
            r = ratio[i, j]
            if not np.isfinite(r):
                ax.text(j, i, DASH, ha="center", va="center", fontsize=7, color="0.5")
                continue
            dark = abs(log2[i, j]) > 0.6 * limit
            colour = "0.4" if same[i, j] else ("white" if dark else "black")
            text = f"{r:.0f}" if r >= 10 else f"{r:.2g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
            if same[i, j]:
                ax.add_patch(
                    Rectangle(
                        (j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", lw=0, edgecolor="0.8"
                    )
                )
    ax.set_xticks(range(len(names)), labels=names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(hosts)), labels=[labels[h] for h in hosts], fontsize=8)
    ax.tick_params(length=0)
    families = [f for f, _ in benches]
    starts = [j for j in range(len(families)) if j == 0 or families[j] != families[j - 1]]
    for j in starts[1:]:
        ax.axvline(j - 0.5, color="white", lw=3)
    ends = [*starts[1:], len(families)]
    top = ax.secondary_xaxis("top")
    top.set_xticks(
        [(s + e - 1) / 2 for s, e in zip(starts, ends, strict=True)],
        labels=[families[s] for s in starts],
        fontsize=8,
        fontweight="bold",
    )
    top.tick_params(length=0)
    ticks = list(range(-limit, limit + 1, step))
    bar = fig.colorbar(image, ax=ax, ticks=ticks, shrink=0.9, pad=0.01)
    bar.ax.set_yticklabels([_ratio_label(t) for t in ticks], fontsize=8)
    bar.set_label("environment / baseline (log scale)", fontsize=8)
    fig.suptitle(f"Overhead: median time against baseline ({baseline})\nrun {run}", fontsize=11)
    fig.supxlabel(
        f"cell: median ratio; hatched, grey text: its 95% interval includes {TIMES}1 "
        f"(not resolved); {DASH}: not measured",
        fontsize=8,
    )
    return fig


def heatmap(overhead: pd.DataFrame, out_dir: Path, name: str = "overhead-heatmap") -> list[Path]:
    """Write :func:`heatmap_figure`; raises ValueError if the frame holds several runs."""
    return _save(heatmap_figure(overhead), out_dir, name)


# --- overhead: bars with intervals ---------------------------------------


def _split(benches: list[tuple[str, str]], parts: int) -> list[list[tuple[str, str]]]:
    """Whole families into ``parts`` consecutive groups of about as many benchmarks each."""
    groups: list[list[tuple[str, str]]] = [[] for _ in range(parts)]
    k = 0
    for i, (family, bench) in enumerate(benches):
        new_family = i > 0 and family != benches[i - 1][0]
        if new_family and k < parts - 1 and i >= len(benches) * (k + 1) / parts:
            k += 1
        groups[k].append((family, bench))
    return [g for g in groups if g]


def _bars_panel(
    ax: Axes, frame: pd.DataFrame, benches: list[tuple[str, str]], colours: dict[str, Colour]
) -> None:
    """Bars of ``benches``, one per environment, a bold header above each family."""
    centre: dict[str, float] = {}
    header: dict[str, float] = {}
    y = 0.0
    for family, bench in benches:
        if family not in header:
            header[family] = y
            y += 0.7
        centre[bench] = y
        y += 1.0
    labels = list(colours)
    thick = 0.8 / len(labels)
    mine = frame[frame["benchmark"].isin(centre) & frame["ratio"].notna()]
    for k, host in enumerate(labels):
        rows = mine[mine["host"] == host]
        ratio = rows["ratio"].to_numpy(dtype=np.float64)
        low = np.clip(ratio - rows["ratio_low"].to_numpy(dtype=np.float64), 0, None)
        high = np.clip(rows["ratio_high"].to_numpy(dtype=np.float64) - ratio, 0, None)
        ax.barh(
            np.array([centre[b] for b in rows["benchmark"]]) - 0.4 + thick * (k + 0.5),
            ratio - 1,
            left=1,
            height=thick * 0.9,
            color=colours[host],
            xerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]),
            error_kw={"ecolor": "0.25", "elinewidth": 0.8, "capsize": 1.5},
        )
    ax.axvline(1, color="0.2", lw=1)
    ax.set_yticks(list(centre.values()), labels=list(centre), fontsize=8)
    side = blended_transform_factory(ax.transAxes, ax.transData)
    for family, at in header.items():
        ax.text(0.005, at, family, transform=side, fontsize=8, fontweight="bold", va="center")
    ax.set_ylim(y - 0.5, -0.5)
    ax.grid(axis="x", which="both", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("environment / baseline (log scale)")


def ratio_bars_figure(overhead: pd.DataFrame) -> Figure:
    """Per benchmark, one horizontal bar per environment from x1 to its ratio, with its 95% CI.

    Families are split into two columns of panels beyond six environments.
    """
    run = _one_run(overhead)
    labels, baseline = _env_labels(overhead)
    every = _palette(overhead)
    colours = {h: every[h] for h in labels}
    groups = _split(_benchmarks(overhead), 1 if len(labels) <= 6 else 2)
    slot = max(0.3, 0.05 * len(labels) + 0.1)  # inches per benchmark
    tallest = max(len(g) + 0.7 * len({f for f, _ in g}) for g in groups)
    legend_rows = math.ceil(len(labels) / 4)
    fig = Figure(
        figsize=(1.5 + 7.5 * len(groups) ** 0.8, 1.6 + 0.22 * legend_rows + slot * tallest),
        layout="constrained",
    )
    axes: list[Axes] = list(fig.subplots(1, len(groups), squeeze=False, sharex=True).flat)
    frame = overhead.astype({"host": str, "benchmark": str})
    for ax, group in zip(axes, groups, strict=True):
        _bars_panel(ax, frame, group, colours)
    values = overhead[["ratio", "ratio_low", "ratio_high"]].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = float(values.min(initial=0.9)), float(values.max(initial=1.1))
    axes[0].set_xscale("log")
    axes[0].set_xlim(lo / 1.3, hi * 1.3)
    for ax in axes:
        _log_ticks(ax, "x", lo, hi)
    handles = [Patch(color=colours[h], label=label) for h, label in labels.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    fig.suptitle(
        f"Overhead against baseline ({baseline}), median and 95% interval\nrun {run}", fontsize=11
    )
    return fig


def ratio_bars(overhead: pd.DataFrame, out_dir: Path, name: str = "overhead-bars") -> list[Path]:
    """Write :func:`ratio_bars_figure`."""
    return _save(ratio_bars_figure(overhead), out_dir, name)


# --- distributions ---------------------------------------------------------


def _ecdf(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    x = np.sort(values)
    y = np.arange(1, x.size + 1, dtype=np.float64) / x.size
    if x.size > ECDF_POINTS:
        y = np.linspace(0.0, 1.0, ECDF_POINTS)
        x = np.quantile(x, y)
    return x, y


def distributions_figure(df: pd.DataFrame, benchmarks: list[str] | None = None) -> Figure:
    """One panel per benchmark: the ECDF of every value per host, log time axis.

    ``benchmarks`` defaults to ``DISTRIBUTION_BENCHMARKS`` (those the frame
    holds; every benchmark it holds if none of them); absent ones are skipped.
    """
    run = _one_run(df)
    frame = df.astype({"host": str, "benchmark": str})
    present = set(frame["benchmark"])
    wanted = benchmarks or [b for b in DISTRIBUTION_BENCHMARKS if b in present]
    if not wanted and benchmarks is None:
        wanted = [b for _, b in _benchmarks(df)]
    chosen = [b for b in wanted if b in present]
    if not chosen:
        raise ValueError(f"none of {', '.join(wanted)} in run {run}")
    labels, colours = _hosts(df), _palette(df)
    ncols = min(4, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    fig = Figure(figsize=(3.4 * ncols + 0.4, 2.7 * nrows + 1.4), layout="constrained")
    axes: list[Axes] = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    for ax, bench in zip(axes, chosen, strict=False):
        rows = frame[frame["benchmark"] == bench]
        seconds = rows["value_s"].to_numpy(dtype=np.float64)
        scale, unit = _unit(float(np.median(seconds)) * 1e9)
        for host in labels:
            mine = rows.loc[rows["host"] == host, "value_s"].to_numpy(dtype=np.float64)
            mine = mine[np.isfinite(mine) & (mine > 0)]
            if mine.size:
                x, y = _ecdf(mine * 1e9 / scale)
                ax.step(x, y, where="post", color=colours[host], lw=1.2, label=labels[host])
        ax.set_xscale("log")
        positive = seconds[seconds > 0] * 1e9 / scale
        if positive.size:
            _log_ticks(ax, "x", float(positive.min()), float(positive.max()))
        ax.axhline(0.5, color="0.75", lw=0.6, ls=":")
        ax.set_ylim(0, 1.02)
        operation = str(rows["operation"].iat[0]) if "operation" in rows else "operation"
        ax.set_xlabel(f"{unit} per {operation} (log scale)", fontsize=8)
        ax.set_title(bench, fontsize=9)
        ax.tick_params(labelsize=7, which="both")
        ax.grid(color="0.92", lw=0.6)
    for ax in axes[: len(chosen) : ncols]:
        ax.set_ylabel("fraction of values ≤ x", fontsize=8)
    for ax in axes[len(chosen) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=colours[h], label=label) for h, label in labels.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(labels), 5), fontsize=8)
    fig.suptitle(f"Distribution of every value, per host (ECDF)\nrun {run}", fontsize=11)
    return fig


def distributions(
    df: pd.DataFrame,
    out_dir: Path,
    name: str = "distributions",
    benchmarks: list[str] | None = None,
) -> list[Path]:
    """Write :func:`distributions_figure`."""
    return _save(distributions_figure(df, benchmarks), out_dir, name)


# --- mechanisms ------------------------------------------------------------


def _ns_text(ns: float) -> str:
    scale, unit = _unit(ns)
    return f"{sig3(ns / scale)} {unit}"


def _mechanism_panel(ax: Axes, rows: pd.DataFrame, narrow: bool) -> None:
    """Bars of one mechanism, one slot per host (``rows`` indexed by host, NaN where absent)."""
    first = rows.dropna(subset=["what"]).iloc[0]
    name, subtrahend = str(first["mechanism"]), str(first["subtrahend"])
    part = rows["part_ns"].fillna(0.0).to_numpy(dtype=np.float64)
    cost, low, high, ratio = (
        rows[c].to_numpy(dtype=np.float64)
        for c in ("cost_ns", "cost_low_ns", "cost_high_ns", "ratio")
    )
    top = float(np.nanmax(np.concatenate([part + cost, part + high, [1.0]])))
    scale, unit = _unit(top)
    measured = np.isfinite(cost)
    resolved = measured & (low > 0) & (cost > 0)
    x = np.arange(len(rows))
    if subtrahend:
        ax.bar(x, part / scale, color="0.8", label=subtrahend)
    ax.bar(x, np.where(resolved, cost, 0.0) / scale, bottom=part / scale, color="C0", label=name)
    ax.errorbar(
        x[measured],
        (part + cost)[measured] / scale,
        yerr=np.clip(np.vstack([cost - low, high - cost])[:, measured], 0, None) / scale,
        fmt="none",
        ecolor="0.2",
        elinewidth=0.9,
        capsize=3,
    )
    style: dict[str, Any] = {
        "ha": "center",
        "va": "bottom",
        "fontsize": 7,
        "rotation": 90 if narrow else 0,
    }
    floor = blended_transform_factory(ax.transData, ax.transAxes)
    for i in range(len(rows)):
        if not measured[i]:
            note = rows["note"].iat[i]
            note = note if isinstance(note, str) and note else "not measured"
            text = "\n".join(textwrap.wrap(note, 16))
            ax.text(i, 0.03, text, transform=floor, color="0.4", **style)
            continue
        if resolved[i]:
            text = _ns_text(cost[i]) + (
                f"\n{TIMES}{sig3(ratio[i])}" if np.isfinite(ratio[i]) else ""
            )
        else:
            text = f"not resolved\n{_ns_text(cost[i])}"
        ax.annotate(
            text,
            (i, (part[i] + max(cost[i], high[i])) / scale),
            xytext=(0, 2),
            textcoords="offset points",
            color="0.1" if resolved[i] else "0.4",
            **style,
        )
    ax.set_ylim(0, top / scale * 1.35)
    ax.set_xticks(x, labels=list(rows.index), fontsize=7, rotation=45 if narrow else 0)
    ax.set_ylabel(f"time ({unit})", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    what = "\n".join(textwrap.wrap(str(first["what"]), 50))
    ax.set_title(f"{name}\n{what}", fontsize=8)
    if subtrahend:
        ax.legend(fontsize=7, loc="upper left", frameon=False)


def mechanism_breakdown_figure(mech: pd.DataFrame) -> Figure:
    """One panel per mechanism, one bar per host: subtracted part below, the cost on top.

    A panel has a bar for each host with a row of its mechanism (the runtime
    mechanisms of :data:`analysis.mechanisms.BETWEEN` apply to a few hosts, and
    their subtracted part is the other host's figure). Mechanisms no host
    measured are left out; ValueError if none is left.
    """
    run = _one_run(mech)
    labels = _hosts(mech)
    measured = mech.groupby("mechanism", sort=False)["cost_ns"].apply(lambda s: s.notna().any())
    names = [m for m in dict.fromkeys(mech["mechanism"].astype(str)) if measured[m]]
    if not names:
        raise ValueError(f"run {run}: no mechanism measured on any host")
    width = max(3.6, 0.55 * len(labels) + 1.2)
    ncols = max(1, min(4, int(15 // width), len(names)))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(width * ncols, 3.3 * nrows + 0.8), layout="constrained")
    axes: list[Axes] = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    frame = mech.astype({"host": str, "mechanism": str})
    for ax, name in zip(axes, names, strict=False):
        mine = frame[frame["mechanism"] == name].set_index("host")
        # a slot per host the mechanism applies to (the runtime ones apply to a few)
        rows = mine.reindex([h for h in labels if h in mine.index])
        _mechanism_panel(ax, rows, narrow=len(labels) > 5)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    classes = "; ".join(label.replace(" (", ": ", 1)[:-1] for label in labels.values())
    fig.supxlabel("\n".join(textwrap.wrap(classes, int(14 * width * ncols))), fontsize=8)
    fig.suptitle(
        f"Cost of one operation of each mechanism (median, 95% interval; {TIMES}: against baseline)"
        f"\nrun {run}",
        fontsize=11,
    )
    return fig


def mechanism_breakdown(mech: pd.DataFrame, out_dir: Path, name: str = "mechanisms") -> list[Path]:
    """Write :func:`mechanism_breakdown_figure`."""
    return _save(mechanism_breakdown_figure(mech), out_dir, name)


def write_all(
    df: pd.DataFrame, overhead: pd.DataFrame, mech: pd.DataFrame, out_dir: Path
) -> list[Path]:
    """Every figure whose input frame is not empty, into ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if not overhead.empty:
        written += heatmap(overhead, out_dir) + ratio_bars(overhead, out_dir)
    if not df.empty:
        written += distributions(df, out_dir)
    if not mech.empty and mech["cost_ns"].notna().any():
        written += mechanism_breakdown(mech, out_dir)
    return written


# --- real workloads (analysis.workloads) -------------------------------------


def workload_scatter_figure(rows: pd.DataFrame) -> Figure:
    """Predicted against measured, log-log, one colour per environment, the identity line
    and the 25% band; each point's whiskers its two 95% intervals."""
    done = rows[np.isfinite(rows["measured_s"].astype(float))]
    fig = Figure(figsize=(6.5, 6))
    ax = fig.add_subplot()
    if done.empty:
        ax.text(0.5, 0.5, "no workload measured", ha="center", transform=ax.transAxes)
        return fig
    colours = colormaps["tab10"]
    for i, (host, g) in enumerate(done.groupby("host", sort=True)):
        ax.errorbar(
            g["measured_s"],
            g["predicted_s"],
            xerr=[g["measured_s"] - g["measured_low_s"], g["measured_high_s"] - g["measured_s"]],
            yerr=[
                (g["predicted_s"] - g["predicted_low_s"]).clip(lower=0),
                (g["predicted_high_s"] - g["predicted_s"]).clip(lower=0),
            ],
            fmt="o",
            color=colours(i % 10),
            label=str(host),
            capsize=2,
        )
        for _, r in g.iterrows():
            ax.annotate(str(r["workload"]), (r["measured_s"], r["predicted_s"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
    values = pd.concat([done["measured_s"], done["predicted_s"]]).astype(float)
    values = values[values > 0]
    low, high = float(values.min()) / 1.5, float(values.max()) * 1.5
    line = np.geomspace(low, high, 50)
    ax.plot(line, line, color="black", linewidth=0.8, label="predicted = measured")
    ax.fill_between(line, line / 1.25, line * 1.25, color="grey", alpha=0.15, label="within 25%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("measured (s)")
    ax.set_ylabel("predicted from the baseline's counts (s)")
    ax.legend(fontsize=7)
    ax.set_title("real workloads: predicted against measured")
    fig.tight_layout()
    return fig


def workload_terms_figure(rows: pd.DataFrame) -> Figure:
    """Per environment, one stacked bar per workload: the baseline's time, then each term
    the model adds (negative terms below the axis), beside a dot at the measured time."""
    hosts = sorted(rows["host"].astype(str).unique())
    fig = Figure(figsize=(11, 3.2 * max(1, len(hosts))))
    if not hosts:
        return fig
    events = list(dict.fromkeys(t["event"] for terms in rows["terms"] for t in terms))
    colours = {e: colormaps["tab20"](i % 20) for i, e in enumerate(["baseline", *events])}
    for k, host in enumerate(hosts):
        ax = fig.add_subplot(len(hosts), 1, k + 1)
        g = rows[rows["host"] == host].reset_index(drop=True)
        x = np.arange(len(g))
        up, down = g["baseline_s"].to_numpy(dtype=float), np.zeros(len(g))
        ax.bar(x, up, color=colours["baseline"], label="baseline's time")
        for event in events:
            seconds = np.array(
                [next((t["seconds"] for t in terms if t["event"] == event), 0.0)
                 for terms in g["terms"]], dtype=float,
            )  # fmt: skip
            pos, neg = seconds.clip(min=0), seconds.clip(max=0)
            ax.bar(x, pos, bottom=up, color=colours[event], label=event)
            ax.bar(x, neg, bottom=down, color=colours[event])
            up, down = up + pos, down + neg
        ax.plot(x, g["measured_s"], "k_", markersize=18, mew=2, label="measured")
        ax.set_xticks(x, g["workload"].astype(str), fontsize=8)
        ax.set_ylabel(f"{host} (s)")
        ax.axhline(0, color="black", linewidth=0.5)
        if k == 0:
            ax.legend(fontsize=6, ncol=4, loc="upper left")
    fig.suptitle("what each term adds to the baseline's time")
    fig.tight_layout()
    return fig
