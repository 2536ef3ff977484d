"""A broken or hostile run never takes the store down; host names never reach run files;
host text is escaped wherever it is shown (issue 14).

The stores are real run directories on disk (tests.history_data writes them as the
runners do), the poison is written into their files as a broken disk, an older
ringbench or a hostile host would leave it.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyperf
import pytest

import analysis
from analysis.gate_report import junit_xml, markdown
from analysis.history import history, history_before, update_index
from analysis.regress import regressions
from analysis.tidy import load_hosts
from reports.dashboard import build, gather, render
from reports.render import host_pages, inside, pages
from reports.views import conclusion
from ringbench.errors import UserError
from ringbench.progress import Level, Silent
from ringbench.results import Manifest, RunDir, host_file_clashes, host_file_problem
from ringbench.results.text import markdown_text
from runners.cli import main
from tests.analysis_data import Host, frame
from tests.history_data import FIGURES, run_id, write_run

HOSTILE = "<script>alert(1)</script>|[x](y)\n`*_#&\\ \x00\x1b[31m"


class Recorder(Silent):
    """A :class:`ringbench.progress.Progress` that keeps the messages it hears."""

    def __init__(self) -> None:
        self.messages: list[tuple[Level, str]] = []

    def message(self, text: str, *, level: Level = Level.INFO) -> None:
        self.messages.append((level, text))


def suite_of(run: Path, host: str = "native") -> Path:
    return RunDir(run).suite_path(host)


def edit_suite(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    """A poison that rewrites the suite's JSON document through ``edit``."""

    def poison(run: Path) -> None:
        path = suite_of(run)
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))  # NaN and 10**400 are what json.dumps writes

    return poison


def run_meta(**change: object) -> Callable[[Path], None]:
    """The first process's metadata changed."""
    return edit_suite(lambda d: d["benchmarks"][0]["runs"][0]["metadata"].update(change))


def suite_meta(**change: object) -> Callable[[Path], None]:
    return edit_suite(lambda d: d["metadata"].update(change))


def value(v: object) -> Callable[[Path], None]:
    """One more value in the first process."""
    return edit_suite(lambda d: d["benchmarks"][0]["runs"][0]["values"].append(v))


def manifest_config(**change: object) -> Callable[[Path], None]:
    def poison(run: Path) -> None:
        path = run / "manifest.json"
        doc = json.loads(path.read_text())
        doc["config"].update(change)
        path.write_text(json.dumps(doc))

    return poison


def manifest_text(text: Callable[[str], str]) -> Callable[[Path], None]:
    def poison(run: Path) -> None:
        path = run / "manifest.json"
        path.write_text(text(path.read_text()))

    return poison


def truncate(run: Path) -> None:
    path = suite_of(run)
    path.write_bytes(path.read_bytes()[:300])


POISONS: dict[str, Callable[[Path], None]] = {
    "a suite shaped [[x]]": lambda run: suite_of(run).write_text('{"benchmarks": [["x"]]}'),
    "a truncated suite": truncate,
    "steal_ticks 10**400": run_meta(steal_ticks=10**400),
    "steal_ticks beyond 64 bits": run_meta(steal_ticks=2**70),
    "loops 0": run_meta(loops=0),
    "a NaN value": value(math.nan),
    "a negative value": value(-1e-7),
    "a zero value": value(0),
    "an absurd value": value(3e7),
    "a value that is text": value("1e-7"),
    "a host name of a megabyte": suite_meta(host="h" * 2**20),
    "a format that is a list": suite_meta(ringbench_format=[1]),
    "a suite naming another host": suite_meta(host="other"),
    "a manifest setting NaN": manifest_config(min_time_s=math.nan),
    "a manifest setting 10**400": manifest_config(processes=10**400),
    "a manifest setting of a megabyte": manifest_config(cpu="x" * 2**20),
    "a manifest elapsed_s 1e400": manifest_text(
        lambda t: t.replace("{", '{"elapsed_s": 1e400, ', 1)
    ),
    "a manifest nested a million deep": manifest_text(
        lambda t: '{"format_version": 2, "config": ' + "[" * 10**6 + "]" * 10**6 + "}"
    ),
}


