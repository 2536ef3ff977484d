"""The metadata keys of a result: what the runners write into every pyperf run, and the
analysis reads back.

pyperf's own names are used where pyperf has one (``name``, ``unit``,
``loops``, ``date``, ``duration``, ``hostname``, ``cpu_count``,
``cpu_model_name``, ``platform``, ``boot_time``). pyperf hoists a key whose
value every run shares up to the benchmark and the suite; a process's
metadata is the three levels merged, the innermost winning.

=========================  ========================================================
key                        meaning
=========================  ========================================================
``ringbench_format``       the results format (:data:`ringbench.results.RESULT_FORMAT`)
``host``                   the host's inventory name
``virt_class``             declared class, else the probe's
``virt_class_detected``    the probe's class
``virt_class_declared``    the inventory's (``undeclared`` when none)
``virt_layers``            the layers the probe found, outermost first
``virt_class_warning``     the probe's disagreement with the inventory
``machine``                the physical machine the host runs on
``baseline``               the host this one is measured against (itself when none)
``hypervisor``             the inventory's description of what runs the host
``placement``              where the host's own processes run on the machine (the lab)
``disk``                   how the host's disk is backed: what its fsync and O_DIRECT reach
``binary_sha256``          the harness that measured; ``source_sha256``, ``compiler``
``processes``              processes per benchmark in the run's settings
``name``                   the benchmark (``syscall-null``); ``family``, ``mechanism``,
                           ``operation``, ``description`` from the catalog
``loops``                  operations per value
``clock_skew_s``           the process's clock against the controller's window
``clock_check``            ``ok``, or why not
``steal_ticks``            steal time (USER_HZ ticks) during the process
``param_<name>``           a benchmark parameter's value
facts                      ``kernel``, ``cpu_model_name``, ``mitigations``, ``thp``,
                           ``cpu_governor``, ``clocksource`` ... (runners.hostfacts)
=========================  ========================================================
"""

from __future__ import annotations

FORMAT = "ringbench_format"
HOST = "host"
VIRT_CLASS = "virt_class"
VIRT_CLASS_DETECTED = "virt_class_detected"
VIRT_CLASS_DECLARED = "virt_class_declared"
VIRT_LAYERS = "virt_layers"
VIRT_CLASS_WARNING = "virt_class_warning"
MACHINE = "machine"
BASELINE = "baseline"
HYPERVISOR = "hypervisor"
PLACEMENT = "placement"
DISK = "disk"
BINARY_SHA256 = "binary_sha256"
SOURCE_SHA256 = "source_sha256"
COMPILER = "compiler"
PROCESSES = "processes"
NAME = "name"
UNIT = "unit"
FAMILY = "family"
MECHANISM = "mechanism"
OPERATION = "operation"
DESCRIPTION = "description"
LOOPS = "loops"
DATE = "date"
CLOCK_SKEW_S = "clock_skew_s"
CLOCK_CHECK = "clock_check"
STEAL_TICKS = "steal_ticks"
PARAM_PREFIX = "param_"
# Facts of the host that a comparison depends on (collected by runners.hostfacts).
KERNEL = "kernel"
CPU_MODEL_NAME = "cpu_model_name"
MITIGATIONS = "mitigations"
THP = "thp"
CPU_GOVERNOR = "cpu_governor"
CLOCKSOURCE = "clocksource"

# Per host, not per process: what a comparison of two hosts or two runs checks.
HOST_FACTS = (
    MACHINE,
    BINARY_SHA256,
    CPU_MODEL_NAME,
    KERNEL,
    MITIGATIONS,
    THP,
    CPU_GOVERNOR,
    CLOCKSOURCE,
    VIRT_CLASS_DECLARED,
    VIRT_CLASS_DETECTED,
    VIRT_LAYERS,
    VIRT_CLASS_WARNING,
    PLACEMENT,
    DISK,
)
