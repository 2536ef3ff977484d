"""The runtimes users deploy (issue 16): Podman with its seccomp profile, its twin without,
gVisor, beside the lab's namespaces container: mechanisms, calibration, references, reports."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.calibration import SAME_KERNEL
from analysis.mechanisms import (
    BETWEEN_HOSTS,
    INTERCEPTION,
    NAMESPACES,
    SECCOMP_FILTER,
    mechanisms,
)
from analysis.plots import mechanism_breakdown_figure
from analysis.references import (
    MECHANISM_BESIDE_COLUMNS,
    beside_mechanisms,
    beside_published,
    published,
)
from analysis.stats import summarize
from analysis.validity import validity
from reports import views
from reports.dashboard import gather, render
from tests.analysis_data import (
    FRAME_COLUMNS,
    RUNTIME_NUMERIC,
    RUNTIME_TEXT,
    Host,
    frame,
    gvisor,
    podman,
    podman_nosec,
)
from tests.history_data import write_run

# True medians (s): the null system call as seen on this machine (issue 16: 192-205 ns
# unconfined, 250-275 ns under Podman's default profile, 110-124 us under runsc ptrace).
NATIVE = 200e-9
FILTER = 70e-9
SENTRY = 115e-6
CALIBRATED = {"syscall-read": 250e-9, "trap-rdtsc": 20e-9, "mem-copy": 2e-6}
QUIET = {"process_sigma": 0.005, "value_sigma": 0.01}


def lab(**overrides: Host) -> list[Host]:
    """native, podman (one filter), podman-nosec (none), gvisor and the lab's container."""
    base = {"syscall-null": NATIVE, **CALIBRATED}
    hosts = {
        "native": Host("native", medians=dict(base)),
        "podman": podman(**base | {"syscall-null": NATIVE + FILTER}),
        "podman-nosec": podman_nosec(**base),
        "gvisor": gvisor(**base | {"syscall-null": SENTRY}),
        "container": Host("container", "container", "native", dict(base)),
    }
    return list((hosts | overrides).values())


def runtime_rows(mech: pd.DataFrame) -> pd.DataFrame:
    return mech[mech["mechanism"].isin(BETWEEN_HOSTS)].set_index(["host", "mechanism"])


def test_each_runtime_mechanism_against_its_twin_or_baseline() -> None:
    df = frame(lab(), np.random.default_rng(16), **QUIET)
    mech = mechanisms(df)
    rows = runtime_rows(mech)
    # rows only for the hosts each applies to
    assert set(rows.index) == {
        ("podman", SECCOMP_FILTER),
        ("podman-nosec", NAMESPACES),
        ("container", NAMESPACES),
        ("gvisor", INTERCEPTION),
    }
    against = rows["baseline"].to_dict()
    assert against == {
        ("podman", SECCOMP_FILTER): "podman-nosec",
        ("podman-nosec", NAMESPACES): "native",
        ("container", NAMESPACES): "native",
        ("gvisor", INTERCEPTION): "native",
    }
    truth = {
        ("podman", SECCOMP_FILTER): (FILTER, (NATIVE + FILTER) / NATIVE),
        ("podman-nosec", NAMESPACES): (0.0, 1.0),
        ("container", NAMESPACES): (0.0, 1.0),
        ("gvisor", INTERCEPTION): ((SENTRY - NATIVE), SENTRY / NATIVE),
    }
    for key, (cost_s, ratio) in truth.items():
        r = rows.loc[key]
        assert r["cost_low_ns"] <= cost_s * 1e9 <= r["cost_high_ns"], key
        assert r["ratio_low"] <= ratio <= r["ratio_high"], key
        # paired: the median of the process pairs' differences, near the figures' difference
        assert abs(r["cost_ns"] - (r["total_ns"] - r["part_ns"])) < 0.02 * r["total_ns"]
        assert r["added_ns"] == r["cost_ns"] and r["baseline_ns"] == r["part_ns"]
        assert r["minuend"] == "syscall-null" and r["subtrahend"].startswith("syscall-null (")
    seccomp = rows.loc[("podman", SECCOMP_FILTER)]
    assert seccomp["cost_ns"] == pytest.approx(FILTER * 1e9, rel=0.1)
    assert seccomp["note"] == "" and seccomp["subtrahend"] == "syscall-null (twin)"
    # about zero by construction: resolved neither way, and said so
    spaces = rows.loc[("container", NAMESPACES)]
    assert spaces["cost_low_ns"] < 0 < spaces["cost_high_ns"]
    assert spaces["note"] == "difference not resolved above zero"
    # the ratio is the host's null system call over the other host's, as in the overhead table
    table = analysis.overhead(df).set_index(["host", "benchmark"])
    assert rows.loc[("gvisor", INTERCEPTION), "ratio"] == pytest.approx(
        table.loc[("gvisor", "syscall-null"), "ratio"]
    )
    # the seven mechanisms of every host stay, a host's rows together
    assert (mech.groupby("host").size() >= 7).all()
    hosts = list(mech["host"])
    assert hosts == sorted(hosts, key=hosts.index)


