"""A small kubelet for `lab up --kubeadm-layout`: runs the static pods of one lab node.

Like kubelet's static-pod support, it watches the node's manifests folder
(``/etc/kubernetes/manifests`` as the node sees it): a manifest that appears is started, one
that is moved out is stopped, one whose content changes is restarted with the new flags, and a
pod whose process dies is started again after a back-off. There are no containers: a pod's
command runs as a process of the node's network namespace, with the paths of its hostPath
volumes mapped as a container would see them. ``etcd`` runs the lab's etcd binary of the
version its image names (lab/binaries.py: an image the lab has no binary for is one this kubelet
cannot pull, and its pod never starts) and ``kube-apiserver`` runs the lab's stand-in
(etcdtui.lab.apiserver).

Run as ``python -m etcdtui.lab.kubelet --node-dir DIR``; it logs one line per event to
DIR/kubelet.log, which tests read to check the order in which runbooks stopped things.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from etcdtui.errors import LabError
from etcdtui.lab.binaries import image_binary
from etcdtui.lab.service import NODE_MARK, PID_FILE

MANIFESTS = Path("/etc/kubernetes/manifests")
KUBELET_PID = "kubelet.pid"
KUBELET_LOG = "kubelet.log"
PODS_DIR = "pods"
POLL = 0.2
STOP_GRACE = 10.0
MAX_BACKOFF = 8.0


@dataclass
class Pod:
    """A running static pod: the manifest it came from and its process."""

    name: str
    digest: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    failures: int = 0
    retry_at: float = 0.0
    started_at: float = 0.0


def pod_pid_file(node_dir: Path, name: str) -> Path:
    """Where a pod's pid is kept; etcd's is the node's etcd.pid, as the lab's tools expect."""
    return node_dir / PID_FILE if name == "etcd" else node_dir / PODS_DIR / f"{name}.pid"


def volume_map(pod: dict[str, Any], container: dict[str, Any]) -> list[tuple[str, str]]:
    """(mountPath, hostPath) of the container's hostPath volumes, longest mount first."""
    host_paths = {
        v.get("name"): v["hostPath"].get("path")
        for v in pod.get("spec", {}).get("volumes", []) or []
        if isinstance(v, dict) and isinstance(v.get("hostPath"), dict)
    }
    mounts = [
        (str(m["mountPath"]), str(host_paths[m.get("name")]))
        for m in container.get("volumeMounts", []) or []
        if isinstance(m, dict) and host_paths.get(m.get("name")) and m.get("mountPath")
    ]
    return sorted(mounts, key=lambda pair: len(pair[0]), reverse=True)


def host_argument(argument: str, mounts: list[tuple[str, str]]) -> str:
    """`--data-dir=/var/lib/etcd` as the host sees it through the pod's volume mounts."""
    if not argument.startswith("--") or "=" not in argument:
        return argument
    flag, value = argument.split("=", 1)
    for mount, host in mounts:
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return f"{flag}={host}{value[len(mount.rstrip('/')) :]}"
    return argument


def pod_argv(text: str) -> tuple[str, list[str]]:
    """The pod's name and the argv its single container runs (ValueError if unusable,
    LabError for an etcd image the lab has no binary for)."""
    pod = yaml.safe_load(text)
    if not isinstance(pod, dict) or pod.get("kind") != "Pod":
        raise ValueError("not a Pod manifest")
    name = str(pod.get("metadata", {}).get("name") or "")
    containers = pod.get("spec", {}).get("containers") or []
    if not name or not containers or not isinstance(containers[0], dict):
        raise ValueError("no name or no container")
    container = containers[0]
    command = [str(c) for c in container.get("command") or []] + [
        str(a) for a in container.get("args") or []
    ]
    if not command:
        raise ValueError("the container has no command")
    mounts = volume_map(pod, container)
    arguments = [host_argument(a, mounts) for a in command[1:]]
    program = os.path.basename(command[0])
    if program == "etcd":
        return name, [image_binary(str(container.get("image") or "")), *arguments]
    if program == "kube-apiserver":
        return name, [sys.executable, "-m", "etcdtui.lab.apiserver", *arguments]
    raise ValueError(f"this lab runs etcd and kube-apiserver only, not {program}")


