#!/usr/bin/env bash
# Create or reuse the project's virtual environment, for serving or for testing.
#   serve: the pinned serving stack (docker/requirements-cpu.txt, generated from pyproject.toml)
#          and this project, editable: what `bash scripts/serve.sh` needs, nothing more.
#   test:  serve plus the test tools (the `test` extra), the mri-client package (editable) and the
#          Debian packages the tests drive (a headless browser): what `bash scripts/test.sh` and CI need.
# Needs Python 3.11+ and the package registries the first time; later runs reuse the environment
# without touching the network as long as the stamp matches (a SHA-256 of the files in
# STAMP_INPUTS, the Python version and the profile; an environment set up for testing also serves):
# a changed pin, pyproject.toml or this script re-installs.
#
#   bash scripts/setup_env.sh [serve|test]              # set up (or reuse); default: test
#   bash scripts/setup_env.sh [serve|test] --check      # exit 0 when up to date, 1 when a run would install
#   bash scripts/setup_env.sh [serve|test] --force      # install again even when the stamp matches
#   bash scripts/setup_env.sh [serve|test] --print-key  # the stamp the current files give
#   bash scripts/setup_env.sh [serve|test] --dry-run    # what a run would install (Debian packages, pip)
#   source scripts/setup_env.sh serve|test              # set up or reuse, then activate it in this shell
#
# Environment: MRI_VENV (where the environment lives; default .venv in the repository; a relative
# path is taken from the repository root), PYTHON (the interpreter to build it with; default the
# newest python3.13 / python3.12 / python3.11 / python3 found that is 3.11 or newer).
#
# To extend the set-up, edit the lists below (each change re-installs, since this file is stamped):
# *_APT for Debian packages (installed with apt-get when missing: as root, else through sudo),
# *_PIP for pip arguments (one pip call per entry), and post_install for steps that need the
# environment. SERVE_* is what the service needs at run time; TEST_* is added for the tests only.

# ---- what the environment holds --------------------------------------------------------------
SERVE_APT=(
  # Debian packages the service needs at run time (none so far)
)
SERVE_PIP=(
  "-r docker/requirements-cpu.txt"  # the serving stack, exactly what the CPU image installs
  "-e ."                            # this project
)
TEST_APT=(
  chromium          # headless browser for tests/service/web (Playwright drives it; nothing downloaded)
  orthanc           # a real PACS for tests/gateway (the tests start it on loopback; never as a service)
  orthanc-dicomweb  # Orthanc's DICOMweb plugin (QIDO-RS, WADO-RS, STOW-RS) for tests/gateway
  dicom3tools       # dciodvfy: validates the gateway's DICOM SEG and SR in tests/gateway
)
TEST_PIP=(
  "-e .[test]"   # the test tools (pyproject.toml, extra `test`)
  "-e ./client"  # the mri-client package
)
STAMP_INPUTS=(pyproject.toml client/pyproject.toml 'docker/requirements-*.txt' scripts/setup_env.sh)  # globs: in the repository

post_install() {
  : # steps that need the installed environment (it is active here; $profile says which)
}

# ---- machinery -------------------------------------------------------------------------------
_mri_venv() {  # the environment's absolute path
  local repo venv=${MRI_VENV:-.venv}
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  [[ $venv == /* ]] && printf '%s\n' "$venv" || printf '%s\n' "$repo/$venv"
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then  # sourced: set up in a child shell, then activate here
  bash "${BASH_SOURCE[0]}" "$@" || return $?
  MRI_VENV=$(_mri_venv)
  export MRI_VENV PIP_DISABLE_PIP_VERSION_CHECK=1
  export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow} TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
  # shellcheck disable=SC1091
  . "$MRI_VENV/bin/activate"
  return 0
fi

set -euo pipefail
profile=test
mode=
for arg in "$@"; do
  case $arg in
    serve | test) profile=$arg ;;
    --check | --force | --print-key | --dry-run) mode=$arg ;;
    *)
      printf 'setup_env: unknown option %s (use serve or test; --check, --force, --print-key, --dry-run)\n' "$arg" >&2
      exit 2 ;;
  esac
done
apt_packages=("${SERVE_APT[@]}")
pip_installs=("${SERVE_PIP[@]}")
if [[ $profile == test ]]; then
  apt_packages+=("${TEST_APT[@]}")
  pip_installs+=("${TEST_PIP[@]}")
fi
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

missing_apt() {  # the profile's Debian packages that are not installed, one a line
  local pkg
  for pkg in "${apt_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || printf '%s\n' "$pkg"
  done
}

install_apt() {
  local missing=()
  mapfile -t missing < <(missing_apt)
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

# STAMP_INPUTS unquoted on purpose: its globs expand in the repository, wherever this runs from
# shellcheck disable=SC2068
inputs=$(cd "$repo" && { "$python" -c 'import sys; print(sys.version)'; cat ${STAMP_INPUTS[@]}; } | sha256sum | cut -d' ' -f1)
key_of() { printf '%s %s\n' "$inputs" "$1" | sha256sum | cut -d' ' -f1; }
key=$(key_of "$profile")
stamp="$venv/.mri-setup-stamp"
current=0
if [[ -x $venv/bin/python && -f $stamp ]]; then
  stamped=$(cat "$stamp")
  # an environment set up for testing holds everything serving needs
  if [[ $stamped == "$key" || ($profile == serve && $stamped == $(key_of test)) ]]; then
    current=1
  fi
fi
case $mode in
  --check) [[ $current == 1 ]] && exit 0 || exit 1 ;;
  --print-key) printf '%s\n' "$key"; exit 0 ;;
  --dry-run)  # the plan, whether or not the environment is up to date
    printf 'profile %s (%s)\n' "$profile" "$([[ $current == 1 ]] && echo up to date || echo would install)"
    for pkg in "${apt_packages[@]}"; do printf 'apt-get install (when missing) %s\n' "$pkg"; done
    printf 'pip install %s\n' "${pip_installs[@]}"
    exit 0 ;;
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
say "installing into $venv for $profile"
cd "$repo"
"$venv/bin/python" -m pip install -q --upgrade pip
for args in "${pip_installs[@]}"; do
  # shellcheck disable=SC2086  # each entry is a list of pip arguments
  "$venv/bin/python" -m pip install -q $args
done
"$venv/bin/python" -m pip check
# shellcheck disable=SC1091
. "$venv/bin/activate"
post_install
printf '%s\n' "$key" >"$stamp"
say "ready: $venv"
