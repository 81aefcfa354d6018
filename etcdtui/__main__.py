"""`python -m etcdtui`."""

from etcdtui.cli import run

run()