def test_a_filtered_host_without_a_twin_has_a_note_and_no_figure() -> None:
    df = frame([h for h in lab() if h.name != "podman-nosec"], np.random.default_rng(1))
    row = runtime_rows(mechanisms(df)).loc[("podman", SECCOMP_FILTER)]
    assert row["baseline"] == "" and math.isnan(row["cost_ns"]) and math.isnan(row["ratio"])
    assert row["note"] == (
        "no twin: no container host of engine podman with baseline native runs without a "
        "seccomp filter in this run"
    )


@pytest.mark.parametrize(
    ("baseline", "meta"),
    [
        ("other", {}),  # another baseline
        ("native", {"container_engine": "docker"}),  # another engine
        ("native", {"oci_runtime": "crun"}),  # another OCI runtime
        ("native", {"seccomp_filters": math.nan}),  # its filters unknown
        ("native", {"seccomp_filters": 2.0}),  # filtered too
    ],
)
def test_a_twin_differs_only_by_its_filter(baseline: str, meta: dict[str, object]) -> None:
    twin = podman_nosec(**{"syscall-null": NATIVE})
    twin.baseline, twin.meta = baseline, twin.meta | meta
    hosts = [h for h in lab() if h.name != "podman-nosec"] + [twin]
    rows = runtime_rows(mechanisms(frame(hosts, np.random.default_rng(2))))
    assert rows.loc[("podman", SECCOMP_FILTER), "note"].startswith("no twin: no container host")


def test_an_engine_unknown_has_no_twin_and_an_older_frame_still_works() -> None:
    hosts = lab()
    hosts[1].meta = {**hosts[1].meta, "container_engine": ""}
    row = runtime_rows(mechanisms(frame(hosts, np.random.default_rng(3)))).loc[
        ("podman", SECCOMP_FILTER)
    ]
    assert row["note"] == "no twin: its container engine is not known"
    # results from before the probe read seccomp: no such columns, every container unknown
    old = frame(lab(), np.random.default_rng(4)).drop(columns=RUNTIME_NUMERIC + RUNTIME_TEXT)
    rows = runtime_rows(mechanisms(old))
    assert set(rows.index) == {(h, NAMESPACES) for h in ("podman", "podman-nosec", "container")} | {
        ("gvisor", INTERCEPTION)
    }


def test_several_twins_take_the_first_and_say_so() -> None:
    hosts = [*lab(), podman_nosec("podman-nosec-2", **{"syscall-null": NATIVE})]
    row = runtime_rows(mechanisms(frame(hosts, np.random.default_rng(5)))).loc[
        ("podman", SECCOMP_FILTER)
    ]
    assert row["baseline"] == "podman-nosec"
    assert row["note"] == "twin podman-nosec, first of podman-nosec, podman-nosec-2"


def test_the_frame_builder_carries_the_runtime_columns() -> None:
    df = frame(lab(), np.random.default_rng(6))
    assert list(df.columns) == FRAME_COLUMNS
    filters = df.groupby("host", observed=True)["seccomp_filters"].first()
    assert filters["podman"] == 1 and filters["podman-nosec"] == 0
    assert math.isnan(filters["gvisor"]) and math.isnan(filters["native"])


def test_calibration_leaves_the_filtered_hosts_system_calls_out() -> None:
    df = frame(lab(), np.random.default_rng(7), **QUIET)
    over = analysis.overhead(df)
    rows = analysis.calibration(over, df)
    known = set(zip(rows["host"], rows["benchmark"], rows["why"], strict=True))
    same = {"syscall-null", "syscall-read", "trap-rdtsc", "mem-copy"}
    assert known == (
        {("podman", b, SAME_KERNEL) for b in ("trap-rdtsc", "mem-copy")}
        | {("podman-nosec", b, SAME_KERNEL) for b in same}
        | {("container", b, SAME_KERNEL) for b in same}
    )  # gvisor: its own kernel (4.4.0), and its Sentry's ticks stop the workload: no truth
    assert rows["ok"].all()
    # podman's syscall-null is x1.35, yet the run is not flagged: it is no known truth
    assert over.set_index(["host", "benchmark"]).loc[("podman", "syscall-null"), "ratio"] > 1.2


