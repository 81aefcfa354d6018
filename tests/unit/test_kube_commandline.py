"""Finding etcd's arguments behind the wrappers that run it (nice, ionice, taskset, ...)."""

from __future__ import annotations

import pytest

from etcdtui.services.kube.commandline import invocation


@pytest.mark.parametrize(
    "script",
    [
        "exec nice -n 10 /usr/local/bin/etcd --name a",
        "exec ionice -c2 nice etcd --name a",
        "ionice -c 2 -n 0 nice -n -10 etcd --name a 2>&1 | tee /var/log/etcd.log",
        "exec taskset -c 0,1 chrt -r 10 etcd --name a",
        "exec env -u HTTP_PROXY GOMAXPROCS=2 timeout -s TERM 30d etcd --name a",
        "exec stdbuf -oL setsid tini -- etcd --name a",
    ],
)
def test_etcd_behind_wrappers_in_a_script_is_found(script: str) -> None:
    assert invocation("etcd", ["/bin/sh", "-c", script]) == ["--name", "a"]


def test_a_wrapped_program_that_is_not_etcd_is_not_taken_for_it() -> None:
    assert invocation("etcd", ["sh", "-c", "nice -n 10 etcdctl get a; nice etcd-backup"]) is None


def test_wrappers_in_a_plain_command_line_are_passed_over() -> None:
    words = ["/usr/bin/ionice", "-c2", "/usr/bin/nice", "-n", "-10", "/usr/bin/etcd", "--name=a"]
    assert invocation("etcd", words) == ["--name=a"]
