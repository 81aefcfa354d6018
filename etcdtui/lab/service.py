"""The per-node service script and env files: the lab's stand-in for a systemd unit.

Each node folder holds ``etcd.env`` (the member's flags as ETCD_* variables; absent on a spare
until a runbook writes it), ``lab.env`` (LAB_ETCD_BIN, kept out of the ETCD_* names because etcd
warns about ETCD_* variables it does not know) and ``etcd-service``, a POSIX sh script that
answers ``start``, ``stop``, ``restart``, ``is-active`` and ``status`` like systemctl does for a
single unit. The runbooks run the script over SSH, so it uses absolute paths only.

In a netns lab the script runs inside the node's namespace (over SSH, or under
``ip netns exec`` when lab up starts the members); it never enters the namespace itself, but
``start`` refuses to run etcd anywhere else (lab.env's LAB_NETNS names the namespace).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

ENV_FILE = "etcd.env"
LAB_ENV_FILE = "lab.env"
SERVICE_FILE = "etcd-service"
PID_FILE = "etcd.pid"
LOG_FILE = "etcd.log"
# The service script puts this variable in etcd's environment; a pid whose environment lacks
# it (a reused pid, a zombie) is not this node's etcd.
NODE_MARK = "LAB_NODE_DIR"

SCRIPT = r"""#!/bin/sh
# etcd-service for lab node @NODE@: like `systemctl ACTION etcd` for this node's member.
# Usage: etcd-service start|stop|restart|is-active|status   (written by `etcdtui lab up`)
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
NODE_DIR=@DIR@
ENV_FILE="$NODE_DIR/@ENV@"
LAB_FILE="$NODE_DIR/@LABENV@"
PID_FILE="$NODE_DIR/@PID@"
LOG_FILE="$NODE_DIR/@LOG@"
UNIT="etcd on @NODE@"

# Print the pid of this node's etcd if it runs. The pid must be alive and carry @MARK@ in its
# environment: a zombie (empty environment) or a reused pid does not count.
running_pid() {
    [ -r "$PID_FILE" ] || return 1
    pid=$(cat "$PID_FILE" 2>/dev/null)
    case "$pid" in ''|*[!0-9]*) return 1 ;; esac
    { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "@MARK@=$NODE_DIR" || return 1
    echo "$pid"
}

do_start() {
    running_pid >/dev/null && return 0
    if [ ! -s "$ENV_FILE" ]; then
        echo "$UNIT: no member configuration in $ENV_FILE" >&2
        return 6
    fi
    . "$LAB_FILE"
    # A netns lab's etcd binds its node's address and loopback: started from anywhere else it
    # would fail, or worse, listen on the host's 127.0.0.1.
    if [ -n "${LAB_NETNS:-}" ] && ! ip netns identify $$ 2>/dev/null | grep -qxF "$LAB_NETNS"; then
        echo "$UNIT: its etcd runs in network namespace $LAB_NETNS:" \
            "run this over SSH on the node, or under ip netns exec $LAB_NETNS" >&2
        return 1
    fi
    if [ ! -x "$LAB_ETCD_BIN" ]; then
        echo "$UNIT: etcd binary $LAB_ETCD_BIN not found" >&2
        return 5
    fi
    rm -f "$PID_FILE"
    cd "$NODE_DIR" || return 1
    # setsid gives etcd its own session, so the end of the SSH login that started it sends it
    # no SIGHUP (nohup ignores SIGHUP besides); stdin, stdout and stderr are redirected so the
    # SSH channel closes at once. The inner sh writes its own pid and then execs etcd, so the
    # pid file is right whether or not setsid had to fork.
    (
        set -a
        . "$ENV_FILE"
        set +a
        @MARK@=$NODE_DIR
        export @MARK@
        exec setsid nohup /bin/sh -c 'echo $$ >"$1"; exec "$2"' lab-etcd "$PID_FILE" \
            "$LAB_ETCD_BIN" </dev/null >>"$LOG_FILE" 2>&1
    ) &
    # The inner sh writes the pid file just before it execs etcd.
    i=0
    while [ $i -lt 50 ] && [ ! -s "$PID_FILE" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    # etcd exits within a fraction of a second on bad flags or a taken port: catch that here,
    # as systemctl start would, instead of reporting success.
    sleep 0.3
    if running_pid >/dev/null; then
        return 0
    fi
    echo "$UNIT: etcd exited at once; its last error, then the end of $LOG_FILE:" >&2
    # etcd's own words first: a panic's last lines are Go stack frames, not the cause.
    grep -E '"level":"(error|dpanic|panic|fatal)"' "$LOG_FILE" | tail -n 1 >&2
    tail -n 5 "$LOG_FILE" >&2
    return 1
}

do_stop() {
    pid=$(running_pid) || { rm -f "$PID_FILE"; return 0; }
    # A member frozen with SIGSTOP would never act on SIGTERM: resume it first.
    kill -CONT "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    i=0
    while [ $i -lt 100 ]; do
        running_pid >/dev/null || { rm -f "$PID_FILE"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
    i=0
    while [ $i -lt 30 ]; do
        running_pid >/dev/null || { rm -f "$PID_FILE"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    echo "$UNIT: pid $pid did not stop" >&2
    return 1
}

case "$1" in
    start) do_start ;;
    stop) do_stop ;;
    restart) do_stop && do_start ;;
    is-active)
        if running_pid >/dev/null; then echo active; exit 0; fi
        echo inactive
        exit 3
        ;;
    status)
        if pid=$(running_pid); then echo "$UNIT: active (pid $pid)"; exit 0; fi
        echo "$UNIT: inactive"
        exit 3
        ;;
    *)
        echo "usage: $0 start|stop|restart|is-active|status" >&2
        exit 2
        ;;
