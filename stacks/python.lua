-- stacks/python.lua - Python images in the layer order the seeds arrived at by
-- hand, done once: a base with python3 + venv, a deps stage that sees only the
-- requirements file (pip's cache is a cache mount), a runtime stage with the code.
--
--   local python = require "stacks.python"
--   local base = python.base { suite = "bookworm" }
--   local deps = python.deps "deps" { from = base, requirements = "backend/requirements.txt" }
--   local app  = python.app "app" { from = deps, src = { "backend/" }, cmd = { "python3", "-m", "backend" } }
local debian = require "stacks.debian"
local M = {}

local function opts(o, fn, allowed)
  if type(o) ~= "table" then error(fn .. " expects a table", 3) end
  for k in pairs(o) do
    if type(k) == "string" and not allowed[k] then error(fn .. ": unknown key '" .. k .. "'", 3) end
  end
  return o
end

--- Debian with python3 and venv, as an image named "python-base" (or o.name).
function M.base(o)
  o = opts(o or {}, "python.base", { suite = true, packages = true, name = true, mirror = true })
  local include = { "python3", "python3-venv", "ca-certificates" }
  for _, p in ipairs(o.packages or {}) do include[#include + 1] = p end
  return image (o.name or "python-base") {
    from = debian.rootfs { suite = o.suite or "bookworm", include = include, mirror = o.mirror },
    env = { PYTHONUNBUFFERED = "1", PYTHONDONTWRITEBYTECODE = "1", LANG = "C.UTF-8" },
  }
end

--- A deps stage: a venv in /opt/venv with the requirements installed. Only the
-- requirements file is an input, so code edits never reinstall packages.
function M.deps(name)
  if type(name) ~= "string" then error("python.deps expects a name: python.deps \"deps\" { ... }", 2) end
  return function(o)
    o = opts(o, "python.deps", { from = true, requirements = true, apt = true, index_url = true })
    if not o.from then error("python.deps: 'from' is required", 2) end
    local steps = { from = o.from }
    if o.apt then steps[#steps + 1] = debian.apt(o.apt) end
    steps[#steps + 1] = workdir "/app"
    steps[#steps + 1] = run "python3 -m venv --system-site-packages /opt/venv"
    if o.requirements then
      steps[#steps + 1] = copy { o.requirements, to = "/app/requirements.txt" }
      steps[#steps + 1] = run {
        "/opt/venv/bin/pip install --disable-pip-version-check -r /app/requirements.txt"
          .. (o.index_url and (" --index-url " .. o.index_url) or ""),
        cache = { "/root/.cache/pip" },
      }
    end
    steps.env = { PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", VIRTUAL_ENV = "/opt/venv" }
    return image (name) (steps)
  end
end

--- The runtime stage: the deps image plus the code.
function M.app(name)
  if type(name) ~= "string" then error("python.app expects a name: python.app \"app\" { ... }", 2) end
  return function(o)
    o = opts(o, "python.app", { from = true, src = true, cmd = true, expose = true, ignore = true, env = true })
    if not o.from then error("python.app: 'from' is required", 2) end
    local steps = { from = o.from, cmd = o.cmd, expose = o.expose,
      ignore = o.ignore or { "**/__pycache__", "**/*.pyc", ".git", ".graphbuild" },
      env = o.env }
    steps[#steps + 1] = workdir "/app"
    local src = o.src or { "." }
    if type(src) == "string" then src = { src } end
    for _, s in ipairs(src) do
      steps[#steps + 1] = copy { s, to = "/app/" .. (s == "." and "" or s) }
    end
    return image (name) (steps)
  end
end

return M
