-- premake5.lua - works with Debian's premake4 (premake4 --file=premake5.lua gmake)
-- and with premake5 (premake5 gmake2). Uses only the subset both accept.
-- Configurations: release (-O2) and asan (ASan+UBSan, -O1 -g).

local pkgs = "lua5.4 libcurl libcjson libxxhash libuv libcrypto yaml-0.1"
local function pkg(flag)
  local p = io.popen("pkg-config " .. flag .. " " .. pkgs)
  local out = p:read("*a") or ""
  p:close()
  return (out:gsub("%s+$", ""))
end
local cflags = pkg("--cflags")
-- system libraries as names, so they follow gbcore on the link line
local syslibs = {}
for l in pkg("--libs-only-l"):gmatch("%-l(%S+)") do syslibs[#syslibs + 1] = l end
syslibs[#syslibs + 1] = "m"
local libdirs = pkg("--libs-only-L")

-- `configuration` is premake4's scoping; premake5 calls it `filter`.
local function when(cfg)
  if filter then filter("configurations:" .. cfg) else configuration(cfg) end
end
local function always()
  if filter then filter({}) else configuration({}) end
end

solution "graphbuild"
  configurations { "release", "asan" }
  location "build"
  language "C"
  includedirs { "include", "build/gen" }
  buildoptions { "-std=gnu11 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wno-unused-parameter " .. cflags }
  -- escaped so the quotes survive the shell that runs the compiler
  defines { 'GRAPHBUILD_LIBDIR=\\"' .. (os.getenv("GRAPHBUILD_LIBDIR") or "/usr/local/share/graphbuild/stacks") .. '\\"' }
  -- keep symbols (premake4 otherwise links with -s): backtraces and gdb
  if symbols then symbols "On" else flags { "Symbols" } end
  when "release"
    buildoptions { "-O2 -g" }
    objdir "build/obj/release"
    targetdir "build/release"
  when "asan"
    buildoptions { "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" }
    linkoptions { "-fsanitize=address,undefined" }
    objdir "build/obj/asan"
    targetdir "build/asan"
  always()

  -- Everything but main(): linked into the binary and every unit test.
  project "gbcore"
    kind "StaticLib"
    files { "engine/*.c", "lua/*.c" }
    excludes { "engine/main.c" }
    prebuildcommands { "lua5.4 ../tools/embed.lua ../lua/prelude.lua gb_prelude ../build/gen/prelude.inc" }

  project "graphbuild"
    kind "ConsoleApp"
    files { "engine/main.c" }
    links { "gbcore" }
    links(syslibs)
    if libdirs ~= "" then linkoptions { libdirs } end

  for _, f in ipairs(os.matchfiles("tests/unit/*.c")) do
    local name = path.getbasename(f)
    project("test_" .. name)
      kind "ConsoleApp"
      files { f }
      links { "gbcore" }
      links(syslibs)
      if libdirs ~= "" then linkoptions { libdirs } end
  end
