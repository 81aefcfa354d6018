"""Plain helpers for the fault scenarios: keys, the cluster's state, etcdtui as a process,
the audit log. The faults themselves are in inject.py.

Nothing here waits with a fixed sleep: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from etcdtui.clients.ssh.shell import ShellPool
from etcdtui.clients.via_ssh import open_cluster
from etcdtui.config import Connection, load_connection
from etcdtui.lab import LabInfo
from etcdtui.models import ClusterView

T = TypeVar("T")

KEYS = 40
PREFIX = "faults/"
ETCDTUI = str(Path(sys.executable).parent / "etcdtui")
# Runs the command with Ctrl+C's default effect: a suite started as a background job (`make
# test &`, nohup) ignores SIGINT, and a child would inherit that and never see the Ctrl+C a
# test sends it.
AS_IN_A_TERMINAL = [
    sys.executable, "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]  # fmt: skip


# --- waiting ------------------------------------------------------------------------------------


def wait_until(check: Callable[[], T | None], timeout: float = 20.0, what: str = "") -> T:
    """Poll `check` until it returns something true; that value. AssertionError at the
    deadline, naming `what`. Exceptions from `check` count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except Exception as exc:  # a member still starting, a file not written yet
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or check} (last: {last!r})")
        time.sleep(0.02)


# --- etcdctl and keys ---------------------------------------------------------------------------


def _running_node(info: LabInfo) -> str:
    names = [n.name for n in info.nodes if info.pid(n.name) is not None]
    assert names, "no etcd runs in the lab"
    return names[0]


