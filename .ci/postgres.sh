#!/usr/bin/env bash
# Makes PostgreSQL answer on 127.0.0.1:$PORT as user postgres without a password (trust auth for local
# TCP), as the store tests need (server/src/store/postgres/test_db.rs, server/tests/postgres_store.rs):
# each test creates a database of its own there and drops it afterwards.
#
# Idempotent: a PostgreSQL that already answers so is left exactly as it is. Otherwise Debian's
# postgresql is installed when missing, a cluster is created when there is none for that port, trust
# for 127.0.0.1 and ::1 is put first in its pg_hba.conf (once), and the cluster is started (or reloaded
# when it already runs). Fails loudly when PostgreSQL still does not answer: nothing is skipped.
set -euo pipefail

PORT=${HANDOFF_CI_POSTGRES_PORT:-5432}
# Seconds to wait for a started cluster to accept connections.
START_PATIENCE_S=60

answers() {
  psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -w -Atqc 'SELECT 1' >/dev/null 2>&1
}

if command -v psql >/dev/null 2>&1 && answers; then
  echo "postgresql: answering on 127.0.0.1:$PORT as postgres (left as it is)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "postgresql: installing Debian's postgresql"
  apt-get update -qq
  # The package creates and starts a cluster of its own where it can; the steps below work either way.
  apt-get install -y -qq postgresql postgresql-client
fi

# The cluster on $PORT, or a new one of the newest installed version.
cluster=$(pg_lsclusters -h | awk -v port="$PORT" '$3 == port { print $1 " " $2; exit }')
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -1)
  name=handoff
  echo "postgresql: creating cluster $version/$name on port $PORT"
  pg_createcluster "$version" "$name" --port "$PORT" >/dev/null
  cluster="$version $name"
fi
read -r version name <<<"$cluster"

hba=/etc/postgresql/$version/$name/pg_hba.conf
marker="# handoff: trust local TCP for the store tests"
if ! grep -qF "$marker" "$hba"; then
  # The first matching line wins, so these go before the defaults (which ask for a password).
  { echo "$marker"
    echo "host all all 127.0.0.1/32 trust"
    echo "host all all ::1/128 trust"
    cat "$hba"; } >"$hba.handoff"
  cat "$hba.handoff" >"$hba" && rm -f "$hba.handoff"
fi

status=$(pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1 == v && $2 == n { print $4 }')
if [ "$status" = online ]; then
  pg_ctlcluster "$version" "$name" reload
else
  pg_ctlcluster "$version" "$name" start
fi

for _ in $(seq "$START_PATIENCE_S"); do
  if answers; then
    echo "postgresql: cluster $version/$name answering on 127.0.0.1:$PORT as postgres"
    exit 0
  fi
  sleep 1
done
echo "postgresql: cluster $version/$name does not answer on 127.0.0.1:$PORT as postgres" >&2
pg_lsclusters >&2 || true
exit 1
