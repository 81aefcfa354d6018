"""The restore's kinds of step and the typed arguments each kind's handler reads.

The kinds' values are the words journals hold (`"copy"`, `"start_all"`...): a journal written
by an older etcdtui names its steps with them, so they never change. A journal keeps each
step's arguments as text pairs (`step_args_to_pairs`), in the order and under the names older
journals have, and reads them back by kind (`step_args_from_pairs`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum

from etcdtui.models.runbook import StepArgs, decode_args, encode_args


class RestoreKind(StrEnum):
    """What a step of a restore (or of its rollback) does; its handler is found by it."""

    COPY = "copy"  # SFTP the snapshot to a node
    CHECKSUM = "checksum"  # sha256 of the node's copy
    COMMAND = "command"  # a profile command: stop or start a kube-apiserver, restart the rest
    WAIT_APISERVERS_DOWN = "wait_apiservers_down"  # until no kube-apiserver answers as ready
    ETCD_STOP = "etcd_stop"  # stop etcd on a node (done when it is inactive already)
    WAIT_STOPPED = "wait_stopped"  # until no member answers and etcd is inactive everywhere
    RESTORE = "restore"  # write a node's new data dir from its copy
    SWAP = "swap"  # the old data dir aside, the restored one in place
    UNSWAP = "unswap"  # the rollback's: the restored data dir aside, the old one back
    START_ALL = "start_all"  # start etcd on every node at once
    WAIT_HEALTHY = "wait_healthy"  # until the members are healthy with one leader


# The kinds that only look or wait: a run stopped before one of them left that place untouched.
READ_ONLY_KINDS = frozenset({RestoreKind.CHECKSUM, RestoreKind.WAIT_APISERVERS_DOWN,
                             RestoreKind.WAIT_STOPPED, RestoreKind.WAIT_HEALTHY})  # fmt: skip


@dataclass(frozen=True)
class CopyArgs(StepArgs):
    """Copy the snapshot to `remote` on `node`; the bytes sent must hash to `sha256`."""

    node: str
    remote: str
    sha256: str


@dataclass(frozen=True)
class ChecksumArgs(StepArgs):
    """Run `raw` (sha256sum of the copy) on `node`; it must print `sha256`."""

    node: str
    raw: str
    sha256: str


@dataclass(frozen=True)
class CommandArgs(StepArgs):
    """Run `raw` on `node` (as the node's profile gives it, without sudo)."""

    node: str
    raw: str


@dataclass(frozen=True)
class EtcdStopArgs(StepArgs):
    """Stop etcd on `node` with `raw`; `is_active` tells whether it still runs."""

    node: str
    raw: str
    is_active: str


@dataclass(frozen=True)
class WaitStoppedArgs(StepArgs):
    """Wait at most `timeout` seconds for etcd (or, by the step's kind, the kube-apiserver) to
    be stopped on every one of `nodes`."""

    nodes: tuple[str, ...]
    timeout: float


@dataclass(frozen=True)
class RestoreArgs(StepArgs):
    """Run the restore command `raw` on `node`, which writes the data dir `restored`."""

    node: str
    raw: str
    restored: str


@dataclass(frozen=True)
class NodeArgs(StepArgs):
    """Act on `node`, at the paths the run's journal holds for it."""

    node: str


@dataclass(frozen=True)
class NodeStart:
    """How to start etcd on one node, and how to tell that it runs."""

    node: str
    raw: str
    is_active: str


@dataclass(frozen=True)
class StartAllArgs(StepArgs):
    """Start etcd on several nodes at once, each with its own commands.

    As text, the node names are one comma-joined `nodes` pair, and each node's commands two
    pairs named after it: `raw:<node>` and `is_active:<node>`.
    """

    starts: tuple[NodeStart, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(start.node for start in self.starts)

    def to_pairs(self) -> tuple[tuple[str, str], ...]:
        pairs: tuple[tuple[str, str], ...] = (("nodes", ",".join(self.nodes)),)
        for start in self.starts:
            pairs += (
                (f"raw:{start.node}", start.raw),
                (f"is_active:{start.node}", start.is_active),
            )
        return pairs

    @classmethod
    def from_pairs(cls, text: dict[str, str]) -> StartAllArgs:
        names = [n for n in text["nodes"].split(",") if n]
        try:
            starts = tuple(NodeStart(n, text[f"raw:{n}"], text[f"is_active:{n}"]) for n in names)
        except KeyError as exc:
            raise ValueError(f"StartAllArgs: no {exc.args[0]}") from None
        return cls(starts)


@dataclass(frozen=True)
class WaitHealthyArgs(StepArgs):
    """Wait at most `timeout` seconds for exactly `members` to be healthy, with one leader."""

    members: tuple[str, ...]
    timeout: float


ARGS: dict[RestoreKind, type[StepArgs]] = {
    RestoreKind.COPY: CopyArgs,
    RestoreKind.CHECKSUM: ChecksumArgs,
    RestoreKind.COMMAND: CommandArgs,
    RestoreKind.WAIT_APISERVERS_DOWN: WaitStoppedArgs,
    RestoreKind.ETCD_STOP: EtcdStopArgs,
    RestoreKind.WAIT_STOPPED: WaitStoppedArgs,
    RestoreKind.RESTORE: RestoreArgs,
    RestoreKind.SWAP: NodeArgs,
    RestoreKind.UNSWAP: NodeArgs,
    RestoreKind.START_ALL: StartAllArgs,
    RestoreKind.WAIT_HEALTHY: WaitHealthyArgs,
}


def step_args_to_pairs(args: StepArgs) -> tuple[tuple[str, str], ...]:
    """A step's arguments as the text pairs a journal holds."""
    if isinstance(args, StartAllArgs):
        return args.to_pairs()
    return tuple(encode_args(args).items())


def step_args_from_pairs(kind: str, pairs: dict[str, str]) -> StepArgs:
    """The arguments of a step of `kind` read back from a journal (ValueError if malformed)."""
    try:
        known = RestoreKind(kind)
    except ValueError:
        raise ValueError(f"unknown kind of step {kind!r}") from None
    args_type = ARGS[known]
    if args_type is StartAllArgs:
        return StartAllArgs.from_pairs(pairs)
    return _whole_numbers_as_written(decode_args(args_type, pairs), pairs)


def _whole_numbers_as_written(args: StepArgs, pairs: dict[str, str]) -> StepArgs:
    """A timeout written as "60" (a whole number in the options) is read as 60.0, which would
    be written back as "60.0": keep it the int it was, so a journal read and written again
    (as a resumed run does) holds the same text."""
    whole = {
        item.name: int(pairs[item.name])
        for item in fields(args)  # type: ignore[arg-type]
        if isinstance(getattr(args, item.name), float) and pairs[item.name].isdigit()
    }
    return replace(args, **whole) if whole else args  # type: ignore[type-var]


def nodes_reached(args: StepArgs) -> tuple[str, ...]:
    """The nodes a step with these arguments runs commands on over SSH."""
    if isinstance(args, StartAllArgs | WaitStoppedArgs):
        return tuple(n for n in args.nodes if n)
    one = CopyArgs | ChecksumArgs | CommandArgs | EtcdStopArgs | RestoreArgs | NodeArgs
    return (args.node,) if isinstance(args, one) and args.node else ()
