"""Hypothesis properties of the three parsers that read outside input.

- The defrag rule: any text is a Rule or a RuleError (one line, its column inside the text),
  and a well-typed tree, printed with only the parentheses precedence needs, parses back to
  the same tree and evaluates like a direct evaluation of it.
- The TOML config loader: any bytes, any text and any table of the config's shape give a
  Connection or a UsageError (ConfigError is one), never another exception, never a hang.
- The snapshot reader: any bytes, and any damage to a real etcd snapshot, give a status or a
  SnapshotError/UsageError, never another exception, never a hang.

tests/data/etcd-3.5.1-small.snapshot.db was saved once from a real one-member etcd 3.5.1
(`etcdctl snapshot save` after three puts, an overwrite and a delete); its numbers below are
what `etcdutl snapshot status -w json` printed for it. Runs are derandomized and use no example
database, so every run tries the same inputs; the @example decorators are the cases worth
keeping whatever Hypothesis draws.
"""

from __future__ import annotations

import math
import operator
import os
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from etcdtui.config import PROFILE_ACTIONS, Connection, cluster_names, load_connection
from etcdtui.config.schema import CLUSTER_TABLE, NODE_TABLE, SSH_TABLE
from etcdtui.errors import SnapshotError, UsageError
from etcdtui.runbooks.defrag.rule import (
    MAX_LENGTH,
    VARIABLES,
    Expr,
    Number,
    RuleError,
    Variable,
    parse_rule,
)
from etcdtui.snapshots.bolt import META_OFFSET, fnv1a64
from etcdtui.snapshots.catalogue import inspect_snapshot
from etcdtui.snapshots.crypto import MAGIC, SnapshotKey
from etcdtui.snapshots.status import read_status
from etcdtui.toml_io import dump_toml

# Module-scoped fixtures whose state the tests share: one pytest-xdist worker runs them all.
pytestmark = [pytest.mark.xdist_group("test_properties"), pytest.mark.timeout(120)]

DATA = Path(__file__).resolve().parents[1] / "data"
SNAPSHOT = DATA / "etcd-3.5.1-small.snapshot.db"
PAGE = 4096
SNAPSHOT_STATUS = {"hash": 3566744320, "revision": 6, "totalKey": 11, "totalSize": 20480}

# A parser that loops forever fails here rather than at the suite's 300 s.

PROPERTIES = settings(
    max_examples=200,
    deadline=None,  # a slow example on a busy machine is not a failure; a hang hits the timeout
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def one_line(error: Exception) -> None:
    text = str(error)
    assert text and "\n" not in text and "\r" not in text, repr(text)


# --- the defrag rule -----------------------------------------------------------------------

_SOUP = [*VARIABLES, "dbSze", "1", "0", "2.5", "1e3", "1e", "1e-3", ".", ".5", "+", "-", "*"]
_SOUP += ["/", "%", "<", "<=", ">", ">=", "==", "!=", "=", "&&", "||", "&", "|", "!", "(", ")"]
_SOUP += [" ", "\t", "\n", "'", "_x", "é", ";", "[", "]", "\x00", "\x1b", "1e999", "0x10"]
any_rule_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(_SOUP), max_size=25).map("".join),
)
member_value = st.one_of(
    st.floats(),  # NaN and infinities too: a value that is not finite is a RuleError
    st.sampled_from([0.0, -0.0, 1.0, 8.0 * 2**20, 2.0**63]),
)
member_values = st.fixed_dictionaries({name: member_value for name in VARIABLES})


@PROPERTIES
@given(any_rule_text, member_values)
@example("", {})
@example(" \t\n", {})
@example("(" * 150 + "dbSize > 1" + ")" * 150, {})
@example("dbSize > 1".ljust(MAX_LENGTH + 1), {})
@example("1e308 * 10 > 1", {})
@example("dbSize / dbQuota > 0.8", {"dbSize": 1.0, "dbQuota": 0.0})
@example("dbSize > 1", {"dbSize": math.nan})
@example("dbSize\x1b[2J > 1", {})
def test_any_text_is_a_rule_or_one_line_rule_error(text: str, values: dict[str, float]) -> None:
    try:
        rule = parse_rule(text)
    except RuleError as err:
        one_line(err)
        assert 0 <= err.position <= max(len(text), MAX_LENGTH)
        assert err.message.startswith(f"bad rule at column {err.position + 1}: ")
        return
    try:
        assert isinstance(rule.evaluate(values), bool)
    except RuleError as err:
        one_line(err)
        assert err.message.startswith(f"rule failed at column {err.position + 1}: ")
        assert 0 <= err.position < len(text)


