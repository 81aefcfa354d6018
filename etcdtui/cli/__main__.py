"""`python -m etcdtui.cli`, as `python -m etcdtui`."""

from etcdtui.cli import main

raise SystemExit(main())
