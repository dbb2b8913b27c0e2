#!/usr/bin/env bash
# npm dependencies, the generated Prisma clients, the box sampler and the laptop CLI the dashboard serves.
# Shared by start.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# better-sqlite3 has no prebuilt binary reachable from here: build it from source (node-gyp, ~70 s once).
export npm_config_build_from_source=true
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm install"
  npm install --no-audit --no-fund
fi
echo "==> prisma generate (SQLite and PostgreSQL clients)"
npm run --silent db:generate
echo "==> box sampler (static C, per box architecture)"
scripts/build-sampler.sh
echo "==> laptop CLI (one file, served at /cli/boxyard.mjs)"
node scripts/build-cli.mjs
