-- stacks/node.lua - Node.js images: Debian's nodejs + npm, a deps stage that
-- sees only package.json and package-lock.json (`npm ci` with npm's cache as a
-- cache mount), and a runtime stage with the code.
--
--   local node = require "stacks.node"
--   local deps = node.deps "web-deps" { from = base, dir = "web" }
--   local web  = node.app "web" { from = deps, dir = "web", cmd = { "node", "server.js" } }
local debian = require "stacks.debian"
local M = {}

function M.base(o)
  o = o or {}
  return image (o.name or "node-base") {
    from = debian.rootfs { suite = o.suite or "bookworm", include = { "nodejs", "npm", "ca-certificates" }, mirror = o.mirror },
  }
end

function M.deps(name)
  if type(name) ~= "string" then error("node.deps expects a name: node.deps \"deps\" { ... }", 2) end
  return function(o)
    if type(o) ~= "table" or not o.from then error("node.deps: 'from' is required", 2) end
    local dir = o.dir or "."
    local p = dir == "." and "" or (dir .. "/")
    return image (name) {
      from = o.from,
      workdir "/app",
      copy { p .. "package.json", p .. "package-lock.json", to = "/app/" },
      run { "npm ci --no-audit --no-fund" .. (o.registry and (" --registry " .. o.registry) or ""), cache = { "/root/.npm" } },
    }
  end
end

function M.app(name)
  if type(name) ~= "string" then error("node.app expects a name: node.app \"app\" { ... }", 2) end
  return function(o)
    if type(o) ~= "table" or not o.from then error("node.app: 'from' is required", 2) end
    local dir = o.dir or "."
    return image (name) {
      from = o.from,
      ignore = o.ignore or { "node_modules", "**/node_modules", ".git", ".graphbuild" },
      workdir "/app",
      copy { dir == "." and "." or (dir .. "/"), to = "/app/" },
      cmd = o.cmd,
      expose = o.expose,
    }
  end
end

return M
