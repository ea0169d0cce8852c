#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the tests and print its URL, one line on stdout:
#     postgresql://handoff:PASSWORD@127.0.0.1:PORT/handoff
# Everything else goes to stderr.
#
# Usage (as root on Debian, e.g. in CI):
#     pg_dir=$(mktemp -d /tmp/handoff-pg.XXXXXX)
#     export HANDOFF_TEST_POSTGRES_DSN="$(deploy/ci/postgres.sh "$pg_dir")"
#     trap 'deploy/ci/postgres-stop.sh "$pg_dir"' EXIT
# DIR (optional; default: a new temporary directory) receives the cluster (DIR/data),
# its log (DIR/server.log) and its socket; stop and remove it with postgres-stop.sh DIR.
# Installs Debian's postgresql package first when no PostgreSQL server is installed.
# Runs as a non-root user too, if PostgreSQL is already installed.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

find_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

bindir=$(find_bindir)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed and I am not root: apt-get install postgresql"
    log "installing PostgreSQL from Debian's packages"
    start=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    log "installed in $((SECONDS - start)) s"
    bindir=$(find_bindir)
    [ -n "$bindir" ] && [ -x "$bindir/initdb" ] || die "postgresql installed but no initdb under /usr/lib/postgresql"
fi
log "using $("$bindir/postgres" --version)"

dir=${1:-$(mktemp -d /tmp/handoff-pg.XXXXXX)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ ! -e "$dir/data" ] || die "$dir/data already exists: stop it with postgres-stop.sh $dir, or pass another DIR"

if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
user=handoff
db=handoff

as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >&2 || as_pg "$bindir/initdb" -D "$dir/data" -U postgres \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >&2

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=""
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    port_free "$port" || continue
    if as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >&2; then
        started=1
        break
    fi
    log "could not start on port $port; trying another"
done
if [ -z "$started" ]; then
    tail -n 20 "$dir/server.log" >&2 || true
    die "PostgreSQL did not start"
fi

for _ in $(seq 1 60); do
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
"$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" || die "PostgreSQL does not accept connections on port $port"

as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h /tmp -p "$port" -U postgres -d postgres >&2 <<SQL
CREATE ROLE $user LOGIN PASSWORD '$password';
CREATE DATABASE $db OWNER $user;
SQL

log "running on 127.0.0.1:$port, data in $dir; stop with: deploy/ci/postgres-stop.sh $dir"
echo "postgresql://$user:$password@127.0.0.1:$port/$db"
