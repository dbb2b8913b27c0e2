#!/usr/bin/env bash
# Every test, from a fresh machine: system packages (docker.io, debootstrap, chromium, postgresql...),
# dockerd and PostgreSQL, the lab image, npm dependencies, then typecheck, unit + integration tests
# (SQLite and PostgreSQL, real sshd boxes) and browser tests in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1
export BOXYARD_TEST_PG_URL="${BOXYARD_TEST_PG_URL:-postgresql://boxyard:boxyard@127.0.0.1:5432/postgres}"

scripts/test-deps.sh
scripts/install.sh

echo "==> typecheck"
npx tsc --noEmit
echo "==> unit and integration tests (vitest)"
npx vitest run
echo "==> next build"
npx next build
echo "==> browser tests (playwright, Debian chromium)"
npx playwright test
