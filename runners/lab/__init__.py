"""The local lab: one host per environment class on this machine, reached over real SSH.

``lab up`` installs what is missing (:mod:`.packages`), builds the root file
system and its images once per recipe (:mod:`.rootfs`), makes the lab's keys
(:mod:`.keys`), joins network namespaces to the host with veth pairs
(:mod:`.net`), boots the hosts (:mod:`.hosts`, :mod:`.guests`), records every
process, namespace, veth and tap in a state file (:mod:`.state`) and writes
the inventory (:mod:`.invfile`). :mod:`.lifecycle` ties the steps together;
:mod:`.status` tells what runs. Nothing leaves the machine: guests are reached
on 127.0.0.1 ports or at addresses inside the lab's own namespaces.

Several labs may run on one machine, each an instance (:mod:`.instance`) with
its own directory (:mod:`.paths`), names, subnets and process tag: one
instance's ``up`` or ``down`` never touches another's.
"""

from __future__ import annotations

from runners.lab.paths import LabPaths

__all__ = ["LabPaths"]
