-- stacks/debian.lua - Debian bases built from a Debian mirror only.
--
--   local debian = require "stacks.debian"
--   local base = image "base" { from = debian.rootfs { suite = "bookworm", include = { "python3" } } }
--   local slim = image "slim" { from = debian.image "bookworm-slim" }   -- a registry image, where you have one
--
-- debian.rootfs runs debootstrap on the host (apt-get install debootstrap) into
-- $out; graphbuild imports the directory as an image. Same arguments, same key:
-- two repositories calling it alike share one base image.
local M = {}

local function check_list(v, what, level)
  if v == nil then return {} end
  if type(v) ~= "table" then error(what .. " must be a list of strings", level + 1) end
  for i, s in ipairs(v) do
    if type(s) ~= "string" or not s:match("^[%w%.%+%-]+$") then
      error(what .. "[" .. i .. "] must be a Debian package name", level + 1)
    end
  end
  local copy = { table.unpack(v) }
  table.sort(copy)
  return copy
end

local known = { suite = true, include = true, mirror = true, variant = true, name = true, epoch = true }

--- A Debian root filesystem made by debootstrap.
-- suite: "bookworm" (default); include: extra packages; mirror: the mirror URL
-- (default: $GRAPHBUILD_DEBIAN_MIRROR or deb.debian.org); variant: "minbase" (default).
function M.rootfs(o)
  o = o or {}
  if type(o) ~= "table" then error("debian.rootfs expects a table", 2) end
  for k in pairs(o) do
    if not known[k] then error("debian.rootfs: unknown key '" .. tostring(k) .. "'", 2) end
  end
  local suite = o.suite or "bookworm"
  if type(suite) ~= "string" or not suite:match("^[%a]+$") then error("debian.rootfs: suite must be a name like \"bookworm\"", 2) end
  local include = check_list(o.include, "debian.rootfs: include", 2)
  local mirror = o.mirror or os.getenv("GRAPHBUILD_DEBIAN_MIRROR") or "http://deb.debian.org/debian"
  local variant = o.variant or "minbase"
  local inc = #include > 0 and (" --include=" .. table.concat(include, ",")) or ""
  return rootfs {
    name = o.name or ("debian-" .. suite .. (#include > 0 and ("-" .. table.concat(include, "-")):sub(1, 40) or "")),
    -- the mirror is not part of what the image is, so it is passed through the
    -- environment rather than written into the command (and the key)
    command = "set -e; command -v debootstrap >/dev/null || { echo 'debootstrap is not installed: apt-get install debootstrap' >&2; exit 127; }; "
      .. "debootstrap --variant=" .. variant .. inc .. " " .. suite .. " \"$out\" \"${GRAPHBUILD_DEBIAN_MIRROR:-" .. mirror .. "}\" "
      .. "&& rm -rf \"$out\"/var/cache/apt/archives/*.deb \"$out\"/var/lib/apt/lists/*",
    epoch = o.epoch or suite,
  }
end

--- A Debian image from a registry (needs access to one): "bookworm-slim" -> "debian:bookworm-slim".
function M.image(tag)
  if type(tag) ~= "string" then error("debian.image expects a tag string like \"bookworm-slim\"", 2) end
  return "debian:" .. tag
end

--- A run step that installs Debian packages with apt, with the apt caches as
-- cache mounts (kept between builds, never in the image).
function M.apt(pkgs)
  local list = check_list(pkgs, "debian.apt", 2)
  if #list == 0 then error("debian.apt: give at least one package", 2) end
  return run {
    "export DEBIAN_FRONTEND=noninteractive; rm -f /etc/apt/apt.conf.d/docker-clean; "
      .. "echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' >/etc/apt/apt.conf.d/keep-cache; "
      .. "apt-get update -qq && apt-get install -y -qq --no-install-recommends " .. table.concat(list, " "),
    cache = { "/var/cache/apt", "/var/lib/apt/lists" },
  }
end

return M
