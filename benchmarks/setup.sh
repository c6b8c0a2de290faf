#!/usr/bin/env bash
# Tools the benchmarks use beyond msgen's own dependencies (load generator).
set -euo pipefail
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk
fi
wrk --version 2>&1 | head -1 || true
