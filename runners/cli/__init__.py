"""The command line, the top floor: the only code that prints, exits or builds a rich Console.

One module per command group, each command's arguments beside it
(``add_parser``) and a typed ``cmd_*`` function that tests call directly;
:mod:`.main` parses and maps every error to one line and an exit code
(:class:`.common.ExitCode`). Library code below reports progress through
:class:`ringbench.progress.Progress`, which :mod:`.progress` shows live.

- :mod:`.build`: ``build``, ``list``;
- :mod:`.run`: ``run`` (and ``--resume``), the end-of-run tables;
- :mod:`.hosts`: ``inventory check|show``, ``probe``;
- :mod:`.lab`: ``lab up|down|status``;
- :mod:`.analysis`: ``overhead``, ``compare`` (tables in :mod:`.tables`);
- :mod:`.reports`: ``report``, ``regress``, ``dashboard``, ``notebooks``.
"""

from runners.cli.main import main

__all__ = ["main"]