# Well-typed trees: ("num", text), ("var", name), ("neg", x), ("not", c), (op, left, right).
_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4}
_PRECEDENCE |= {"+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "%": math.fmod,
}  # fmt: skip
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
Tree = tuple[Any, ...]

# Small numbers first: they make the cases where precedence or associativity changes the
# result, which huge literals (overflow) and NaN values (refused) would hide.
_SMALL = ["0", "1", "2", "3", "7", "10", "0.5", ".5", "2e1", "1e+2", "007", "1.5E-3"]
literal = st.one_of(
    st.sampled_from(_SMALL),
    st.integers(min_value=0, max_value=10**12).map(str),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
)
number_leaf = st.one_of(literal.map(lambda t: ("num", t)), st.sampled_from(VARIABLES).map(
    lambda name: ("var", name)))  # fmt: skip


def _unary_or_binary(unary: str) -> Callable[[Tree], Tree]:
    return lambda t: (unary, t[1]) if t[0] == unary else t


def _numbers(inner: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    # One draw of the operator, so that "neg" is one choice among six, not half of them.
    ops = [*_ARITHMETIC, "neg"]
    return st.tuples(st.sampled_from(ops), inner, inner).map(_unary_or_binary("neg"))


numbers = st.recursive(number_leaf, _numbers, max_leaves=8)
comparison = st.tuples(st.sampled_from(list(_COMPARE)), numbers, numbers)


def _conditions(inner: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    ops = ["&&", "||", "==", "!=", "not"]
    return st.tuples(st.sampled_from(ops), inner, inner).map(_unary_or_binary("not"))


conditions = st.recursive(comparison, _conditions, max_leaves=6)


def render(tree: Tree) -> tuple[str, int]:
    """The tree as a rule, with only the parentheses precedence and associativity need."""
    kind = tree[0]
    if kind in ("num", "var"):
        return tree[1], 9
    if kind in ("neg", "not"):
        text, precedence = render(tree[1])
        return ("-" if kind == "neg" else "!") + (text if precedence >= 8 else f"({text})"), 8
    precedence = _PRECEDENCE[kind]
    (left, lp), (right, rp) = render(tree[1]), render(tree[2])
    left = left if lp >= precedence else f"({left})"
    right = right if rp > precedence else f"({right})"  # left-associative
    return f"{left} {kind} {right}", precedence


class Refused(Exception):
    """The reference evaluation divides by zero, overflows or reads a value that is not finite."""


def reference(tree: Tree, env: dict[str, float]) -> Any:
    kind = tree[0]
    if kind == "num":
        return float(tree[1])
    if kind == "var":
        if not math.isfinite(env[tree[1]]):
            raise Refused
        return env[tree[1]]
    if kind == "neg":
        return -reference(tree[1], env)
    if kind == "not":
        return not reference(tree[1], env)
    if kind == "&&":
        return reference(tree[1], env) and reference(tree[2], env)
    if kind == "||":
        return reference(tree[1], env) or reference(tree[2], env)
    a, b = reference(tree[1], env), reference(tree[2], env)
    if kind in _ARITHMETIC:
        if kind in ("/", "%") and b == 0:
            raise Refused
        result = _ARITHMETIC[kind](a, b)
        if not math.isfinite(result):
            raise Refused
        return result
    if kind in _COMPARE and isinstance(a, float):
        return _COMPARE[kind](a, b)
    return (a == b) == (kind == "==")  # two conditions


small_values = st.fixed_dictionaries(
    {name: st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0, 8.0]), member_value)
     for name in VARIABLES}
)  # fmt: skip


