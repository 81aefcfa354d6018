"""The `etcdtui` program: its console script and `python -m etcdtui`.

The garbage collector is switched off before the command line's modules are imported: they
make long-lived objects, not cycles, and its collections cost about 15 ms of a 220 ms
`etcdtui status`. `run` gives it back when a command that can run for long starts.
"""

import gc

gc.disable()

from etcdtui.cli import run  # noqa: E402 (after the collector is off)

__all__ = ["run"]

if __name__ == "__main__":
    run()