def test_the_published_figures_load_with_their_sources() -> None:
    refs = published()
    new = refs[refs["source"].isin(["gvisor-ant2021", "gvisor-perf", "cook2020"])]
    ratio = {(r.source, r.environment): r.ratio for r in new.itertuples()}
    assert ratio[("gvisor-ant2021", "gVisor runsc, ptrace platform")] == pytest.approx(6249 / 62)
    assert ratio[("gvisor-ant2021", "gVisor runsc, KVM platform")] == pytest.approx(830 / 62)
    against_runc = ratio[("gvisor-perf", "gVisor runsc, ptrace platform, against runc")]
    assert against_runc == pytest.approx(38219 / 1939)
    assert ratio[("cook2020", "seccomp: 1 filter, bitmapped")] == pytest.approx(749 / 728)
    assert ratio[("cook2020", "seccomp: 4 filters, one reading an argument")] == pytest.approx(
        844 / 728
    )
    assert set(new["mechanism"]) == {INTERCEPTION, SECCOMP_FILTER}
    assert all("Xeon E5-2650 v2" in n for n in new[new.source == "gvisor-ant2021"]["note"])
    assert all("n1-standard-4" in n for n in new[new.source == "gvisor-perf"]["note"])
    assert all("20200923232923.3142503-6" in c for c in new[new.source == "cook2020"]["citation"])
    assert (refs.loc[~refs["source"].isin(new["source"]), "mechanism"] == "").all()


def test_an_older_references_file_without_mechanisms_loads(tmp_path: Path) -> None:
    older = tmp_path / "refs.csv"
    published().drop(columns=["mechanism", "ratio"]).head(3).to_csv(older, index=False)
    assert set(published(older)["mechanism"]) == {""}


def test_the_references_stand_beside_the_new_environments() -> None:
    df = frame(lab(), np.random.default_rng(8), **QUIET)
    mech = mechanisms(df)
    beside = beside_mechanisms(mech)
    assert list(beside.columns) == MECHANISM_BESIDE_COLUMNS
    by = beside.groupby(["mechanism", "host", "against"])["source"].apply(set).to_dict()
    assert by == {
        (SECCOMP_FILTER, "podman", "podman-nosec"): {"cook2020"},
        (INTERCEPTION, "gvisor", "native"): {"gvisor-ant2021", "gvisor-perf"},
    }
    four = beside[beside["operation"] == "getpid RET_ALLOW 4 filters (full)"].iloc[0]
    assert four["published_added"] == 116 and four["unit"] == "ns"
    # the overhead table's syscall-null of gvisor beside the gVisor figures, no seccomp row
    over = beside_published(analysis.overhead(df))
    assert set(over[over["host"] == "gvisor"]["source"]) == {"gvisor-ant2021", "gvisor-perf"}
    assert "cook2020" not in set(over["source"])


def test_an_application_kernel_cheaper_than_the_disk_is_flagged() -> None:
    """gVisor's Sentry is a kernel of its own: its fdatasync may stop in its overlay."""
    io = {"io-write-sync": 1e-3, "io-pread": 2e-6}
    sandbox = gvisor(**{"io-write-sync": 0.2e-3, "io-pread": 8e-6})
    df = frame([Host("native", medians=dict(io)), sandbox], np.random.default_rng(9))
    flags = validity(df, summarize(df))
    found = flags[flags["check"] == "durability"]
    assert list(zip(found["host"], found["benchmark"], strict=True)) == [
        ("gvisor", "io-write-sync")
    ]


