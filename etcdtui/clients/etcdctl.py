"""EtcdClient that runs ``etcdctl -w json`` on the member's own node over SSH.

The fallback for nodes whose sshd forbids port forwarding (``AllowTcpForwarding no``): neither
the gateway nor a tunnel can reach a member that listens on the node's loopback, but a command
run there can. etcdctl's JSON has the gateway's shapes with numbers where the gateway has
strings (and enum numbers for alarm types), so the gateway parsers serve both and the screen
shows the same thing whichever way a member is reached.

Each call costs one SSH session and one etcdctl process: about 0.2 s on loopback, nearly all of
it the SSH session.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from etcdtui.clients.etcd import (
    LEASE_GONE,
    RESERVED_PREFIX,
    EtcdClient,
    parse_added,
    parse_alarms,
    parse_members,
    parse_status,
)
from etcdtui.clients.etcd_api import HASHKV_TIMEOUT, KeyCount, KvHash, parse_hashkv, parse_key_count
from etcdtui.clients.etcdctl_output import error_line, last_line, seconds
from etcdtui.clients.etcdctl_range import UnsayableKey, etcdctl_range
from etcdtui.clients.range_read import PAGE_TIMEOUT, RangePage, parse_range_protobuf
from etcdtui.clients.shell import NodeShell
from etcdtui.config import TlsFiles
from etcdtui.errors import EtcdError, EtcdTimeout, EtcdTLSError, SshError, SshTimeout
from etcdtui.models import Alarm, Member, MemberStatus
from etcdtui.models.command import CommandResult

# Time allowed on top of etcdctl's own --command-timeout for the SSH session, process start and
# output, so that etcdctl's error (which names the cause) arrives before SSH gives up on it.
SSH_MARGIN = 1.0

# etcdctl refuses to start when a variable shadows a flag it is given, and the rest would change
# what it does: the command line alone decides. ETCDCTL_API=3 because 3.4 runs its v2 client
# when a node exports ETCDCTL_API=2 (it defaults to v3 otherwise).
_ENV = (
    "unset ETCDCTL_ENDPOINTS ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY ETCDCTL_DIAL_TIMEOUT "
    "ETCDCTL_COMMAND_TIMEOUT ETCDCTL_WRITE_OUT ETCDCTL_INSECURE_SKIP_TLS_VERIFY; ETCDCTL_API=3"
)

# etcdctl prints the AlarmType enum as a number; the gateway prints its name.
_ALARM_NAMES = {0: "NONE", 1: "NOSPACE", 2: "CORRUPT"}

_NOT_FOUND = 127  # the shell's exit code for a missing command
_CURL_TIMEOUT = 28
_CURL_TLS = {35, 51, 53, 54, 58, 59, 60, 66, 77, 80, 82, 83, 90, 91}  # SSL/certificate errors


class EtcdctlClient:
    """EtcdClient for one member, running etcdctl (and curl, for /metrics) on its node.

    ``endpoint`` is the member's URL as etcdtui shows it; ``node_endpoint`` is the URL etcdctl
    dials on the node (often ``https://127.0.0.1:2379``); ``tls`` names files on the node.
    ``sudo`` (default: the node's setting) runs the commands as root, for key files only root
    may read. Failures, SSH ones included, are raised as EtcdError subclasses whose message
    starts with ``endpoint``, so an unreachable node shows as an unreachable member.
    """

    def __init__(
        self,
        endpoint: str,
        shell: NodeShell,
        *,
        node_endpoint: str,
        etcdctl: str = "etcdctl",
        tls: TlsFiles | None = None,
        timeout: float = 2.0,
        sudo: bool | None = None,
        curl: str = "curl",
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.shell = shell
        self.node_endpoint = node_endpoint.rstrip("/")
        self.etcdctl = etcdctl
        self.tls = tls or TlsFiles()
        self.sudo = sudo
        self.curl = curl

    # --- reads -------------------------------------------------------------------------------

    def status(self) -> MemberStatus:
        data = self._json(["endpoint", "status"])
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise self._error(f"etcdctl endpoint status printed no status: {data!r:.80}")
        return parse_status(self.endpoint, data[0].get("Status") or {})

    def member_list(self) -> tuple[Member, ...]:
        return parse_members(self._json(["member", "list"]))

    def alarms(self) -> tuple[Alarm, ...]:
        data = self._json(["alarm", "list"])
        # 3.4 prints `{}` when no alarm is armed, 3.5 a header and no "alarms".
        named = [
            {**a, "alarm": _ALARM_NAMES.get(a.get("alarm", 0), str(a.get("alarm")))}
            for a in data.get("alarms", ()) or ()
        ]
        return parse_alarms({"alarms": named})

    def linearizable_read(self) -> float:
        """Seconds for a linearizable read of the key "health", as etcdctl timed it on the node.

        ``etcdctl endpoint health`` makes that read and reports how long it took, without the
        SSH session and etcdctl's start (about 0.2 s over loopback, most of the whole run), so
        the figure compares with the gateway client's. An armed alarm, which 3.5 reports there
        too, does not fail the read: alarms() tells of it, as with the gateway.
        """
        result = self._run(["endpoint", "health"], self.timeout, check=False)
        try:
            health = json.loads(result.stdout)[0]
            took, error = seconds(health["took"]), str(health.get("error", ""))
        except (ValueError, LookupError, TypeError):
            raise self._failure(result) from None
        if error and not error.startswith("Active Alarm"):
            raise self._failure(result, error)
        return took

    def key_count(self) -> int:
        # --count-only does not exist in 3.4; --limit=1 --keys-only sends one key, and `count`
        # is still the size of the whole range. etcd omits it when it is zero.
        data = self._json(["get", "", "--from-key", "--keys-only", "--limit=1"])
        ours = self._json(["get", RESERVED_PREFIX.decode(), "--prefix", "--keys-only", "--limit=1"])
        return int(data.get("count", 0) or 0) - int(ours.get("count", 0) or 0)

    def hashkv(self, revision: int, timeout: float = HASHKV_TIMEOUT) -> KvHash:
        """`etcdctl endpoint hashkv --rev N`: over gRPC, so it works on every etcd 3.4+."""
        result = self._run(["endpoint", "hashkv", f"--rev={int(revision)}"], timeout)
        try:
            answer = json.loads(result.stdout)[0]["HashKV"]
        except (ValueError, LookupError, TypeError):
            raise self._failure(result) from None
        return parse_hashkv(self.endpoint, answer)

    def serializable_count(self) -> KeyCount:
        # As key_count: --limit=1 sends one key and `count` is still the whole range's.
        args = ["get", "", "--from-key", "--keys-only", "--limit=1", "--consistency=s"]
        return parse_key_count(self._json(args))

    def range_page(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int,
        keys_only: bool,
        revision: int = 0,
        timeout: float = PAGE_TIMEOUT,
    ) -> RangePage:
        """`etcdctl get` of one page (see etcdctl_range for how its keys become arguments),
        in protobuf's wire form, base64-encoded on the node to travel as text."""
        asked = etcdctl_range(start, end, limit=limit, keys_only=keys_only, revision=revision)
        if asked is None:
            raise self._error(f"etcdctl cannot take the key {start!r}: it must be UTF-8 "
                              "without NUL", UnsayableKey)  # fmt: skip
        command = self.command([*asked.args[:1], "-w", "protobuf", *asked.args[1:]], timeout)
        # A pipeline's status is base64's: a failed etcdctl shows as output with no header.
        result = self._ssh(f"{command} | base64", timeout, "etcdctl get")
        try:
            return asked.trim(parse_range_protobuf(base64.b64decode(result.stdout), keys_only))
        except ValueError:
            said = "" if result.stderr.strip() else "etcdctl printed no range response"
            raise self._failure(result, said) from None

    def metrics_text(self) -> str:
        """/metrics, fetched by curl on the node: etcdctl has no way to scrape it."""
        return self._curl("/metrics", "latency metrics")

    def version_text(self) -> str:
        """/version, fetched by curl on the node (`etcdctl version` is etcdctl's own)."""
        return self._curl("/version", "the cluster version")

    def _curl(self, path: str, what: str) -> str:
        args = [self.curl, "-fsS", "--noproxy", "*", "--max-time", f"{self.timeout:g}"]
        if self.tls.cacert:
            args += ["--cacert", self.tls.cacert]
        if self.tls.cert and self.tls.key:
            args += ["--cert", self.tls.cert, "--key", self.tls.key]
        args.append(f"{self.node_endpoint}{path}")
        result = self._ssh(shlex.join(args), self.timeout, f"curl {path}")
        if result.exit_code == 0:
            return result.stdout
        if result.exit_code == _NOT_FOUND:
            raise self._error(f"no curl on {self.shell.node}: {what} unavailable over etcdctl")
        line = last_line(result.stderr) or f"curl exited with {result.exit_code}"
        if result.exit_code == _CURL_TIMEOUT:
            raise self._error(line, EtcdTimeout)
        raise self._error(line, EtcdTLSError if result.exit_code in _CURL_TLS else EtcdError)

    # --- changes -----------------------------------------------------------------------------

    def defragment(self, timeout: float) -> None:
        self._run(["defrag"], timeout)

    def compact(self, revision: int, timeout: float) -> None:
        # --physical: return once the compaction reached the backend, so a defrag right after
        # it reclaims the space (the gateway client asks for the same).
        self._run(["compact", str(revision), "--physical"], timeout)

    def disarm_alarm(self, member_id: int, alarm: str) -> None:
        """Disarm `alarm` of member `member_id`; nothing to do if it is not armed.

        Unlike the gateway's DEACTIVATE, ``etcdctl alarm disarm`` disarms every armed alarm at
        once: it runs only while the requested alarm is armed, and disarming other members'
        alarms of the same kind goes with it. It refuses (EtcdError) while an alarm of another
        kind is armed, since that would disarm it too: a CORRUPT alarm hides damage.
        """
        armed = self.alarms()
        if Alarm(member_id, alarm) not in armed:
            return
        others = sorted({f"{a.kind} on {a.member_id:x}" for a in armed if a.kind != alarm})
        if others:
            raise self._error(
                f"etcdctl can only disarm every alarm at once, and {', '.join(others)} is armed "
                f"too: not disarming {alarm}",
                hint="disarm them by hand with `etcdctl alarm disarm` if that is meant",
            )
        self._run(["alarm", "disarm"], self.timeout)

    def move_leader(self, target_id: int, timeout: float) -> None:
        """Hand leadership to member `target_id`; this member must be the leader.

        As with the gateway, which sends the request to this member and gets "etcdserver: not
        leader" from a follower: etcdctl move-leader looks for the leader among its endpoints
        and, given only this one, fails when it is a follower.
        """
        try:
            self._run(["move-leader", f"{target_id:x}"], timeout)
        except EtcdError as exc:
            if "no leader endpoint given" not in exc.message:
                raise
            raise self._error(
                f"etcdserver: not leader ({exc.message.removeprefix(f'{self.endpoint}: ')})"
            ) from None

    def member_add(self, name: str, peer_urls: tuple[str, ...], is_learner: bool) -> Member:
        args = ["member", "add", name, "--peer-urls=" + ",".join(peer_urls)]
        if is_learner:
            args.append("--learner")
        return parse_added(self._json(args))

    def member_remove(self, member_id: int) -> None:
        self._run(["member", "remove", f"{member_id:x}"], self.timeout)

    def member_promote(self, member_id: int) -> None:
        self._run(["member", "promote", f"{member_id:x}"], self.timeout)

    def put(self, key: bytes, value: bytes) -> None:
        # The value goes through stdin, byte for byte; etcdctl refuses an empty stdin, so an
        # empty value goes on the command line.
        if value:
            self._run(["put", "--", self._key(key)], self.timeout, stdin=value)
        else:
            self._run(["put", "--", self._key(key), ""], self.timeout)

    def delete(self, key: bytes) -> None:
        self._run(["del", "--", self._key(key)], self.timeout)

    def get(self, key: bytes) -> bytes | None:
        kvs = self._json(["get", "--", self._key(key)]).get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def lease_grant(self, ttl: int) -> int:
        return int(self._json(["lease", "grant", str(int(ttl))]).get("ID", 0))

    def lease_keepalive(self, lease_id: int) -> int:
        try:
            data = self._json(["lease", "keep-alive", "--once", format(lease_id, "x")])
        except EtcdError as exc:
            if LEASE_GONE in exc.message:
                return 0  # as the gateway answers: the lease has expired
            raise
        return int((data.get("result") or data).get("TTL", 0) or 0)

    def lease_revoke(self, lease_id: int) -> None:
        self._run(["lease", "revoke", format(lease_id, "x")], self.timeout)

    def put_if_absent(self, key: bytes, value: bytes, lease_id: int) -> bytes | None:
        # `etcdctl txn` reads compares, then success, then failure requests, one per line,
        # each block ended by an empty line; keys and values are quoted as Go strings.
        name, text = json.dumps(self._key(key)), json.dumps(value.decode())
        script = (f"create({name}) = \"0\"\n\nput {name} {text} --lease={lease_id:x}\n\n"
                  f"get {name}\n\n")  # fmt: skip
        result = self._run(["txn", "-w", "json"], self.timeout, stdin=script.encode())
        try:
            data = json.loads(result.stdout)
        except ValueError:
            raise self._error(f"etcdctl txn printed no JSON: {last_line(result.stdout)}") from None
        if data.get("succeeded"):
            return None
        for response in data.get("responses") or []:
            one = response.get("Response") or {}
            # 3.4 names the oneof field ResponseRange, 3.5 response_range.
            found = one.get("response_range") or one.get("ResponseRange") or {}
            kvs = found.get("kvs") or []
            if kvs:
                return base64.b64decode(kvs[0].get("value", ""))
        return b""

    def close(self) -> None:
        """Nothing to release: the shell belongs to whoever made it, and they close it."""

    # --- plumbing ----------------------------------------------------------------------------

    def command(self, args: Sequence[str], timeout: float) -> str:
        """The shell command that runs ``etcdctl ARGS`` against this member."""
        millis = f"{max(1, round(timeout * 1000))}ms"
        flags = ["--endpoints", self.node_endpoint]
        if self.tls.cacert:
            flags += ["--cacert", self.tls.cacert]
        if self.tls.cert and self.tls.key:
            flags += ["--cert", self.tls.cert, "--key", self.tls.key]
        flags += ["--dial-timeout", millis, "--command-timeout", millis, "-w", "json"]
        return f"{_ENV} {shlex.join([self.etcdctl, *flags, *args])}"

    def _key(self, key: bytes) -> str:
        # A key travels as an argument: it must be text, and no argument can hold a NUL.
        try:
            text = key.decode()
        except UnicodeDecodeError:
            text = "\0"
        if "\0" in text or not text:
            raise self._error(f"etcdctl cannot take the key {key!r}: it must be UTF-8 without NUL")
        return text

    def _json(self, args: Sequence[str]) -> Any:
        result = self._run(args, self.timeout)
        try:
            return json.loads(result.stdout)
        except ValueError:
            text = last_line(result.stdout) or "nothing"
            raise self._error(f"etcdctl printed no JSON: {text}") from None

    def _run(
        self, args: Sequence[str], timeout: float, stdin: bytes | None = None, check: bool = True
    ) -> CommandResult:
        what = " ".join(["etcdctl", *(a for a in args[:2] if a and not a.startswith("-"))])
        result = self._ssh(self.command(args, timeout), timeout, what, stdin)
        if result.exit_code == 0 or (not check and result.exit_code != _NOT_FOUND):
            return result
        if result.exit_code == _NOT_FOUND:
            raise self._error(
                f"no etcdctl at {self.etcdctl} on {self.shell.node}",
                hint="set vars.etcdctl for the node",
            )
        raise self._failure(result)

    def _ssh(
        self, command: str, timeout: float, what: str, stdin: bytes | None = None
    ) -> CommandResult:
        budget = timeout + SSH_MARGIN
        try:
            return self.shell.run(command, timeout=budget, sudo=self.sudo, stdin=stdin)
        except SshTimeout as exc:
            if "did not finish" in exc.message:
                # The command ran out of time (rather than the connection): SshShell's message
                # quotes the whole command line, too long for a member's row.
                message = f"`{what}` on {self.shell.node} did not finish within {budget:g} s"
                raise self._error(message, EtcdTimeout) from None
            raise self._error(f"over SSH: {exc.message}", EtcdTimeout, exc.hint) from None
        except SshError as exc:
            raise self._error(f"over SSH: {exc.message}", hint=exc.hint) from None

    def _failure(self, result: CommandResult, line: str = "") -> EtcdError:
        """etcdctl's own error line (or `line`) as an EtcdError, classified by its cause."""
        found, cause = error_line(result.stderr)
        line = line or found or f"etcdctl exited with {result.exit_code}"
        tls = any(k in cause for k in ("handshake failed", "x509:", "tls:"))
        if "context deadline exceeded" in line or "DeadlineExceeded" in line:
            # etcdctl reports every failure to connect as a deadline; its log says why.
            reason = "context deadline exceeded"
            if cause and cause != reason and "SubConns" not in cause:  # 3.4's says nothing
                reason = f"{reason}: {cause}"
            if tls:
                return self._error(reason, EtcdTLSError)
            return self._error(reason, EtcdError if "connection refused" in cause else EtcdTimeout)
        return self._error(line.removeprefix("Error: "))

    def _error(self, reason: str, cls: type[EtcdError] = EtcdError, hint: str = "") -> EtcdError:
        return cls(f"{self.endpoint}: {reason}", hint=hint, endpoint=self.endpoint)


if TYPE_CHECKING:

    def _is_etcd_client(client: EtcdctlClient) -> EtcdClient:
        """Never called: mypy checks here that EtcdctlClient really satisfies EtcdClient."""
        return client
