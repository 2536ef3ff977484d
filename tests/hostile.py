"""Hostile hosts: real sshd servers on loopback whose commands misbehave on purpose.

Each server is a genuine OpenSSH ``sshd`` (:class:`tests.sshd.Sshd`) with a
``ForceCommand``: every session, SFTP included, goes through :data:`WRAPPER`,
which runs what the client asked for (``$SSH_ORIGINAL_COMMAND``) and, for the
one kind of command its behaviour names, does something else: prints without
end, never answers, prints what no parser should accept, drops the
connection half-way... Nothing here is a fake of ringbench's side: the client
talks SSH to a real server, and the misbehaviour comes out of a real channel.

Behaviours (:data:`BEHAVIOURS`); "harness run" is ``ringbench-bench run ...``:

- ``endless``: a harness run prints valid-looking lines without end (``yes``).
- ``silent``: a harness run never prints, never exits.
- ``parse-bomb``: a harness run prints a start record, then a line of 100,000 ``[``.
- ``bigint``: a harness run prints values whose loops have 5,000 digits and an
  ``elapsed_s`` of 400 digits.
- ``markup``: a harness run fails with Rich markup in its error and on stderr.
- ``stderr-flood``: a harness run writes 64 MiB to stderr, then exits 1.
- ``poison``: a harness run's real output with ``steal_ticks`` of 400 digits and
  ``Infinity`` in a parameter.
- ``probe-garbage``: the harness's ``probe`` prints 100,000 ``[``; /proc/stat as read
  by the probe says ``btime 999999999999`` and a 400-digit steal count.
- ``drop``: a harness run prints half of its output, then its sshd session is killed
  (the connection drops mid-command).
- ``good``: nothing; the host behaves.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.sshd import ClientKey, Sshd

BEHAVIOURS = (
    "endless",
    "silent",
    "parse-bomb",
    "bigint",
    "markup",
    "stderr-flood",
    "poison",
    "probe-garbage",
    "drop",
    "good",
)

# Runs under the server's sshd as ForceCommand: argv[1] is the behaviour.
WRAPPER = r"""
import os, re, shlex, signal, subprocess, sys, time

behaviour = sys.argv[1]
original = os.environ.get("SSH_ORIGINAL_COMMAND", "")
if original in ("internal-sftp", "sftp", "/usr/lib/openssh/sftp-server"):
    os.execv("/usr/lib/openssh/sftp-server", ["sftp-server"])
argv = shlex.split(original)
harness = next((i for i, a in enumerate(argv) if "ringbench-bench" in os.path.basename(a)), None)
verb = argv[harness + 1] if harness is not None and harness + 1 < len(argv) else ""
out = sys.stdout.buffer
START = b'{"type":"start","format":1,"bench":"syscall-null","pid":1,"cpu":-1,"arch":"x86_64",' \
        b'"params":{},"realtime_ns":1796000000000000000,"monotonic_ns":1}\n'

def real():
    return subprocess.run(["sh", "-c", original], capture_output=True)

if verb == "run" and behaviour == "endless":
    line = b'{"type":"value","index":0,"loops":1,"elapsed_s":0.001,"value_s":0.001}\n' * 1024
    while True:
        out.write(line)
elif verb == "run" and behaviour == "silent":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(3600)
elif verb == "run" and behaviour == "parse-bomb":
    out.write(START + b"[" * 100000 + b"\n")
elif verb == "run" and behaviour == "bigint":
    out.write(START + b'{"type":"value","index":0,"loops":' + b"9" * 5000
              + b',"elapsed_s":' + b"7" * 400 + b',"value_s":1e-7}\n')
elif verb == "run" and behaviour == "markup":
    out.write(START + b'{"type":"error","message":"[/red][bold]boom[/] [link=file:///etc]x"}\n')
    sys.stderr.write("ringbench-bench: error: [/red] [bold]unbalanced[/bold][/]\n")
    sys.exit(1)
elif verb == "run" and behaviour == "stderr-flood":
    chunk = b"e" * 65536
    for _ in range(1024):
        sys.stderr.buffer.write(chunk)
    sys.exit(1)
elif verb == "run" and behaviour == "poison":
    done = real()
    text = re.sub(rb'"steal_ticks":\d+', b'"steal_ticks":' + b"1" * 400, done.stdout)
    text = re.sub(rb'"params":\{\}', b'"params":{"size":Infinity}', text)
    out.write(text)
    sys.exit(done.returncode)
elif verb == "probe" and behaviour == "probe-garbage":
    out.write(b"[" * 100000 + b"\n")
elif behaviour == "probe-garbage" and "/proc/stat" in original:
    done = real()
    text = re.sub(rb"btime \d+", b"btime 999999999999", done.stdout)
    text = re.sub(rb"^(cpu +(?:\d+ +){7})\d+", rb"\g<1>" + b"9" * 400, text, flags=re.M)
    out.write(text)
    sys.exit(done.returncode)
elif verb == "run" and behaviour == "drop":
    done = real()
    out.write(done.stdout[: len(done.stdout) // 2])
    out.flush()
    pid = os.getppid()  # up to this session's sshd, then kill it: the connection drops
    while pid > 1:
        with open(f"/proc/{pid}/stat") as fp:
            stat = fp.read()
        if stat[stat.index("(") + 1 : stat.rindex(")")].startswith("sshd"):
            os.kill(pid, signal.SIGKILL)
            break
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    time.sleep(10)
else:
    os.execv("/bin/sh", ["sh", "-c", original])
out.flush()
"""


def hostile_sshd(root: Path, client: ClientKey, behaviour: str) -> Sshd:
    """A started real sshd whose sessions misbehave as ``behaviour`` says."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}")
    root.mkdir(parents=True, exist_ok=True)
    wrapper = root / "hostile.py"
    wrapper.write_text(WRAPPER)
    return Sshd(root, client, force_command=f"{sys.executable} {wrapper} {behaviour}").start()