def parsed(node: Expr) -> Tree:
    """The parser's tree in the shape of the generated ones (no positions, float literals)."""
    if isinstance(node, Number):
        return ("num", node.value)
    if isinstance(node, Variable):
        return ("var", node.name)
    if len(node.operands) == 1:
        return ("neg" if node.op == "-" else "not", parsed(node.operands[0]))
    return (node.op, parsed(node.operands[0]), parsed(node.operands[1]))


def generated(tree: Tree) -> Tree:
    if tree[0] == "num":
        return ("num", float(tree[1]))
    if tree[0] == "var":
        return tree
    return (tree[0], *(generated(child) for child in tree[1:]))


@PROPERTIES
@given(conditions, small_values)
@example(("<", ("num", "1"), ("-", ("num", "2"), ("-", ("num", "3"), ("num", "4")))), {})
@example(
    (
        "||",
        ("<", ("num", "1"), ("num", "2")),
        ("&&", ("<", ("num", "1"), ("num", "2")), (">", ("num", "1"), ("num", "2"))),
    ),
    {},
)
@example((">", ("+", ("num", "1"), ("*", ("num", "2"), ("num", "3"))), ("num", "8")), {})
@example((">", ("*", ("neg", ("var", "dbSize")), ("num", "2")), ("num", "0")), {"dbSize": 1.0})
@example(("==", ("not", ("<", ("num", "1"), ("num", "2"))), (">", ("num", "1"), ("num", "2"))), {})
@example(
    (
        "||",
        ("<", ("num", "1"), ("num", "2")),
        ("<", ("/", ("num", "1"), ("num", "0")), ("num", "1")),
    ),
    {},
)
@example(
    (
        "==",
        ("<", ("%", ("neg", ("num", "0.0")), ("num", "3")), ("num", "1")),
        ("not", (">", ("var", "dbSize"), ("num", "1"))),
    ),
    {"dbSize": 2.0},
)
def test_a_well_typed_rule_parses_to_its_tree_and_evaluates_like_it(
    tree: Tree, values: dict[str, float]
) -> None:
    env = {name: values.get(name, 1.0) for name in VARIABLES}
    text, _ = render(tree)
    if len(text) > MAX_LENGTH:
        with pytest.raises(RuleError, match="longer than"):
            parse_rule(text)
        return
    rule = parse_rule(text)
    # Printed with only the parentheses precedence needs, it must parse back to the same tree.
    assert parsed(rule.tree) == generated(tree), text
    try:
        expected = reference(tree, env)
    except Refused:
        with pytest.raises(RuleError, match="rule failed at column"):
            rule.evaluate(env)
        return
    assert rule.evaluate(env) is expected, text


# --- the TOML config loader ----------------------------------------------------------------

