#!/usr/bin/env bash
# Create or reuse the project's virtual environment: the pinned serving stack
# (docker/requirements-cpu.txt, generated from pyproject.toml), this project with its test tools
# and the mri-client package, both editable. Needs Python 3.11+ and the package registries the
# first time; later runs reuse the environment without touching the network as long as the
# stamp matches (a SHA-256 of the files in STAMP_INPUTS and the Python version): a changed pin,
# pyproject.toml or this script re-installs.
#
#   bash scripts/setup_env.sh            # set up (or reuse) the environment
#   bash scripts/setup_env.sh --check    # exit 0 when it is up to date, 1 when a run would install
#   bash scripts/setup_env.sh --force    # install again even when the stamp matches
#   bash scripts/setup_env.sh --print-key  # the stamp the current files give
#   source scripts/setup_env.sh          # set up or reuse, then activate it in this shell (serve.sh, test.sh)
#
# Environment: MRI_VENV (where the environment lives; default .venv in the repository; a relative
# path is taken from the repository root), PYTHON (the interpreter to build it with; default the
# newest python3.13 / python3.12 / python3.11 / python3 found that is 3.11 or newer).
#
# To extend the set-up, edit the lists below (each change re-installs, since this file is stamped):
# APT_PACKAGES for Debian packages (installed with apt-get when missing: as root, else through
# sudo), PIP_INSTALL for pip arguments, and post_install for steps that need the environment.

# ---- what the environment holds --------------------------------------------------------------
APT_PACKAGES=(
  chromium          # headless browser for tests/service/web (Playwright drives it; nothing downloaded)
  orthanc           # a real PACS for tests/gateway (the fixture starts it on loopback; never as a service)
  orthanc-dicomweb  # Orthanc's DICOMweb plugin (QIDO-RS, WADO-RS, STOW-RS) for tests/gateway
  dicom3tools       # dciodvfy: validates the gateway's DICOM SEG and SR in tests/gateway
)
PIP_INSTALL=(
  "-r docker/requirements-cpu.txt"  # the serving stack, exactly what the CPU image installs
  "-e .[test] -e ./client"          # this project, its test tools, the client
)
STAMP_INPUTS=(pyproject.toml client/pyproject.toml docker/requirements-*.txt scripts/setup_env.sh)

post_install() {
  : # steps that need the installed environment (it is active here), e.g. browser downloads
}

# ---- machinery -------------------------------------------------------------------------------
_mri_venv() {  # the environment's absolute path
  local repo venv=${MRI_VENV:-.venv}
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  [[ $venv == /* ]] && printf '%s\n' "$venv" || printf '%s\n' "$repo/$venv"
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then  # sourced: set up in a child shell, then activate here
  bash "${BASH_SOURCE[0]}" || return $?
  MRI_VENV=$(_mri_venv)
  export MRI_VENV PIP_DISABLE_PIP_VERSION_CHECK=1
  export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow} TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
  # shellcheck disable=SC1091
  . "$MRI_VENV/bin/activate"
  return 0
fi

set -euo pipefail
mode=${1:-}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(_mri_venv)
export PIP_DISABLE_PIP_VERSION_CHECK=1
say() { printf 'setup_env: %s\n' "$*" >&2; }
is_311() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

python=${PYTHON:-}
if [[ -z $python ]]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && is_311 "$candidate"; then
      python=$candidate
      break
    fi
  done
fi
if [[ -z $python ]] || ! is_311 "$python"; then
  say "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)"
  exit 2
fi

install_apt() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { say "run as root: apt-get install -y ${missing[*]}"; exit 2; }
    sudo=(sudo)
  fi
  say "apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
}

key=$(cd "$repo" && { "$python" -c 'import sys; print(sys.version)'; cat "${STAMP_INPUTS[@]}"; } | sha256sum | cut -d' ' -f1)
stamp="$venv/.mri-setup-stamp"
current=0
if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$key" ]]; then
  current=1
fi
case $mode in
  --check) [[ $current == 1 ]] && exit 0 || exit 1 ;;
  --print-key) printf '%s\n' "$key"; exit 0 ;;
  --force | "") ;;
  *) say "unknown option $mode (use --check, --force or --print-key)"; exit 2 ;;
esac
install_apt
if [[ $current == 1 && $mode != --force ]]; then
  say "reusing $venv (up to date)"
  exit 0
fi

if [[ ! -x $venv/bin/python ]] || ! is_311 "$venv/bin/python"; then
  say "creating $venv with $("$python" --version)"
  rm -rf "$venv"
  if ! "$python" -m venv "$venv"; then
    say "'$python -m venv' failed: on Debian/Ubuntu install python3-venv (apt-get install -y python3-venv)"
    exit 2
  fi
fi
rm -f "$stamp"
say "installing into $venv (pinned stack, project, client)"
cd "$repo"
"$venv/bin/python" -m pip install -q --upgrade pip
for args in "${PIP_INSTALL[@]}"; do
  # shellcheck disable=SC2086  # each entry is a list of pip arguments
  "$venv/bin/python" -m pip install -q $args
done
"$venv/bin/python" -m pip check
# shellcheck disable=SC1091
. "$venv/bin/activate"
post_install
printf '%s\n' "$key" >"$stamp"
say "ready: $venv"
