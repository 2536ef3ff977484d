"""The results directory, the central contract of the data flow: one owner for every file.

The runners write it, the analysis and the reports read it, and nothing
else knows its layout:

- :mod:`.format`: the one format version and its history;
- :mod:`.layout`: run ids, ``results/<run-id>/`` (:class:`RunDir`), a
  results root (:class:`ResultStore`), finding suites and probes, which host
  names can be file names (:func:`host_file_problem`, :func:`host_file_key`);
- :mod:`.manifest`: the typed ``manifest.json`` and the statuses;
- :mod:`.keys`: the metadata keys of every pyperf run;
- :mod:`.read`: every process of many suites, fast, column by column,
  range-checked;
- :mod:`.text`: text a host sent, made safe to show (one line, Markdown).
"""

from ringbench.results.format import READABLE, RESULT_FORMAT
from ringbench.results.layout import (
    RUN_ID_RE,
    ResultStore,
    RunDir,
    host_file_clashes,
    host_file_key,
    host_file_problem,
    is_run_id,
    is_suite_file,
    new_run_id,
    probe_files,
    run_id_time,
    suite_files,
    utc_now,
)
from ringbench.results.manifest import (
    BenchEntry,
    BenchStatus,
    HostEntry,
    HostStatus,
    InventorySnapshot,
    Manifest,
    RunStatus,
)
from ringbench.results.read import Processes, read_processes

__all__ = [
    "READABLE",
    "RESULT_FORMAT",
    "RUN_ID_RE",
    "BenchEntry",
    "BenchStatus",
    "HostEntry",
    "HostStatus",
    "InventorySnapshot",
    "Manifest",
    "Processes",
    "ResultStore",
    "RunDir",
    "RunStatus",
    "host_file_clashes",
    "host_file_key",
    "host_file_problem",
    "is_run_id",
    "is_suite_file",
    "new_run_id",
    "probe_files",
    "read_processes",
    "run_id_time",
    "suite_files",
    "utc_now",
]
