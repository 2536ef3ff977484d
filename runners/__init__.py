"""The runners: from an inventory to a run directory, over SSH or on this machine.

A run is a short pipeline per host (:mod:`.pipeline`): plan which hosts run
where and in which order (:mod:`.plan`, from :mod:`.inventory`), connect
(:mod:`.transport`, :mod:`.ssh`), deploy the one harness binary
(:mod:`.deploy`), probe the host (:mod:`.hostfacts` for its facts,
:mod:`.evidence` and :mod:`.probe` for what it shows, :mod:`.classify` for
the layers it runs in), measure each benchmark a process at a time
(:mod:`.execute`) and store what was measured (:mod:`.record`, into
:mod:`ringbench.results`). :mod:`.resume` plans what an earlier run is
missing. :mod:`.lab` builds the local lab; :mod:`.cli` is the command line,
the only code that prints or exits.

The runners use :mod:`suites` (the harness, its build and its protocol) and
:mod:`ringbench`; nothing below them imports them.
"""
