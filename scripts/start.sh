#!/usr/bin/env bash
# From a fresh machine to a running dashboard on SQLite: installs, builds, migrates, creates the first
# admin (printed once) and serves on $HOST:$PORT (default 127.0.0.1:3000). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
echo "==> next build"
NEXT_TELEMETRY_DISABLED=1 npx next build
echo "==> server build (again only when a server source changed)"
node scripts/build-server.mjs --if-stale
echo "==> starting Boxyard"
export NODE_ENV=production NEXT_TELEMETRY_DISABLED=1
# Memory (bench/fleet-monitor.ts, bench/start-time.ts): V8's semi-spaces capped at 1 MB (by default they grow to
# 16 MB each: 20-30 MB of young generation measured on an idle dashboard), and two glibc malloc arenas instead of up
# to 8 per core, each keeping the pages its threads (libuv's pool: scrypt, zlib, fs) once used. ~50 MB of RSS together.
export MALLOC_ARENA_MAX=2
# node itself rather than npx or npm: no launcher processes left resident. The compiled server, not tsx: no
# TypeScript compiled at every start (about half the start-up CPU and ~70 MB of RSS).
exec node --max-semi-space-size=1 .next-server/main.mjs
