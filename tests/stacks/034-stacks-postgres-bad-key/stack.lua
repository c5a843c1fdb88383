local python = require "stacks.python"
local postgres = require "stacks.postgres"
local base = python.base {}
postgres.service "db" { base = base, database = "app" }
