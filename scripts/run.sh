#!/usr/bin/env bash
# One entry point for a fresh machine with Python 3.11 and apt:
#   scripts/run.sh demo [arrowscope demo options]   -> the demo app
#   scripts/run.sh test [pytest options]            -> the whole test suite
# Installs, once, what is missing: Xvfb and Qt's X11 libraries (apt), a virtual
# environment in .venv with the project and its test extras (uv).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0
  libxcb-xkb1 libxkbcommon-x11-0 libxcb-randr0 libxcb-shape0 libxcb-cursor0 libgl1 libegl1
  libdbus-1-3 libfontconfig1 libglib2.0-0)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
# an active virtual environment (one made by uv has no pip) is not where
# uv is installed: use the interpreter it was made from
PYTHON="$("$PYTHON" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"
export PATH="$HOME/.local/bin:$PATH"  # where 'pip install --user uv' puts uv
if ! command -v uv >/dev/null; then
  "$PYTHON" -m pip install --quiet --user uv 2>/dev/null || "$PYTHON" -m pip install --quiet uv
fi
UV="$(command -v uv || echo "$PYTHON -m uv")"

stamp=".venv/.arrowscope-installed"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  $UV venv --quiet --allow-existing --python "$PYTHON" .venv
  $UV pip install --quiet --python .venv/bin/python -e ".[test]"
  echo "$want" > "$stamp"
fi

cmd="${1:-test}"; shift || true
case "$cmd" in
  demo) exec .venv/bin/arrowscope demo "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: scripts/run.sh demo|test [options]" >&2; exit 2 ;;
esac
