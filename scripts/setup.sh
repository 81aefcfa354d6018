#!/usr/bin/env bash
# Sets up everything etcdtui needs on a Debian machine: system packages (as root), the venv,
# the package with its test extras and etcd 3.5 binaries. Idempotent; says in one line what
# it cannot do.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/etcd ] || need+=(etcd-server)
[ -x /usr/bin/etcdctl ] || need+=(etcd-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v sudo >/dev/null || need+=(sudo)
command -v curl >/dev/null || need+=(curl)  # the lab nodes ask kube-apiserver's /readyz with it
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Debian's postinst may start daemons where a service manager exists; the lab runs its own.
    service etcd stop >/dev/null 2>&1 || true
  else
    echo "setup: missing ${need[*]}: run 'sudo apt-get install -y ${need[*]}' and try again" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv || { echo "setup: cannot create a venv: install python3-venv" >&2; exit 1; }
fi
stamp=.venv/.etcdtui-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing etcdtui and its test tools into .venv"
  # uv resolves and installs the same packages in a third of pip's time (a new venv here:
  # 16 s against 38 s). It does not read pip's configuration, so where only pip reaches the
  # index (a mirror set in pip.conf), pip does the install.
  if .venv/bin/pip install -q --disable-pip-version-check uv 2>/dev/null \
    && .venv/bin/uv pip install -q --python .venv/bin/python --compile-bytecode -e '.[test]'; then
    :
  else
    echo "setup: uv could not install the packages; installing them with pip"
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' 2> >(grep -v '^WARNING: Location' >&2) \
      || { echo "setup: pip could not install etcdtui's dependencies (see above)" >&2; exit 1; }
  fi
  touch "$stamp"
fi

# Every CLI call, lab helper and test subprocess is a new Python process. Where
# PYTHONDONTWRITEBYTECODE is set (as here and on many CI images) each one would compile
# etcdtui's sources again, about 70 ms apiece; compile them once. Python ignores a stale file.
.venv/bin/python -m compileall -q -j 0 etcdtui >/dev/null