def etcdctl(
    info: LabInfo,
    *args: str,
    node: str | None = None,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    """etcdctl against the lab: every endpoint, or `node`'s member only. In a netns lab it
    runs inside a node's namespace (a running one unless `node` is given), on its loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env |= info.etcdctl_env()
    # A flag, not ETCDCTL_ENDPOINTS: etcdctl 3.5's move-leader refuses the variable.
    endpoints = env.pop("ETCDCTL_ENDPOINTS")
    prefix: list[str] = []
    if info.netns:
        lab_node = info.node(node or _running_node(info))
        endpoints = lab_node.local_client_url
        assert lab_node.netns
        prefix = ["ip", "netns", "exec", lab_node.netns]
    elif node is not None:
        endpoints = info.node(node).client_url
    argv = [*prefix, info.etcdctl, f"--endpoints={endpoints}", *args]
    done = subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip
    if check:
        assert done.returncode == 0, f"etcdctl {' '.join(args)}: {done.stderr.strip()}"
    return done


def put_keys(info: LabInfo, count: int = KEYS) -> dict[str, str]:
    """Write `count` keys under PREFIX in one transaction; the keys and values written."""
    keys = {f"{PREFIX}{i:03d}": f"value {i}" for i in range(count)}
    ops = "".join(f'put {k} "{v}"\n' for k, v in keys.items())
    out = etcdctl(info, "txn", stdin=f"\n{ops}\n\n").stdout
    assert out.startswith("SUCCESS"), out
    return keys


def read_keys(info: LabInfo, node: str | None = None, serializable: bool = False) -> dict[str, str]:
    """Every key under PREFIX with its value: linearizable, or `node`'s own copy."""
    args = ["get", PREFIX, "--prefix", "-w", "json"]
    if serializable:
        args.append("--consistency=s")
    data = json.loads(etcdctl(info, *args, node=node).stdout)
    return {
        base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
        for kv in data.get("kvs", [])
    }


# --- the cluster as etcdtui sees it ------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """The member list, who is healthy, who leads: what a scenario checks afterwards."""

    members: tuple[str, ...]  # every listed member's name, sorted ("(unstarted)" for one)
    learners: tuple[str, ...]
    healthy: tuple[str, ...]
    leader: str | None
    alarms: tuple[str, ...]

    @property
    def all_healthy(self) -> bool:
        return bool(self.members) and self.healthy == self.members and self.leader is not None


def read_view(connection: Connection) -> ClusterView:
    """One read of the cluster by etcdtui's own client (through SSH where the config says)."""
    shells = ShellPool(connection.nodes) if connection.via_ssh else None
    client = open_cluster(connection, shells)
    try:
        return client.read(metrics=False)
    finally:
        client.close()
        if shells is not None:
            shells.close_all()


def state_of(info: LabInfo) -> State:
    """The lab's member list, health and leader, as etcdtui reads them now."""
    view = read_view(load_connection(info.config_path, info.cluster))
    listed = [m for m in view.members if m.member is not None]
    return State(
        members=tuple(sorted(m.name for m in listed)),
        learners=tuple(sorted(m.name for m in listed if m.is_learner)),
        healthy=tuple(sorted(m.name for m in listed if m.healthy)),
        leader=view.leader.name if view.leader else None,
        alarms=tuple(sorted(a.kind for a in view.alarms)),
    )


def settled(info: LabInfo, members: Iterable[str], timeout: float = 30.0) -> State:
    """Wait until exactly `members` are listed, every one healthy, with a leader."""
    wanted = tuple(sorted(members))

    def check() -> State | None:
        state = state_of(info)
        ok = state.members == wanted and state.all_healthy and not state.learners
        return state if ok and not state.alarms else None

    return wait_until(check, timeout, f"{wanted} healthy with a leader")


def listed(
    info: LabInfo, members: Iterable[str], learners: Iterable[str] = (), timeout: float = 30.0
) -> State:
    """Wait until exactly `members` are listed under their names (a new member's name comes
    once it has started and published it), `learners` among them, with a leader."""
    wanted, learning = tuple(sorted(members)), tuple(sorted(learners))

    def check() -> State | None:
        state = state_of(info)
        ok = state.members == wanted and state.learners == learning
        return state if ok and state.leader is not None else None

    return wait_until(check, timeout, f"{wanted} listed (learners {learning}) with a leader")


def member_status(info: LabInfo, node: str) -> dict[str, Any]:
    """`etcdctl endpoint status` of one member, as JSON (its leader and its own ID)."""
    out = etcdctl(info, "endpoint", "status", "-w", "json", node=node, timeout=10).stdout
    status: dict[str, Any] = json.loads(out)[0]["Status"]
    return status


def wait_new_leader(info: LabInfo, old: str, among: Iterable[str], timeout: float = 20.0) -> str:
    """Wait until every member of `among` names one leader that is not `old`; its name."""
    ids = {n: int(member_status(info, n)["header"]["member_id"]) for n in among}

    def check() -> str | None:
        leaders = {int(member_status(info, n).get("leader", 0)) for n in ids}
        if len(leaders) != 1:
            return None
        (leader,) = leaders
        return next((n for n, i in ids.items() if i == leader and n != old), None)

    return wait_until(check, timeout, f"a leader other than {old} among {sorted(ids)}")


# --- processes ----------------------------------------------------------------------------------


def signal_member(info: LabInfo, name: str, sig: signal.Signals) -> int:
    """Send `sig` to the member's etcd; with SIGKILL, wait until it is gone."""
    pid = info.pid(name)
    assert pid is not None, f"{name}'s etcd does not run"
    os.kill(pid, sig)
    if sig == signal.SIGKILL:
        wait_until(lambda: info.pid(name) is None, 10, f"{name}'s etcd gone")
    return pid


def start_member(info: LabInfo, name: str) -> None:
    """Start a stopped member again with its node's service script (inside its namespace)."""
    node = info.node(name)
    argv = [node.service, "start"]
    if node.netns:
        argv = ["ip", "netns", "exec", node.netns, *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


# --- etcdtui on the command line ---------------------------------------------------------------


def cli_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an etcdtui run: no ETCDCTL_* from outside, state (journals, locks)
    in `tmp_path`, and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    (tmp_path / "run").mkdir(mode=0o700, exist_ok=True)
    return env | (extra or {})


def etcdtui(
    tmp_path: Path, *args: str, timeout: float = 180.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `etcdtui ARGS` to its end (stdin closed: no question can be asked)."""
    return subprocess.run([ETCDTUI, *args], env=cli_env(tmp_path, env), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          check=False)  # fmt: skip


class Background:
    """`etcdtui ARGS` started in the background, its output in files (no pipe fills up)."""

    def __init__(
        self, tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.out_path = tmp_path / f"{name}.out"
        self.err_path = tmp_path / f"{name}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen([*AS_IN_A_TERMINAL, ETCDTUI, *args],
                                         env=cli_env(tmp_path, env),
                                         stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL)  # fmt: skip

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL, as the OOM killer or a closed laptop lid would; the exit status."""
        self.proc.kill()
        return self.proc.wait(10)

    def wait(self, timeout: float = 120.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.running():
            self.proc.kill()
            self.proc.wait(10)


def cause(out: str, err: str) -> str:
    """The first line of why a run ended: its STOPPED line, its error line on stderr, or the
    first failed preflight check of a refused plan ("" if it ended well)."""
    for line in out.splitlines():
        if line.startswith("STOPPED after"):
            return line
    for line in err.splitlines():
        if line.startswith("etcdtui"):
            return line
    failed = [line.strip() for line in out.splitlines() if line.strip().startswith("[FAIL]")]
    if failed:
        return failed[0]
    return next((line for line in err.splitlines() if line.strip()), "")


# --- the audit log ------------------------------------------------------------------------------


def audit_entries(path: Path) -> list[dict[str, Any]]:
    """Every record of the audit log at `path`, oldest first ([] before the first)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return entries


def step_record(
    path: Path, step_id: str, started: bool, prefix: bool = False
) -> dict[str, Any] | None:
    """The first record of `step_id` (of a step whose id starts with it, with `prefix`):
    its "started" one, or its result."""
    for entry in audit_entries(path):
        same = entry["step_id"].startswith(step_id) if prefix else entry["step_id"] == step_id
        if same and (entry["note"] == "started") == started:
            return entry
    return None


def wait_step(
    path: Path, step_id: str, started: bool = True, run: Background | None = None,
    timeout: float = 60.0, prefix: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Wait until the audit log shows `step_id` started (or finished); its record. A
    background run that ended first fails the wait with its output."""

    def check() -> dict[str, Any] | None:
        if run is not None and not run.running():
            raise AssertionError(f"etcdtui ended first: {run.stdout[-3000:]}{run.stderr}")
        return step_record(path, step_id, started, prefix)

    deadline = time.monotonic() + timeout
    while True:
        if (entry := check()) is not None:
            return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"{step_id} not {'started' if started else 'done'} in time")
        time.sleep(0.01)