esac
"""


def env_file_text(variables: Mapping[str, str]) -> str:
    """KEY='value' lines that both sh (``. FILE``) and systemd's EnvironmentFile read."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in variables.items())


def member_env(
    name: str,
    data_dir: str,
    client_url: str,
    peer_url: str,
    initial_cluster: str,
    cluster_state: str,
    token: str,
    tls: Mapping[str, str] | None = None,
    quota_bytes: int | None = None,
    local_client_url: str | None = None,
) -> dict[str, str]:
    """A member's flags as ETCD_* variables (the content of a node's etcd.env).

    `initial_cluster` is "name=peer_url,..."; `cluster_state` is "new" for the lab's founding
    members and "existing" for a member added later (`etcdctl member add` prints both).
    `tls` maps cert, key, peer_cert, peer_key and ca to file paths. With `local_client_url`
    (a netns lab: https://127.0.0.1:2379) the client port listens there only, while the
    member still advertises `client_url`, as kubeadm's loopback-only etcd does.
    """
    env = {
        "ETCD_NAME": name,
        "ETCD_DATA_DIR": data_dir,
        "ETCD_LISTEN_CLIENT_URLS": local_client_url or client_url,
        "ETCD_ADVERTISE_CLIENT_URLS": client_url,
        "ETCD_LISTEN_PEER_URLS": peer_url,
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": peer_url,
        "ETCD_INITIAL_CLUSTER": initial_cluster,
        "ETCD_INITIAL_CLUSTER_STATE": cluster_state,
        "ETCD_INITIAL_CLUSTER_TOKEN": token,
        # etcd 3.4 defaults to the deprecated capnslog logger and warns about it.
        "ETCD_LOGGER": "zap",
    }
    if tls:
        env |= {
            "ETCD_CERT_FILE": tls["cert"],
            "ETCD_KEY_FILE": tls["key"],
            "ETCD_TRUSTED_CA_FILE": tls["ca"],
            "ETCD_CLIENT_CERT_AUTH": "true",
            "ETCD_PEER_CERT_FILE": tls["peer_cert"],
            "ETCD_PEER_KEY_FILE": tls["peer_key"],
            "ETCD_PEER_TRUSTED_CA_FILE": tls["ca"],
            "ETCD_PEER_CLIENT_CERT_AUTH": "true",
        }
    if quota_bytes is not None:
        env["ETCD_QUOTA_BACKEND_BYTES"] = str(quota_bytes)
    return env


def write_service(node_dir: Path, node: str, etcd_bin: str, netns: str | None = None) -> Path:
    """Write the node's service script (0755) and lab.env; return the script's path.

    `netns`: the network namespace the node's etcd must run in (a netns lab).
    """
    lab_env = {"LAB_ETCD_BIN": etcd_bin} | ({"LAB_NETNS": netns} if netns else {})
    (node_dir / LAB_ENV_FILE).write_text(env_file_text(lab_env))
    replacements = {
        "@NODE@": node,
        "@DIR@": shlex.quote(str(node_dir)),
        "@ENV@": ENV_FILE,
        "@LABENV@": LAB_ENV_FILE,
        "@PID@": PID_FILE,
        "@LOG@": LOG_FILE,
        "@MARK@": NODE_MARK,
    }
    text = SCRIPT
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    script = node_dir / SERVICE_FILE
    script.write_text(text)
    script.chmod(0o755)
    return script


def write_member_env(node_dir: Path, env: Mapping[str, str]) -> Path:
    """Write a node's etcd.env (0600: it names key files) and return its path."""
    path = node_dir / ENV_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(env_file_text(env))
    return path


def is_node_etcd(pid: int, node_dir: Path) -> bool:
    """True if `pid` is the etcd this node's service script started (alive, not a zombie)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{NODE_MARK}={node_dir}".encode() in environ.split(b"\0")


def etcd_pid(node_dir: Path) -> int | None:
    """The pid of the node's etcd if it runs (the same test the service script makes)."""
    try:
        pid = int((node_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_node_etcd(pid, node_dir) else None
