"""Taking a lab apart: finding its processes by pid, stopping them, removing its files.

Only processes that are provably the lab's own are touched: an etcd whose environment carries
its node folder (the service script puts it there) and an sshd started with the node's config.
A netns lab's namespaces, veths and bridge go once its processes have stopped.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from etcdtui.lab.kubeadm import is_kubelet, pod_pid_files, remove_host_links
from etcdtui.lab.kubelet import KUBELET_PID
from etcdtui.lab.netns import remove_network
from etcdtui.lab.procs import descendants, is_sshd, kill_processes, read_pid, stop_processes
from etcdtui.lab.service import PID_FILE, is_node_etcd
from etcdtui.lab.state import MADE, STATE_FILE, node_dir, sshd_dir


def lab_pids(root: Path, state: dict[str, Any]) -> list[tuple[str, int]]:
    """(what, pid) for every process of the lab in `root` that still runs."""
    found: list[tuple[str, int]] = []
    for raw in state.get("nodes", []):
        name = str(raw["name"])
        # Recorded pids and pid files both count, but only while they are still that process:
        # after a reboot the same numbers may belong to anything.
        home = node_dir(root, name)
        etcds = {read_pid(home / PID_FILE), raw.get("etcd_pid")}
        for pid in sorted(p for p in etcds if isinstance(p, int) and is_node_etcd(p, home)):
            found.append((f"etcd on {name}", pid))
        # A kubeadm-layout node: its kubelet, and its other static pods (kube-apiserver).
        kubelets = {read_pid(home / KUBELET_PID), raw.get("kubelet_pid")}
        for pid in sorted(p for p in kubelets if isinstance(p, int) and is_kubelet(p, home)):
            found.append((f"kubelet on {name}", pid))
        for pid_file in pod_pid_files(home):
            pod = read_pid(pid_file)
            if pod is not None and is_node_etcd(pod, home):  # the kubelet marks every pod
                found.append((f"{pid_file.stem} on {name}", pod))
        folder = sshd_dir(root, name)
        config = folder / "sshd_config"
        sshds = {read_pid(folder / "sshd.pid"), raw.get("sshd_pid")}
        for pid in sorted(p for p in sshds if isinstance(p, int) and is_sshd(p, config)):
            found.append((f"sshd for {name}", pid))
    return found


def teardown(root: Path, state: dict[str, Any]) -> list[str]:
    """Stop every process of the lab by pid, then remove what lab up made."""
    running = lab_pids(root, state)
    # Kubelets first, or they would start the pods again as they stop; then look again, for
    # a pod a kubelet restarted in between.
    kubelets = [(what, pid) for what, pid in running if what.startswith("kubelet")]
    killed = set(stop_processes([pid for _, pid in kubelets]))
    if kubelets:
        running = kubelets + lab_pids(root, state)
    # etcd members and the pods beside them are killed outright: their data is removed
    # next, so a graceful stop (a leader handing over, a member without quorum waiting out
    # its request timeout) would only cost time.
    kill_processes(pid for what, pid in running if what.startswith(("etcd", "kube-apiserver")))
    sshds = [pid for what, pid in running if what.startswith("sshd")]
    # Open SSH sessions (and the commands in them) outlive their sshd listener: stop them too.
    sessions = [child for pid in sshds for child in descendants(pid)]
    killed |= set(stop_processes(sshds + sessions))
    lines = [
        f"stopped {what} (pid {pid}{', killed' if pid in killed else ''})" for what, pid in running
    ]
    if sessions:
        lines.append(f"ended {len(sessions)} process(es) of open SSH sessions")
    lines.extend(remove_network(root, state))
    lines.extend(remove_host_links(state))
    lines.extend(remove_lab_files(root, state))
    return lines


def remove_lab_files(root: Path, state: dict[str, Any]) -> list[str]:
    """Remove the lab's files: the whole folder if lab up created it, else what it made."""
    if state.get("created_dir"):
        _rmtree(root)
        return [f"removed {root}"]
    made = [name for name in state.get("made", MADE) if name in MADE]
    removed = []
    for name in made:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            _rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    (root / (STATE_FILE + ".tmp")).unlink(missing_ok=True)
    return [f"removed {', '.join(removed)} from {root}"] if removed else []


def _rmtree(path: Path) -> None:
    # A process that was just killed may still be closing files; one retry covers that.
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except OSError:
        time.sleep(0.2)
        shutil.rmtree(path, ignore_errors=False)
