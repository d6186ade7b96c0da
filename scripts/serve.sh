#!/usr/bin/env bash
# Run the service with the bundled models (models/), from a fresh clone: sets up (or reuses) the
# serving environment (scripts/setup_env.sh serve: the pinned serving stack and this project, no
# test tools), then starts uvicorn on 127.0.0.1:8000. It is ready once
# GET /v2/health/ready answers 200 (a few seconds). Arguments go to uvicorn and win over these:
#   bash scripts/serve.sh                             # http://127.0.0.1:8000
#   bash scripts/serve.sh --host 0.0.0.0 --port 9000  # reachable from other machines
# The service's settings are MRI_* environment variables (README: Configuration). uvicorn parses
# HTTP with service/protocol.py: httptools, refusing a header block past MRI_MAX_HEADER_BYTES + 8 KiB
# while it arrives.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh serve
exec uvicorn service.main:app --host 127.0.0.1 --port 8000 --no-access-log --http service.protocol:BoundedHttpToolsProtocol "$@"
