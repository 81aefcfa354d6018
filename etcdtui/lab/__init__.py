"""The local lab: a real etcd cluster on loopback whose nodes are reachable over real sshds.

`lab_up` starts it and writes DIR/etcdtui.toml (cluster "lab"), `lab_down` stops it by pid and
removes what it made, `load_lab` re-reads a running lab from DIR/lab.json. With
`lab_up(..., netns=True)` (root) each node is a network namespace of its own and etcd answers
only on the node's loopback, so the cluster is reached through the nodes' sshds.
"""

from etcdtui.lab.binaries import etcd_binaries
from etcdtui.lab.errors import LabUsageError
from etcdtui.lab.lab import lab_down, lab_up, load_lab
from etcdtui.lab.netns import LabNetwork
from etcdtui.lab.probe import member_healthy
from etcdtui.lab.procs import process_alive
from etcdtui.lab.service import env_file_text, member_env
from etcdtui.lab.state import LabInfo, LabNode

__all__ = [
    "LabInfo",
    "LabNetwork",
    "LabNode",
    "LabUsageError",
    "env_file_text",
    "etcd_binaries",
    "lab_down",
    "lab_up",
    "load_lab",
    "member_env",
    "member_healthy",
    "process_alive",
]
