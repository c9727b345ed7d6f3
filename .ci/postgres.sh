#!/usr/bin/env bash
# Install Debian's PostgreSQL, start a private cluster on loopback and print the URL of an empty
# database for the two-worker tuning test (tests/test_tune.py, marker `postgres`).
# Usage: export GLUE_LIT_PG_URL="$(.ci/postgres.sh)"   (root, or a user with sudo)
set -euo pipefail
exec 3>&1 1>&2  # only the URL goes to stdout
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
port=${GLUE_LIT_PG_PORT:-5433}
# A cluster of our own: it does not depend on (or disturb) the distribution's default one.
if ! as_root pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version glue_lit"; then
    as_root pg_createcluster -p "$port" "$version" glue_lit -- --auth-host=scram-sha-256 >/dev/null
fi
# The server must not inherit our stdout (the caller's $(...) would wait for it forever).
as_root pg_ctlcluster "$version" glue_lit start </dev/null >/dev/null 2>&1 3>&- || true
as_root pg_ctlcluster "$version" glue_lit status >/dev/null
sql() { as_postgres psql -p "$port" -qtAc "$1"; }
[ "$(sql "SELECT 1 FROM pg_roles WHERE rolname = 'glue_lit'")" = 1 ] \
    || sql "CREATE ROLE glue_lit LOGIN PASSWORD 'glue_lit'"
[ "$(sql "SELECT 1 FROM pg_database WHERE datname = 'glue_lit'")" = 1 ] \
    || sql "CREATE DATABASE glue_lit OWNER glue_lit"
echo "postgresql+psycopg2://glue_lit:glue_lit@127.0.0.1:$port/glue_lit" >&3
