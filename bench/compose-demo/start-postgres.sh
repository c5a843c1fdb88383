# The start script of stacks/postgres.lua, verbatim. DEV ONLY: trust auth,
# fsync=off, synchronous_commit=off, full_page_writes=off.
set -e
D=/var/lib/postgresql/data
B=$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)
mkdir -p "$D" /run/postgresql && chown -R postgres:postgres "$D" /run/postgresql
if [ ! -s "$D/PG_VERSION" ]; then
  runuser -u postgres -- "$B/initdb" -D "$D" --auth=trust -U postgres >/dev/null
  echo "host all all 0.0.0.0/0 trust" >> "$D/pg_hba.conf"   # DEV ONLY
  echo "listen_addresses = '*'" >> "$D/postgresql.conf"
fi
if [ -n "$POSTGRES_DB" ] && [ "$POSTGRES_DB" != postgres ]; then
  (until runuser -u postgres -- "$B/pg_isready" -q -h 127.0.0.1; do sleep 0.05; done
   runuser -u postgres -- psql -h 127.0.0.1 -tAc "SELECT 1 FROM pg_database WHERE datname='$POSTGRES_DB'" | grep -q 1 ||
   runuser -u postgres -- createdb -h 127.0.0.1 "$POSTGRES_DB") &
fi
exec runuser -u postgres -- "$B/postgres" -D "$D" -c fsync=off -c synchronous_commit=off -c full_page_writes=off
