-- stacks/postgres.lua - PostgreSQL from Debian's packages, as an image and a
-- service with a ready-made health probe.
--
--   local postgres = require "stacks.postgres"
--   postgres.service "db" { base = base, db = "app" }
--
-- DEV ONLY: trust authentication from any address, fsync=off,
-- synchronous_commit=off, full_page_writes=off. Fast to start and to use;
-- never for data you want to keep.
local debian = require "stacks.debian"
local M = {}

--- The image: `base` plus postgresql (Debian's version of the suite).
function M.image(base, name)
  if base == nil then error("postgres.image expects a Debian base image", 2) end
  return image (name or "postgres") {
    from = base,
    debian.apt { "postgresql" },
  }
end

local start = [[
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
]]

local known = { base = true, image = true, db = true, ports = true, volume = true, depends_on = true }

--- A postgres service named `name`: healthy when it accepts connections and
-- the database `db` exists.
function M.service(name)
  if type(name) ~= "string" then error("postgres.service expects a name: postgres.service \"db\" { ... }", 2) end
  return function(o)
    if type(o) ~= "table" then error("postgres.service expects a table", 2) end
    for k in pairs(o) do if not known[k] then error("postgres.service: unknown key '" .. tostring(k) .. "'", 2) end end
    local img = o.image or (o.base and M.image(o.base)) or error("postgres.service: give 'base' (a Debian image) or 'image'", 2)
    local db = o.db or "postgres"
    return service (name) {
      image = img,
      command = start,
      env = { POSTGRES_DB = db },
      volumes = { (o.volume or (name .. "-data")) .. ":/var/lib/postgresql/data" },
      ports = o.ports,
      depends_on = o.depends_on,
      health = exec { "sh", "-c", "runuser -u postgres -- psql -h 127.0.0.1 -d " .. db .. " -tAc 'SELECT 1' | grep -q 1", interval = "1s", start_period = "60s" },
    }
  end
end

return M
