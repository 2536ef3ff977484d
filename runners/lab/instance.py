"""Lab instances: several labs on one machine, none of them in another's way.

An instance has a name: ``default`` (the lab as it always was: its directory,
the ``ringbench-`` namespaces, the ``rb-`` links, 10.213.0.0/16) or one to
five lower-case letters and digits. The name selects everything the lab
creates on the machine, so that one instance's ``up`` and ``down`` never
touch what another created:

- its network namespaces, ``ringbench-NAME-ROLE``, and links and taps,
  ``rbNAME-ROLE-h`` (the longest, ``rbNAME-uml-tap``, fits the kernel's 15
  bytes);
- its subnets, one 10.x.0.0/16 per instance (x from a hash of the name, in
  214-253), checked before use with :func:`runners.lab.net.check_free`, which
  counts another instance's routes as taken;
- the tag its processes carry (``RINGBENCH_LAB_TAG=NAME-<random>``).

Its directory (state, keys, images, the current run) is chosen in
:mod:`runners.lab.paths`. Chosen with ``ringbench lab --instance NAME`` or
``$RINGBENCH_LAB_INSTANCE``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass

from ringbench.errors import UserError

DEFAULT = "default"
ENV_VAR = "RINGBENCH_LAB_INSTANCE"
NAME_RE = re.compile(r"[a-z][a-z0-9]{0,4}")
DEFAULT_OCTET = 213  # the default instance's 10.213.0.0/16
OCTETS = range(214, 254)  # every other instance's second octet comes from here
IFNAMSIZ = 15  # the longest network device name the kernel takes, in bytes
ROLES = ("ct", "uml", "pod", "pns", "gv")  # the hosts that have a namespace of their own


@dataclass(frozen=True, slots=True)
class Instance:
    """One lab of this machine; every name it gives the kernel comes from here."""

    name: str = DEFAULT

    def __post_init__(self) -> None:
        if self.name != DEFAULT and not NAME_RE.fullmatch(self.name):
            raise UserError(
                f"lab instance {self.name[:40]!r}: an instance is named 'default' or with 1 to "
                "5 lower-case letters and digits, the first a letter (the name goes into "
                "network device names of at most 15 bytes)"
            )

    @classmethod
    def from_env(cls) -> Instance:
        """``$RINGBENCH_LAB_INSTANCE``, else the default instance."""
        return cls(os.environ.get(ENV_VAR) or DEFAULT)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT

    @property
    def netns_prefix(self) -> str:
        return "ringbench-" if self.is_default else f"ringbench-{self.name}-"

    @property
    def link_prefix(self) -> str:
        """What every link and tap of the instance starts with, then ``-ROLE-...``."""
        return "rb" if self.is_default else f"rb{self.name}"

    def netns(self, role: str) -> str:
        return f"{self.netns_prefix}{role}"

    def link(self, role: str, end: str) -> str:
        """A device name: ``end`` is ``h`` (host side), ``g`` (namespace side) or ``tap``."""
        name = f"{self.link_prefix}-{role}-{end}"
        assert len(name.encode()) <= IFNAMSIZ, name
        return name

    def owns_link(self, name: str) -> bool:
        return name.startswith(f"{self.link_prefix}-")

    def owns_netns(self, name: str) -> bool:
        return name in {self.netns(role) for role in ROLES}

    @property
    def octet(self) -> int:
        """The second octet of the instance's 10.x.0.0/16."""
        if self.is_default:
            return DEFAULT_OCTET
        digest = hashlib.sha256(self.name.encode()).digest()
        return OCTETS[int.from_bytes(digest[:4], "big") % len(OCTETS)]

    def address(self, third: int, fourth: int, prefix: int) -> str:
        """An address of the instance's /16 with its prefix length, e.g. 10.214.1.2/30."""
        return f"10.{self.octet}.{third}.{fourth}/{prefix}"

    @property
    def tag_prefix(self) -> str:
        return f"{self.name}-"

    def new_tag(self) -> str:
        """The tag of one ``lab up``: the instance's name, then a random part."""
        return f"{self.tag_prefix}{secrets.token_hex(6)}"

    def option(self) -> str:
        """How the command line names this instance (nothing for the default one)."""
        return "" if self.is_default else f" --instance {self.name}"
