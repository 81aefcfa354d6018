#!/usr/bin/env bash
# `make demo`: a 3-member lab, etcdtui on it, and the lab gone again when etcdtui exits.
set -euo pipefail
dir=${1:?usage: demo.sh DIR}
bin="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin"
# A lab left behind by a demo that was killed is stopped first.
if [ -f "$dir/lab.json" ]; then "$bin/etcdtui" lab down --dir "$dir" >/dev/null || true; fi
"$bin/etcdtui" lab up --dir "$dir" --members 3
trap '"$bin/etcdtui" lab down --dir "$dir" >/dev/null' EXIT
"$bin/etcdtui" --config "$dir/etcdtui.toml" --cluster lab
