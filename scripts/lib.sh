# Shared shell helpers for the scripts in this folder (sourced, not run).

# Print the path of a Python >= 3.12 interpreter, searching PATH, pyenv and the system.
find_python() {
  local candidate
  local candidates=("${NIAOULI_PYTHON:-}" python3.12 python3.13 python3)
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  for candidate in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.13*/bin/python3 \
                   /usr/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.13; do
    candidates+=("$candidate")
  done
  for candidate in "${candidates[@]}"; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Install Debian packages when missing (root only); `apt-get update` once per run.
apt_install() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "Missing system packages: ${missing[*]} (install them with your package manager)" >&2
    return 1
  fi
  echo "==> apt-get install ${missing[*]}"
  if [ -z "${_NIAOULI_APT_UPDATED:-}" ]; then
    # Another install (a second checkout, a parallel job) may hold apt's locks: wait.
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    _NIAOULI_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >/dev/null
}

# Print the path of a Python 3.11 interpreter for pycsw's own environment (pycsw 2.6 uses
# `imp`, gone in 3.12). Searches NIAOULI_PYCSW_BASE_PYTHON, PATH, pyenv and the system.
find_python311() {
  local candidate
  local candidates=("${NIAOULI_PYCSW_BASE_PYTHON:-}" python3.11 python3)
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  for candidate in "$root"/versions/3.11*/bin/python3 /usr/bin/python3.11 /usr/local/bin/python3.11; do
    candidates+=("$candidate")
  done
  for candidate in "${candidates[@]}"; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}
