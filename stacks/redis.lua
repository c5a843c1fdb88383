-- stacks/redis.lua - Redis from Debian's packages, as an image and a service
-- with a ready-made health probe.
--
--   local redis = require "stacks.redis"
--   redis.service "redis" { base = base }
--
-- DEV ONLY: no persistence (--save '' --appendonly no), protected mode off.
local debian = require "stacks.debian"
local M = {}

function M.image(base, name)
  if base == nil then error("redis.image expects a Debian base image", 2) end
  return image (name or "redis") {
    from = base,
    debian.apt { "redis-server" },
  }
end

local known = { base = true, image = true, ports = true, depends_on = true }

function M.service(name)
  if type(name) ~= "string" then error("redis.service expects a name: redis.service \"redis\" { ... }", 2) end
  return function(o)
    if type(o) ~= "table" then error("redis.service expects a table", 2) end
    for k in pairs(o) do if not known[k] then error("redis.service: unknown key '" .. tostring(k) .. "'", 2) end end
    local img = o.image or (o.base and M.image(o.base)) or error("redis.service: give 'base' (a Debian image) or 'image'", 2)
    return service (name) {
      image = img,
      command = { "redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no", "--bind", "0.0.0.0" },
      ports = o.ports,
      depends_on = o.depends_on,
      health = log { "Ready to accept connections", start_period = "30s" },
    }
  end
end

return M