@pytest.mark.parametrize("poison", POISONS, ids=list(POISONS))
def test_a_poisoned_run_is_left_out_in_one_line_and_the_others_kept(
    tmp_path: Path, poison: str
) -> None:
    for i in range(2):
        write_run(tmp_path, i, FIGURES)
    bad = write_run(tmp_path, 2, FIGURES)
    POISONS[poison](bad)
    progress = Recorder()
    frame_ = history(tmp_path, progress)
    assert list(dict.fromkeys(frame_["run"])) == [run_id(0), run_id(1)]
    (line,) = frame_.attrs["skipped"]
    assert line.startswith(bad.name) and "\n" not in line and len(line) <= 300
    assert progress.messages == [(Level.WARNING, f"left out of the history: {line}")]
    # the index holds the good runs only, and reading it again still works
    assert set(json.loads((tmp_path / "index.json").read_text())["runs"]) == {
        run_id(0),
        run_id(1),
    }
    assert list(update_index(tmp_path)["run"]) == [run_id(0), run_id(1)]
    # and reading the bad run itself is one UserError naming a file of it
    with pytest.raises(UserError) as caught:
        RunDir(bad).read_manifest()
        analysis.load(bad)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)


def test_a_poisoned_store_keeps_its_dashboard_and_its_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every poison at once, each in a run of its own after two good runs: the dashboard
    and the gate work on the good runs and name each bad one in one line."""
    store = tmp_path / "results"
    write_run(store, 0, FIGURES)
    write_run(store, 1, {"native": {k: v * 1.5 for k, v in FIGURES["native"].items()}})
    for i, poison in enumerate(POISONS.values(), start=2):
        poison(write_run(store, i, FIGURES))
    progress = Recorder()
    board = gather(store, progress)
    assert board.runs == [run_id(0), run_id(1)]
    assert len(board.history.attrs["skipped"]) == len(POISONS)
    assert len(progress.messages) == len(POISONS)
    page = build(store, tmp_path / "out").read_text()
    assert f"{len(POISONS)} run(s) left out" in page
    for i in range(2, 2 + len(POISONS)):
        assert run_id(i) in page
    gate = ["regress", "--store", str(store), "--baseline", run_id(0), "--current", run_id(1)]
    assert main(gate) == 1  # the 50% slowdown is caught
    assert history_before(store, run_id(1)).attrs["skipped"]  # the bad runs are said
    assert main([*gate[:-1], run_id(3)]) == 2  # naming a bad run: one line, not a traceback
    err = capsys.readouterr().err
    assert run_id(3) in err and err.strip().count("\n") == 0


def test_a_broken_index_entry_is_dropped_and_summarized_again(tmp_path: Path) -> None:
    for i in range(2):
        write_run(tmp_path, i, FIGURES)
    update_index(tmp_path)
    index = tmp_path / "index.json"
    data = json.loads(index.read_text())
    data["runs"][run_id(0)]["figures"] = [["x"]]
    data["runs"][run_id(1)]["figures"][0]["median_s"] = "fast"
    index.write_text(json.dumps(data))
    again = update_index(tmp_path)
    assert again["summarized"].all() and list(again["run"]) == [run_id(0), run_id(1)]
    assert history(tmp_path)["median_s"].notna().all()


def test_a_stray_json_beside_the_suites_is_no_host(tmp_path: Path) -> None:
    run = write_run(tmp_path, 0, FIGURES)
    (run / "notes.json").write_text('{"what": "a stray file"}')
    (run / "hosts" / ".hidden.json").write_text("{}")
    legacy = write_run(tmp_path, 1, FIGURES, legacy=True)
    manifest = json.loads((legacy / "manifest.json").read_text())
    manifest["hosts"] = {"native": {"status": "complete"}}
    (legacy / "manifest.json").write_text(json.dumps(manifest))
    (legacy / "notes.json").write_text("{}")
    assert [p.name for p in RunDir(run).suite_files()] == ["native.json"]
    assert [p.name for p in RunDir(legacy).suite_files()] == ["native.json"]
    frame_ = history(tmp_path)
    assert frame_.attrs["skipped"] == [] and set(frame_["run"]) == {run.name, legacy.name}


# --- names ------------------------------------------------------------------------


def benchmark(name: str, seconds: float, host: str = "h") -> pyperf.Benchmark:
    meta = {"name": name, "unit": "second", "loops": 10, "family": "syscall", "host": host}
    runs = [pyperf.Run([seconds] * 3, metadata=meta, collect_metadata=False)]
    return pyperf.Benchmark(runs)


def test_hosts_named_like_run_files_or_each_other_keep_their_own_files(tmp_path: Path) -> None:
    run = RunDir(tmp_path / run_id(0))
    run.path.mkdir()
    run.write_manifest(Manifest(run_id=run.run_id))
    manifest = run.manifest_path.read_text()
    hosts = {"manifest": 1e-7, "web": 2e-7, "web.probe": 3e-7, "run.log": 4e-7, "hosts": 5e-7}
    for host, seconds in hosts.items():
        path = run.write_suite(host, [benchmark("syscall-null", seconds, host)])
        assert path == run.path / "hosts" / f"{host}.json"
        assert json.loads(path.read_text())["metadata"]["host"] == host
        run.write_probe(host, {"virt_class": f"class-of-{host}", "host": "../../evil"})
    assert run.manifest_path.read_text() == manifest  # the manifest is the run's own
    df = analysis.load(run.path)
    medians = df.groupby("host", observed=True)["value_s"].median().to_dict()
    assert medians == pytest.approx(hosts)
    found = load_hosts(run.path).set_index("host")["virt_class"].to_dict()
    assert found == {h: f"class-of-{h}" for h in hosts}  # the file's host, not the document's
    assert sorted(p.name for p in (run.path).iterdir()) == ["hosts", "manifest.json", "probes"]


@pytest.mark.parametrize(
    "name", ["", ".hidden", "..", ".", "-rf", "a/b", "a\\b", "web\x00", "é", "x" * 129, "a b"]
)
def test_a_name_that_cannot_be_a_file_is_refused_with_its_reason(tmp_path: Path, name: str) -> None:
    problem = host_file_problem(name)
    assert problem is not None and "\n" not in problem
    with pytest.raises(UserError, match="rename it"):
        RunDir(tmp_path).write_suite(name, [benchmark("syscall-null", 1e-7)])
    with pytest.raises(UserError):
        RunDir(tmp_path).write_probe(name, {})
    assert not any(tmp_path.rglob("*"))


def test_names_that_are_one_file_on_a_case_insensitive_disk(tmp_path: Path) -> None:
    for name in ("h1", "web-01.example.com", "_x", "A" * 128):
        assert host_file_problem(name) is None
    assert host_file_clashes(["h1", "web", "H1", "WEB", "db"]) == [("h1", "H1"), ("web", "WEB")]
    assert host_file_clashes(["h1", "h2"]) == []
    run = RunDir(tmp_path)
    run.write_suite("h1", [benchmark("syscall-null", 1e-7)])
    with pytest.raises(UserError, match="differ only by case"):
        run.write_suite("H1", [benchmark("syscall-null", 1e-7)])
    run.write_probe("web", {})
    with pytest.raises(UserError, match="differ only by case"):
        run.write_probe("WEB", {})


def test_runs_of_format_1_still_load(tmp_path: Path) -> None:
    """An existing store: files at the run's root, a probe document beside them; and a
    format 1 run resumed by this version, one host in each layout."""
    old = write_run(
        tmp_path, 0, {"native": FIGURES["native"], "web": FIGURES["native"]}, legacy=True
    )
    (old / "web.probe.json").write_text(json.dumps({"host": "web", "virt_class": "container"}))
    df = analysis.load(old)
    assert set(df["host"]) == {"native", "web"} and set(df["run"]) == {old.name}
    assert load_hosts(old)[["run", "host", "virt_class"]].values.tolist() == [
        [old.name, "web", "container"]
    ]
    resumed = RunDir(old)
    stored = json.loads((old / "web.json").read_text())
    resumed.hosts_dir.mkdir()
    (resumed.hosts_dir / "web.json").write_text(json.dumps(stored))
    (old / "web.json").write_text("{not read any more")
    assert [p.relative_to(old).as_posix() for p in resumed.suite_files()] == [
        "hosts/web.json",
        "native.json",
    ]
    assert resumed.suite_path("native") == old / "native.json"
    assert resumed.suite_path("web") == old / "hosts" / "web.json"
    assert set(analysis.load(old)["host"]) == {"native", "web"}
    assert history(tmp_path).attrs["skipped"] == []


# --- report: no file name from host data, nothing outside --out ---------------------


def test_report_pages_are_named_after_checked_names_inside_out(tmp_path: Path) -> None:
    run = write_run(tmp_path, 0, {"native": FIGURES["native"]})
    RunDir(run).write_probe("native", {"virt_class": "bare-metal"})
    probe = RunDir(run).probe_path("native")
    doc = json.loads(probe.read_text())
    probe.write_text(json.dumps({**doc, "host": "../../../outside"}))
    names = {p.html for p in pages(run, [], tmp_path)}
    assert names == {"overhead.html", "host-native.html", "regressions.html"}
    # names an older ringbench could have stored, and names one file apart by case
    assert host_pages(["ok", "we$b", "H1", "h1", "index"]) == {
        "ok": "host-ok.html",
        "we$b": "host-2.html",
        "H1": "host-H1.html",
        "h1": "host-4.html",
        "index": "host-index.html",
    }
    out = tmp_path / "out"
    out.mkdir()
    assert inside(out, "host-ok.html") == out / "host-ok.html"
    for name in ("../x.html", "/etc/x.html", "a/../../x.html", ".."):
        with pytest.raises(UserError, match="not a file name inside"):
            inside(out, name)


def test_an_unreadable_probe_document_is_left_out_and_named(tmp_path: Path) -> None:
    run = write_run(tmp_path, 0, {"native": FIGURES["native"], "web": FIGURES["native"]})
    RunDir(run).write_probe("native", {"virt_class": "bare-metal", "layers": "not a list"})
    RunDir(run).write_probe("web", {"virt_class": "container"})
    found = load_hosts(run)
    assert list(found["host"]) == ["web"]
    (line,) = found.attrs["skipped"]
    assert "native.json" in line and "'layers'" in line


# --- escaping -----------------------------------------------------------------------


def hostile_pair() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    medians = {"syscall-null": 1e-7}
    a = frame([Host(HOSTILE, medians=medians)], rng, run="20261125T000000Z-aaaaaa")
    b = frame([Host(HOSTILE, medians={"syscall-null": 2e-7})], rng, run="20261126T000000Z-bbbbbb")
    return a, b


def hostile_findings() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"host": HOSTILE, "check": "kernel", "severity": "invalid", "detail": HOSTILE},
            {"host": HOSTILE, "check": "host", "severity": "invalid", "detail": HOSTILE},
        ]
    )


def test_markdown_escapes_what_hosts_wrote() -> None:
    text = markdown_text(HOSTILE)
    assert "\n" not in text and "\x00" not in text and "\x1b" not in text
    for syntax in "<>|[]`*_#&":
        assert re.search(rf"(?<!\\){re.escape(syntax)}", text) is None, syntax
    a, b = hostile_pair()
    result = regressions(a, b)
    assert (result["change"] == "regression").any()
    summary = markdown(result, hostile_findings(), "20261125T000000Z-aaaaaa", "../`x`", 0.1, 0.05)
    assert "<script>" not in summary and "\x00" not in summary and "\x1b" not in summary
    rows = [line for line in summary.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 1 + 2 + 2  # header, rule, 1 regression; header, rule, 2 findings
    for row in rows:
        cells = re.split(r"(?<!\\)\|", row)
        assert len(cells) in (6, 10), row  # its own cells: no text broke out of one
    assert "\\`x\\`" in summary  # a run name that cannot be a code span


def test_junit_carries_what_hosts_wrote_as_text() -> None:
    a, b = hostile_pair()
    xml = junit_xml(regressions(a, b), hostile_findings(), "base", HOSTILE)
    assert "\x00" not in xml and "\x1b" not in xml
    root = ET.fromstring(xml)  # well-formed XML 1.0
    suite = root.find("testsuite")
    assert suite is not None and suite.get("errors") == "2"
    title = suite.get("name") or ""
    assert "<script>alert(1)</script>|[x](y)\n" in title and "\\x00\\x1b[31m" in title
    classes = {c.get("classname") for c in suite.iter("testcase")}
    assert classes == {"ringbench." + HOSTILE.replace("\x00", "\\x00").replace("\x1b", "\\x1b")}


def test_the_dashboard_escapes_what_hosts_wrote(tmp_path: Path) -> None:
    store = tmp_path / "results"
    for i in range(2):
        run = write_run(store, i, FIGURES, {"native": {"kernel": HOSTILE}}, legacy=True)
        path = run / "native.json"
        doc = json.loads(path.read_text())
        doc["metadata"].update(host=HOSTILE, virt_class=HOSTILE[:40])
        doc["benchmarks"][0]["metadata"]["family"] = HOSTILE
        path.write_text(json.dumps(doc))
    page = render(gather(store))
    assert "<script>alert" not in page and "\x00" not in page and "\x1b" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|[x](y)" in page
    assert "\\x00\\x1b[31m" in page


def test_the_report_conclusion_escapes_what_hosts_wrote() -> None:
    rng = np.random.default_rng(5)
    hosts = [
        Host("native", medians={"syscall-null": 1e-7}),
        Host(HOSTILE, baseline="native", medians={"syscall-null": 2e-7}, virt_class=HOSTILE),
    ]
    df = frame(hosts, rng)
    boot = analysis.bootstrap(df)
    flags = analysis.validity(df, analysis.summarize(df, boot), boot)
    table = analysis.overhead(df, boot, flags)
    text = conclusion(table, analysis.mechanisms(df, boot), flags)
    assert "<script>" not in text and "\x00" not in text
    assert all(line.startswith("- ") for line in text.splitlines())  # no newline from a host
    assert markdown_text(HOSTILE) in text
