-- The demo: the seeds' shape (a Python API, a queue worker, Postgres, Redis),
-- built only from the stacks library and Debian packages.
--
--   graphbuild up            # first time: debootstrap + apt, then everything starts
--   curl -s -XPOST localhost:8000/jobs -d '{"text":"hello"}'
--   curl -s localhost:8000/jobs/1
project "demo"

local debian   = require "stacks.debian"
local python   = require "stacks.python"
local postgres = require "stacks.postgres"
local redis    = require "stacks.redis"

local base = python.base { suite = "bookworm" }

-- the deps stage: Python packages from Debian (apt caches are cache mounts)
local deps = image "deps" {
  from = base,
  debian.apt { "python3-flask", "python3-psycopg2", "python3-redis" },
}

-- the runtime stage: only the code; editing backend/ rebuilds only this
local app = python.app "app" { from = deps, src = { "backend/" }, expose = { 8000 } }

local port = vars.port or "8000"
local env = {
  DATABASE_URL = "host=postgres dbname=demo user=postgres",
  REDIS_HOST = "redis",
}

postgres.service "postgres" { base = base, db = "demo" }
redis.service "redis" { base = base }

service "migrate" {
  image = app,
  command = { "python3", "-m", "backend.migrate" },
  env = env,
  depends_on = { postgres = "healthy" },
  oneshot = true,
  init = true,  -- python3 as PID 1 ignores SIGTERM: every stop would wait 10 s
}

service "api" {
  image = app,
  command = { "python3", "-m", "backend.api" },
  env = env,
  ports = { port .. ":8000" },
  depends_on = { postgres = "healthy", redis = "healthy", migrate = "completed" },
  health = http { port = 8000, path = "/health" },
  init = true,
}

service "worker" {
  image = app,
  command = { "python3", "-m", "backend.worker" },
  env = env,
  depends_on = { redis = "healthy", migrate = "completed" },
  init = true,
}
