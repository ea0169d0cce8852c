#!/usr/bin/env bash
# Stop the throwaway PostgreSQL that postgres.sh started in DIR and remove DIR.
# Usage: deploy/ci/postgres-stop.sh DIR
set -euo pipefail

dir=${1:?usage: postgres-stop.sh DIR (the directory given to or printed by postgres.sh)}
[ -d "$dir/data" ] || { echo "postgres-stop.sh: no cluster in $dir" >&2; exit 0; }
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
else
    "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
fi
rm -rf "$dir"