class Kubelet:
    """The watch loop; one per lab node."""

    def __init__(self, node_dir: Path, manifests: Path = MANIFESTS) -> None:
        self.node_dir = node_dir
        self.manifests = manifests
        self.pods: dict[str, Pod] = {}  # by manifest file name
        self.bad: dict[str, str] = {}  # manifest file name -> digest already reported unusable
        self.stopping = False
        (node_dir / PODS_DIR).mkdir(exist_ok=True)
        self.log_file = (node_dir / KUBELET_LOG).open("a", buffering=1)

    def log(self, message: str) -> None:
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        self.log_file.write(f"{stamp} {message}\n")

    def desired(self) -> dict[str, tuple[str, str]]:
        """Manifest file name -> (digest, text), hidden files aside as kubelet does."""
        found: dict[str, tuple[str, str]] = {}
        with contextlib.suppress(OSError):
            for path in sorted(self.manifests.iterdir()):
                if path.name.startswith(".") or not path.is_file():
                    continue
                with contextlib.suppress(OSError):
                    data = path.read_bytes()
                    # Undecodable text is kept as it is and reported by sync() as unusable.
                    text = data.decode(errors="replace")
                    found[path.name] = (hashlib.sha256(data).hexdigest(), text)
        return found

    def start(self, pod: Pod) -> None:
        log = (self.node_dir / PODS_DIR / f"{pod.name}.log").open("ab")
        env = dict(os.environ) | {NODE_MARK: str(self.node_dir)}
        try:
            pod.proc = subprocess.Popen(
                pod.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.node_dir,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            self.log(f"pod {pod.name} failed to start: {exc}")
            pod.failures += 1
            pod.retry_at = time.monotonic() + min(MAX_BACKOFF, 2.0**pod.failures)
            return
        finally:
            log.close()
        pod.started_at = time.monotonic()
        pod_pid_file(self.node_dir, pod.name).write_text(f"{pod.proc.pid}\n")
        self.log(f"started pod {pod.name} pid {pod.proc.pid}")

    def stop(self, pod: Pod, why: str) -> None:
        proc = pod.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)  # a frozen member would never act on TERM
                proc.terminate()
            try:
                proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        pod_pid_file(self.node_dir, pod.name).unlink(missing_ok=True)
        self.log(f"stopped pod {pod.name} ({why})")

    def sync(self) -> None:
        """One pass: make the running pods match the manifests folder."""
        wanted = self.desired()
        for file, pod in list(self.pods.items()):
            if file not in wanted:
                self.stop(pod, "manifest removed")
                del self.pods[file]
            elif wanted[file][0] != pod.digest:
                self.stop(pod, "manifest changed")
                del self.pods[file]
        for file, (digest, text) in wanted.items():
            if file in self.pods or self.bad.get(file) == digest:
                continue
            try:
                name, argv = pod_argv(text)
            except LabError as exc:  # kubelet's ErrImagePull: the pod is there, never runs
                self.bad[file] = digest
                self.log(f"cannot start the pod of {file}: {exc.message}")
                continue
            except (ValueError, yaml.YAMLError, AttributeError, TypeError) as exc:
                self.bad[file] = digest
                self.log(f"ignoring manifest {file}: {str(exc).splitlines()[0]}")
                continue
            pod = Pod(name=name, digest=digest, argv=argv)
            self.pods[file] = pod
            self.start(pod)
        now = time.monotonic()
        for pod in self.pods.values():
            if pod.proc is None or pod.proc.poll() is not None:
                if pod.proc is not None:
                    self.log(f"pod {pod.name} exited with {pod.proc.returncode}")
                    pod.proc = None
                    # A pod that ran a while before it exited starts its back-off afresh.
                    pod.failures = 1 if now - pod.started_at > 60 else pod.failures + 1
                    pod.retry_at = now + min(MAX_BACKOFF, 2.0 ** (pod.failures - 1))
                if now >= pod.retry_at:
                    self.start(pod)

    def run(self, ready: Callable[[], None] = lambda: None) -> None:
        """Watch until SIGTERM; `ready` is called once the first pass has started the pods
        (so whoever waits for it finds their pid files)."""
        self.log(f"kubelet watching {self.manifests}")
        self.sync()
        ready()
        while not self.stopping:
            time.sleep(POLL)
            self.sync()
        # Like a kubelet restart, stopping the watcher leaves its pods running; lab down stops
        # them by their pid files.
        self.log("kubelet stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="etcdtui-lab-kubelet")
    parser.add_argument("--node-dir", required=True, type=Path)
    parser.add_argument("--manifests", type=Path, default=MANIFESTS)
    args = parser.parse_args(argv)
    kubelet = Kubelet(args.node_dir.resolve(), args.manifests)

    def stop(_signum: int, _frame: object) -> None:
        kubelet.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def ready() -> None:  # what start_kubelet waits for
        (kubelet.node_dir / KUBELET_PID).write_text(f"{os.getpid()}\n")

    kubelet.run(ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
