"""``python -m runners.cli``: the ``ringbench`` command."""

import sys

from runners.cli.main import main

sys.exit(main())
