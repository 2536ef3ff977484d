"""The bottom floor: the contracts every part of ringbench shares.

- :mod:`ringbench.errors`: one exception hierarchy (a user error; one base
  for every host-side failure);
- :mod:`ringbench.files`: atomic writes of text, JSON and bytes;
- :mod:`ringbench.units`: how a time and a number read;
- :mod:`ringbench.progress`: the one Protocol through which library code
  reports progress (only the command line shows it);
- :mod:`ringbench.results`: the results directory, ``results/<run-id>/``:
  run ids, its layout, the typed manifest, the metadata keys, the readers.

This package imports no other package of the project; every other package
may import it (the import test in ``tests/test_imports.py`` keeps it so).
"""

__version__ = "0.1.0"