def test_the_views_show_the_runtime_rows_where_they_apply() -> None:
    df = frame(lab(), np.random.default_rng(10), **QUIET)
    mech = mechanisms(df)
    view = views.mechanism_view(mech)
    assert "against podman-nosec (×1.3" in view.at[SECCOMP_FILTER, "podman (container)"]
    assert view.at[SECCOMP_FILTER, "native (hardware-assisted)"] == ""
    assert view.at[INTERCEPTION, "gvisor (application-kernel)"].startswith("11")
    assert not view.isna().any().any()
    text = views.conclusion(analysis.overhead(df), mech, pd.DataFrame())
    podman_line = next(line for line in text.splitlines() if line.startswith("- **podman**"))
    added = re.search(r"Its seccomp filter adds ([0-9.]+) ns", podman_line)
    assert added and float(added.group(1)) == pytest.approx(FILTER * 1e9, rel=0.05), podman_line
    assert "against podman-nosec (×1.3" in podman_line
    container_line = next(line for line in text.splitlines() if "**container**" in line)
    assert "Its namespaces add " in container_line
    assert container_line.endswith("; not resolved above zero.")
    gvisor_line = next(line for line in text.splitlines() if "**gvisor**" in line)
    assert "system-call interception adds 11" in gvisor_line
    table = views.published_mechanism_view(beside_mechanisms(mech))
    seccomp = table[table["mechanism"] == SECCOMP_FILTER]
    assert seccomp["measured"].str.startswith("podman against podman-nosec: ×1.3").all()
    assert any(p.startswith("×1.16, +116 ns seccomp: 4 filters") for p in seccomp["published"])


def test_the_mechanism_figure_has_a_bar_per_host_a_mechanism_applies_to() -> None:
    df = frame(lab(), np.random.default_rng(11), **QUIET)
    fig = mechanism_breakdown_figure(mechanisms(df))
    ticks = {
        ax.get_title().split("\n")[0]: [t.get_text() for t in ax.get_xticklabels()]
        for ax in fig.axes
        if ax.get_visible() and ax.get_title()
    }
    assert ticks[SECCOMP_FILTER] == ["podman"]
    assert ticks[INTERCEPTION] == ["gvisor"]
    assert sorted(ticks[NAMESPACES]) == ["container", "podman-nosec"]
    assert len(ticks["ring transition"]) == 5


def test_the_dashboard_shows_the_latest_runs_mechanisms(tmp_path: Path) -> None:
    """A store of one run of the lab's shape on disk (gather computes its mechanisms), then
    the synthetic run's, whose seccomp facts the on-disk format may not carry yet."""
    figures = {
        "native": {"syscall-null": NATIVE},
        "container": {"syscall-null": NATIVE},
        "gvisor": {"syscall-null": SENTRY},
    }
    facts = {"gvisor": {"virt_class": "application-kernel", "kernel": "4.4.0"}}
    write_run(tmp_path, 0, figures, facts, baseline="native")
    gathered = gather(tmp_path)
    assert set(zip(*(gathered.mechanisms[c] for c in ("host", "mechanism")), strict=True)) >= {
        ("container", NAMESPACES),
        ("gvisor", INTERCEPTION),
    }
    page = render(gathered)
    section = page[page.index('id="mechanisms"') : page.index('id="history"')]
    row = next(r for r in section.split("<tr")[1:] if "system-call interception" in r)
    assert 'data-host="gvisor" data-family="syscall"' in row and "gvisor-ant2021" in row
    assert '<meta name="ringbench-dashboard-format" content="3">' in page

    mech = mechanisms(frame(lab(), np.random.default_rng(12), **QUIET))
    page = render(replace(gathered, mechanisms=mech, published=beside_mechanisms(mech)))
    section = page[page.index('id="mechanisms"') : page.index('id="history"')]
    row = next(r for r in section.split("<tr")[1:] if "seccomp filter" in r)
    assert 'data-host="podman"' in row and "<td>podman-nosec</td>" in row
    assert "cook2020" in row and "+116 ns" in row


def test_the_mechanism_table_names_the_twin_and_leaves_other_hosts_blank() -> None:
    """``ringbench overhead``'s mechanism table: the seccomp filter's cell says what it is
    measured against (``vs podman-nosec``: not the host's baseline); a host a runtime
    mechanism does not apply to has an empty cell, not an error (a KeyError once)."""
    import io

    from rich.console import Console

    from runners.cli.tables import mechanism_table

    mech = mechanisms(frame(lab(), np.random.default_rng(17), **QUIET))
    buffer = io.StringIO()
    Console(file=buffer, width=400, color_system=None).print(mechanism_table(mech))
    out = buffer.getvalue()
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    seccomp = lines["seccomp filter"]
    assert "vs podman-nosec" in out and out.count(" vs ") == 1, out
    cells = [c.strip() for c in seccomp.strip().strip("│").split("│")]
    header = next(line for line in out.splitlines() if "mechanism" in line and "┃" in line)
    hosts = [c.strip() for c in header.strip().strip("┃").split("┃")][2:]
    filled = {h for h, c in zip(hosts, cells[2:], strict=True) if c}
    assert filled == {"podman"}, (filled, seccomp)
    assert "ring transition" in lines and "system-call interception" in lines