VALID_CONFIG = """\
default_cluster = "prod"

[clusters.prod]
endpoints = ["https://10.0.0.1:2379", "10.0.0.2:2379"]
timeout = 3.5
via = "direct"
snapshot_dir = "snaps"
rpo_hours = 12

[clusters.prod.nodes.cp1]
member = "cp1"
profile = "static-pod"
data_dir = "/var/lib/etcd"
client_urls = ["https://10.0.0.1:2379"]
vars = { manifest = "/etc/kubernetes/manifests/etcd.yaml" }
ssh = { host = "10.0.0.1", port = 22, user = "ops", connect_timeout = 5 }

[profiles.custom]
start = "systemctl start {unit}"
"""


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder holding a FIFO, a socket and a directory that configs may name as files."""
    folder = tmp_path_factory.mktemp("configs")
    os.mkfifo(folder / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock"))
    (folder / "dir").mkdir()
    (folder / "ca.crt").write_text("not really a certificate\n")
    yield folder
    sock.close()


def load(folder: Path, data: bytes, cluster: str | None = None) -> Connection | None:
    """Load `data` as a config file; None when it is refused (as a UsageError, in one line)."""
    path = folder / "etcdtui.toml"
    path.write_bytes(data)
    try:
        names = cluster_names(path)
        connection = load_connection(path, cluster)
    except UsageError as err:  # ConfigError is a UsageError
        one_line(err)
        event("refused")
        return None
    assert connection.cluster in names
    event("loaded")
    return connection


@PROPERTIES
@given(st.binary(max_size=400))
@example(b"\xff\xfe[clusters.a]")
@example(b"a = " + b"[" * 10_000 + b"]" * 10_000)
@example(b"a = " + b"{b = " * 5_000 + b"1" + b"}" * 5_000)
@example(b"a = 1" + b"0" * 5_000)  # int() refuses more than 4300 digits
@example(b"[clusters.a]\nendpoints = ['h:1']\ntimeout = nan")
@example(b"[clusters.a]\nendpoints = ['h:1']\ntimeout = inf")
@example(b"[clusters.a]\nendpoints = ['h:1']\nrpo_hours = 1e400")
@example(b"[clusters.a]\nendpoints = ['h:1']\ncacert = 'a\\u0000b'")
@example(b"[clusters.a]\nendpoints = ['h:1']\ncacert = 'fifo'")
@example(b"[clusters.a]\nendpoints = ['h:1']\ncacert = '/dev/zero'")
@example(b"[clusters.a]\nendpoints = ['h:1']\ncacert = 'dir'")
@example(b"[clusters.a]\nendpoints = ['h:1']\ncacert = 'sock'")
@example(b"[clusters.a]\nendpoints = ['http://h\\n:1']")
@example(b"[clusters.a]\nendpoints = ['h:1']\n[clusters.a.nodes.n]\nssh = {host = 'h', port = 1e9}")
@example(b"[clusters.a]\nendpoints = ['h:1']\n[profiles.p]\nstart = '{0.__class__}'")
@example(b"clusters = 1")
@example(b"[clusters]\na = []")
def test_any_bytes_load_as_a_connection_or_one_usage_error(config_dir: Path, data: bytes) -> None:
    load(config_dir, data)


@PROPERTIES
@given(st.text(max_size=300))
@example("[clusters.\x1b]\nendpoints = ['h:1']")
@example('[clusters."a\\u0000"]\nendpoints = ["h:1"]')
def test_any_text_loads_as_a_connection_or_one_usage_error(config_dir: Path, text: str) -> None:
    load(config_dir, text.encode("utf-8", "surrogatepass"))


@PROPERTIES
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID_CONFIG)), st.integers(0, 3), st.text(max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_a_valid_config_edited_at_random_still_loads_or_is_refused(
    config_dir: Path, edits: list[tuple[int, int, str]]
) -> None:
    assert load(config_dir, VALID_CONFIG.encode()) is not None  # the starting point is valid
    text = VALID_CONFIG
    for at, drop, insert in edits:
        text = text[:at] + insert + text[at + drop :]
    load(config_dir, text.encode("utf-8", "surrogatepass"))


# Tables of the config's shape, every value of any TOML type, paths among them that name the
# FIFO, socket and directory of config_dir, or /dev/zero.
_PATHS = ["fifo", "sock", "dir", "/dev/zero", "ca.crt", "missing.crt", "~", "", "a\x00b"]
_WORDS = ["h:1", "http://127.0.0.1:1", "https://[::1]:2379", "ftp://h:1", "ssh", "direct",
          "strict", "accept-new", "static-pod", "systemd", "lab", "{unit}", "{", "}", "{0}",
          "{a.b}", *_PATHS]  # fmt: skip
scalar = st.one_of(
    st.text(max_size=12),
    st.sampled_from(_WORDS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
)
value = st.one_of(scalar, st.lists(scalar, max_size=3))
# Each table's keys as declared, and one that is not ("nodes" is filled in below).
_NODE_KEYS = [*sorted(NODE_TABLE.names), "junk"]
_SSH_KEYS = [*sorted(SSH_TABLE.names), "junk"]
_CLUSTER_KEYS = [*sorted(CLUSTER_TABLE.names - {"nodes"}), "junk"]
ssh_table = st.dictionaries(st.sampled_from(_SSH_KEYS), value, max_size=5)
node_table = st.dictionaries(
    st.sampled_from(_NODE_KEYS),
    st.one_of(value, ssh_table, st.dictionaries(st.text(max_size=5), scalar, max_size=2)),
    max_size=6,
).map(lambda table: {**table, "ssh": table.get("ssh", {"host": "h"})})
cluster_table = st.dictionaries(st.sampled_from(_CLUSTER_KEYS), value, max_size=6).map(
    lambda table: {"endpoints": ["h:1"], **table}
)
cluster_with_nodes = st.tuples(
    cluster_table, st.dictionaries(st.sampled_from(["n1", "n2", "a b"]), node_table, max_size=2)
).map(lambda pair: {**pair[0], "nodes": pair[1]})
config_table = st.fixed_dictionaries(
    {
        "clusters": st.dictionaries(
            st.sampled_from(["a", "b", "x.y", ""]), cluster_with_nodes, min_size=1, max_size=2
        )
    },
    optional={
        "default_cluster": st.sampled_from(["a", "b", "c"]),
        "profiles": st.dictionaries(
            st.sampled_from(["systemd", "custom"]),
            st.dictionaries(st.sampled_from([*sorted(PROFILE_ACTIONS), "junk"]), scalar),
            max_size=2,
        ),
    },
)


@PROPERTIES
@given(config_table, st.sampled_from([None, "a", "b", "nope"]))
@example({"clusters": {"a": {"endpoints": ["h:1"], "cacert": "fifo", "nodes": {}}}}, None)
@example({"clusters": {"a": {"endpoints": ["h:1"], "cacert": "/dev/zero", "nodes": {}}}}, None)
@example({"clusters": {"a": {"endpoints": ["h:1"], "timeout": math.nan, "nodes": {}}}}, None)
@example({"clusters": {"a": {"endpoints": ["h:1"], "via": "ssh", "nodes": {}}}}, "a")
@example(
    {"clusters": {"a": {"endpoints": ["h:1"], "nodes": {"n": {"ssh": {"port": 2**70}}}}}}, None
)
def test_tables_of_the_config_shape_load_or_are_refused_in_one_line(
    config_dir: Path, table: dict[str, Any], cluster: str | None
) -> None:
    loaded = load(config_dir, dump_toml(table).encode("utf-8", "surrogatepass"), cluster)
    if loaded is not None:
        # What loads is usable: endpoints normalised, TLS files readable regular files.
        assert loaded.endpoints and all("://" in url for url in loaded.endpoints)
        for path in (loaded.tls.cacert, loaded.tls.cert, loaded.tls.key):
            assert path is None or loaded.certs_on_node or Path(path).is_file()


# --- the snapshot reader -------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshots")


def read(folder: Path, data: bytes, key: SnapshotKey | None = None) -> None:
    """Read `data` as a snapshot both ways (status, and the catalogue's inspect)."""
    path = folder / "snapshot.db"
    path.write_bytes(data)
    for check in (lambda: read_status(path), lambda: inspect_snapshot(path, key)):
        try:
            check()
        except (SnapshotError, UsageError) as err:  # SnapshotKeyError is a SnapshotError
            one_line(err)
            # What stopped it, without the path: "corrupt: page", "not a snapshot"...
            event(" ".join(str(err).replace(str(path), "FILE").split()[:3]))
        else:
            event("read")


def test_the_fixture_is_a_real_snapshot_that_reads_as_etcdutl_read_it() -> None:
    status = read_status(SNAPSHOT)
    assert {"hash": status.hash, "revision": status.revision, "totalKey": status.total_keys,
            "totalSize": status.total_size} == SNAPSHOT_STATUS  # fmt: skip
    assert status.digest == "ok" and status.cluster_version == "3.5.0"


def with_meta_checksums(data: bytearray) -> bytearray:
    """Give both meta pages a valid checksum again, so damage inside them reaches the walk."""
    for base in (0, PAGE):
        fields = data[base + META_OFFSET : base + META_OFFSET + 56]
        if len(fields) == 56:
            data[base + META_OFFSET + 56 : base + META_OFFSET + 64] = struct.pack(
                "<Q", fnv1a64(bytes(fields))
            )
    return data


_WIDTHS = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_VALUES = [0, 1, 2, 3, 4, 5, 0x10, 0xFF, 0xFFFF, 2**31, 2**32 - 1, 2**63, 2**64 - 1]
damage = st.lists(
    st.tuples(
        st.integers(0, 5 * PAGE - 1),  # where (the five pages of the database)
        st.sampled_from(sorted(_WIDTHS)),  # how wide a field
        st.one_of(st.sampled_from(_VALUES), st.integers(0, 2**64 - 1)),
    ),
    min_size=1,
    max_size=6,
)
# Page headers (id, flags, count, overflow), meta fields, element headers: where damage bites.
_HOT = [p * PAGE + at for p in range(5) for at in (0, 8, 10, 12, 16, 20, 24, 32, 40, 48, 56)]
hot_damage = st.lists(
    st.tuples(st.sampled_from(_HOT), st.sampled_from(sorted(_WIDTHS)), st.sampled_from(_VALUES)),
    min_size=1,
    max_size=4,
)


def damaged(fields: list[tuple[int, int, int]], trailer: bool, fix_meta: bool) -> bytes:
    data = bytearray(SNAPSHOT.read_bytes())
    if not trailer:
        del data[-32:]  # a bare copy of member/snap/db: no digest hides the damage from the walk
    for offset, width, number in fields:
        packed = struct.pack(_WIDTHS[width], number % (1 << (8 * width)))
        data[offset : offset + width] = packed
    return bytes(with_meta_checksums(data) if fix_meta else data)


@PROPERTIES
@given(st.one_of(damage, hot_damage), st.booleans(), st.booleans())
@example([(16 + 16, 8, 4)], False, True)  # the root bucket is the freelist page
@example([(16 + 40, 8, 2**63)], False, True)  # high-water mark far past the file
@example([(16 + 8, 4, 1 << 24)], False, True)  # a page size bbolt never uses
@example([(2 * PAGE + 12, 4, 2**32 - 1)], False, False)  # overflow runs past the end
@example([(3 * PAGE + 10, 2, 0xFFFF)], False, False)  # more elements than fit
@example([(3 * PAGE + 16 + 4, 4, 2**32 - 1)], False, False)  # an element points far away
@example([(0, 8, 0), (PAGE, 8, 0)], False, False)  # both meta pages wiped
def test_a_damaged_real_snapshot_reads_or_is_refused_in_one_line(
    snapshot_dir: Path, fields: list[tuple[int, int, int]], trailer: bool, fix_meta: bool
) -> None:
    read(snapshot_dir, damaged(fields, trailer, fix_meta))


@PROPERTIES
@given(st.integers(0, 20512), st.booleans())
@example(0, True)
@example(PAGE * 2, True)
@example(20480, True)
@example(20511, True)
def test_a_snapshot_cut_anywhere_is_refused_in_one_line(
    snapshot_dir: Path, length: int, fix_meta: bool
) -> None:
    data = bytearray(SNAPSHOT.read_bytes()[:length])
    read(snapshot_dir, bytes(with_meta_checksums(data) if fix_meta else data))


@PROPERTIES
@given(st.one_of(st.binary(max_size=3 * PAGE), st.binary(max_size=200).map(lambda b: MAGIC + b),
                 st.binary(max_size=80).map(lambda b: MAGIC + b"\x01\x01\x00\x00\x00" + b)),
       st.booleans())  # fmt: skip
@example(b"", False)
@example(MAGIC, False)
@example(MAGIC + b"\x02", False)
@example(MAGIC + b"\x01\x02\x14\x08\x01" + bytes(64), True)  # passphrase header vs a key file
@example(MAGIC + b"\x01\x02\xff\xff\xff" + bytes(64), False)  # scrypt far past its bound
@example(MAGIC + b"\x01\x01\x00\x00\x00" + bytes(16) + b"\x00\x00\x00\x00" + bytes(24), True)
def test_any_bytes_read_as_a_snapshot_or_are_refused_in_one_line(
    snapshot_dir: Path, data: bytes, with_key: bool
) -> None:
    key = None
    if with_key:
        key_file = snapshot_dir / "key"
        if not key_file.exists():
            key_file.write_bytes(bytes(range(32)))
            key_file.chmod(0o600)
        key = SnapshotKey.from_file(key_file)
    read(snapshot_dir, data, key)
