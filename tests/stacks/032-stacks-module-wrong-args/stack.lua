-- a stacks module called with a wrong key: the error names this file's line,
-- not the module's
project "p"
local python = require "stacks.python"
local base = python.base { suite = "bookworm" }
local app = python.app "app" { from = base, srcs = { "backend/" } }
