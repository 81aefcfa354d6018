"""A restore journal's JSON, format 1: a run's state as written to disk and read back.

Each step is written as `id`, `kind`, `target`, `command`, `why`, `destructive` and `args`,
its typed arguments as a list of `[name, text]` pairs (kinds.py); whether it only looks or
waits follows from its kind, so it is not written. Journals of older etcdtui read the same.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from etcdtui.models.runbook import Step, StepArgs
from etcdtui.runbooks.restore.kinds import (
    READ_ONLY_KINDS,
    RestoreKind,
    step_args_from_pairs,
    step_args_to_pairs,
)
from etcdtui.runbooks.restore.state import NodePaths, RestoreState, SnapshotFacts

FORMAT = 1


def step_to_json(step: Step) -> dict[str, Any]:
    if not isinstance(step.args, StepArgs):
        raise TypeError(f"step {step.id}: its arguments are not typed")
    return {
        "id": step.id,
        "kind": str(step.kind),
        "target": step.target,
        "command": step.command,
        "why": step.why,
        "destructive": step.destructive,
        "args": [list(pair) for pair in step_args_to_pairs(step.args)],
    }


def step_from_json(data: dict[str, Any]) -> Step:
    kind = RestoreKind(str(data["kind"]))  # ValueError for a kind no restore has
    pairs = {str(k): str(v) for k, v in data.get("args", [])}
    return Step(
        id=str(data["id"]),
        kind=kind,
        target=str(data["target"]),
        command=str(data["command"]),
        why=str(data["why"]),
        destructive=bool(data.get("destructive", False)),
        args=step_args_from_pairs(kind, pairs),
        read_only=kind in READ_ONLY_KINDS,
    )


def to_json(state: RestoreState) -> dict[str, Any]:
    data = asdict(state)
    data.pop("path")
    data["format"] = FORMAT
    data["steps"] = [step_to_json(s) for s in state.steps]
    data["rollback_steps"] = [step_to_json(s) for s in state.rollback_steps]
    return data


def from_json(data: dict[str, Any], path: Path | None = None) -> RestoreState:
    if data.get("format") != FORMAT:
        raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
    return RestoreState(
        cluster=data["cluster"],
        run=data["run"],
        snapshot=SnapshotFacts(
            **{**data["snapshot"], "members": tuple(data["snapshot"].get("members", ()))}
        ),
        token=data["token"],
        nodes=tuple(NodePaths(**n) for n in data["nodes"]),
        steps=tuple(step_from_json(s) for s in data["steps"]),
        done=[str(s) for s in data["done"]],
        mode=data["mode"],
        status=data["status"],
        current=data["current"],
        cut_short=data.get("cut_short", ""),
        error=data["error"],
        rollback_steps=tuple(step_from_json(s) for s in data["rollback_steps"]),
        rollback_done=[str(s) for s in data["rollback_done"]],
        before_revision=data["before_revision"],
        before_keys=data["before_keys"],
        bump=int(data.get("bump", 0)),
        started=data["started"],
        updated=data["updated"],
        user=data["user"],
        host=data["host"],
        source=data.get("source", ""),
        pid=int(data.get("pid", 0)),
        pid_host=str(data.get("pid_host", "")),
        path=path,
    )
