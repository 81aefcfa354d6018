"""The local lab: a real etcd cluster on loopback whose nodes are reachable over real sshds.

`lab_up` starts it and writes DIR/etcdtui.toml (cluster "lab"), `lab_down` stops it by pid and
removes what it made, `load_lab` re-reads a running lab from DIR/lab.json.
"""

from etcdtui.lab.binaries import etcd_binaries
from etcdtui.lab.errors import LabUsageError
from etcdtui.lab.lab import lab_down, lab_up, load_lab
from etcdtui.lab.probe import member_healthy
from etcdtui.lab.procs import process_alive
from etcdtui.lab.service import env_file_text, member_env
from etcdtui.lab.state import LabInfo, LabNode

__all__ = [
    "LabInfo",
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
