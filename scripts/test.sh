#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up (or reuses) the environment
# (scripts/setup_env.sh), then runs pytest from the repository root. Arguments go to pytest:
#   bash scripts/test.sh                       # everything (what CI runs)
#   bash scripts/test.sh tests/client -x -q    # a part of it
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh
exec python -m pytest "$@"
