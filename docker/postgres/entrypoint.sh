#!/bin/sh
# Makes the cluster, its user and database in the data volume on first start,
# then runs Postgres in the foreground, listening to the compose network.
set -eu
: "${POSTGRES_USER:?set POSTGRES_USER}" "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" "${POSTGRES_DB:?set POSTGRES_DB}"
bin=$(echo /usr/lib/postgresql/*/bin)
data=/var/lib/postgresql/data/pgdata
if [ ! -s "$data/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" > "$password_file"
  "$bin/initdb" -D "$data" -U "$POSTGRES_USER" --pwfile="$password_file" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
  "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=''" -w start
  "$bin/createdb" -U "$POSTGRES_USER" "$POSTGRES_DB"
  "$bin/pg_ctl" -D "$data" -m fast -w stop
fi
exec "$bin/postgres" -D "$data" -c listen_addresses='*'
