#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up (or reuses) the test environment
# (scripts/setup_env.sh test: serving stack, test tools, client, headless Chromium), checks the code
# with `ruff check` and `ruff format --check` (any finding or unformatted file fails the run), then runs
# pytest from the repository root.
# Arguments go to pytest:
#   bash scripts/test.sh                       # everything (what CI runs)
#   bash scripts/test.sh tests/client -x -q    # a part of it
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh test
ruff check --quiet .
ruff format --check --quiet .
exec python -m pytest "$@"
