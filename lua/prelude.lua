-- prelude.lua - the Lua side of the stack.lua DSL (docs/DSL.md).
--
-- Owns: the restricted environment every stack file and module runs in, the
-- DSL functions (image, run, copy, service, tcp, ...), validation of every
-- key with file:line diagnostics, require, read, and the hand-over of the
-- declared nodes to lua/dsl.c as plain validated tables.
--
-- This chunk is embedded into the binary (tools/embed.lua) and run once per
-- load by lua/dsl.c with the full standard library; it returns the function
-- `run(cfg)`. Everything it needs from the standard library is captured in
-- locals here, so nothing a stack file does to a table it can reach changes
-- how the prelude behaves. User code never sees _G.
--
-- Errors: every diagnostic the prelude raises is a "diag" object
-- ({gb_diag = true, msg1, msg2, ...}) whose messages already carry their
-- position; dsl.c prints each as "graphbuild: <msg>". Positions come from
-- dsl.c's where(): the first frame outside the prelude and C (the user's
-- line; after a tail call `return image "x" {...}` in a module, Lua has
-- dropped the module's frame, so it is the line that called the module).
-- A node's position is where `image "NAME"` (etc.) was written; unknown-key
-- and type errors point there, since a table constructor records no lines.
-- Checks that need the whole stack (pending declarations, name clashes,
-- secrets) run after evaluation and report every problem at once.
--
-- Paths: the stack file is shown as given (relative to the cwd); modules
-- relative to the stack directory where they share more than "/" with it.
-- Relative to the stack directory: image `context`, secret `file`, bind
-- volume sources. Relative to the declaring file's directory: read(),
-- rootfs `tar` and `inputs` (so a library module can ship its inputs).

local type, pairs, ipairs, next, select = type, pairs, ipairs, next, select
local tostring, tonumber, error, pcall, xpcall = tostring, tonumber, error, pcall, xpcall
local setmetatable, getmetatable = setmetatable, getmetatable
local rawget, rawset, rawequal, rawlen, assert = rawget, rawset, rawequal, rawlen, assert
local real_load = load
local sfmt, sbyte, ssub, sfind, smatch, sgsub, sgmatch, slower, srep =
  string.format, string.byte, string.sub, string.find, string.match, string.gsub,
  string.gmatch, string.lower, string.rep
local tconcat, tsort, tinsert, tunpack = table.concat, table.sort, table.insert, table.unpack
local mfloor, mtype, mhuge, mmin, mmax = math.floor, math.type, math.huge, math.min, math.max
local io_open, io_stderr = io.open, io.stderr
local os_getenv = os.getenv
local collectgarbage = collectgarbage

local PRELUDE_SOURCE = "=prelude"

-- Protect the real string library reachable through ("").x from changes.
getmetatable("").__metatable = false

---------------------------------------------------------------------------
-- Diagnostics

local diag_mt = {
  __tostring = function(d) return tconcat(d, "\n") end,
  __metatable = false,
}

local function diag(msgs)
  msgs.gb_diag = true
  return setmetatable(msgs, diag_mt)
end

local function at(pos) return pos.file .. ":" .. pos.line end

-- Raises "file:line: message" at pos.
local function fail(pos, fmt, ...)
  error(diag({ at(pos) .. ": " .. sfmt(fmt, ...) }), 0)
end

-- The first frame outside the prelude and C: where the user wrote the call.
-- Hot (once per DSL call), hence done in C without allocating.

local where -- dsl.c's where(): file, line of the first frame of user code

local function caller_pos()
  local file, line = where()
  return { file = file, line = line }
end

-- The URL of the imported module a position is in (its file is shown as
-- the URL, without the pin), or nil for the stack's own files and
-- graphbuild's library. What only the root stack may do - read host files
-- as secrets or the environment, mount host paths, take a context outside
-- the stack directory - is refused there (docs/security.md).
local function imported_from(pos)
  local f = pos and pos.file
  if f and (ssub(f, 1, 8) == "https://" or ssub(f, 1, 7) == "http://") then return f end
  return nil
end

local distance -- dsl.c's distance(a, b): the edit distance behind every "did you mean"

-- The closest candidate within distance 2 (and a third of the word's
-- length, at least 1), ties broken by the sorted order of candidates.
local function suggest(word, candidates)
  local list = {}
  for k in pairs(candidates) do list[#list + 1] = k end
  tsort(list)
  local best, bestd = nil, mhuge
  local limit = mmin(2, mmax(1, #word // 3))
  for _, c in ipairs(list) do
    local dd = distance(slower(word), slower(c))
    if dd <= limit and dd < bestd then best, bestd = c, dd end
  end
  return best
end

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

---------------------------------------------------------------------------
-- Values made by the DSL: handles, steps, probes. Their data lives in
-- side tables so a stack file can neither read nor forge it. The tables are
-- strong on purpose: the state lives for one load only, and weak (ephemeron)
-- tables with 100k entries made the collector quadratic (6 s on 10 MB).

local handles = {} -- handle -> node (output table)
local steps = {}   -- step -> step (output table)
local probes = {}  -- probe -> probe (output table)

local function opaque_mt(name, describe)
  return {
    __metatable = name,
    __tostring = describe,
    __index = function(self, k)
      error(sfmt("%s has no field '%s'", describe(self), tostring(k)), 2)
    end,
    __newindex = function(self)
      error(sfmt("%s cannot be changed", describe(self)), 2)
    end,
  }
end

local image_mt = opaque_mt("gb.image", function(h)
  local n = handles[h]
  if n.kind == "rootfs" then return sfmt('rootfs "%s"', n.name) end
  return sfmt('image "%s"', n.name)
end)
local step_mt = opaque_mt("gb.step", function(s) return steps[s].what end)
local probe_mt = opaque_mt("gb.probe", function(p) return probes[p].kind .. " probe" end)

local function describe(v)
  if handles[v] then
    return handles[v].kind == "rootfs" and "a rootfs handle" or "an image handle"
  elseif steps[v] then
    return "a " .. steps[v].what
  elseif probes[v] then
    return "a " .. probes[v].kind .. " probe"
  end
  local t = type(v)
  if t == "nil" then return "nil" end
  if t == "table" and getmetatable(v) == "gb.vars" then return "vars" end
  return "a " .. t
end

local function is_plain_table(v)
  return type(v) == "table" and not handles[v] and not steps[v] and not probes[v]
end

---------------------------------------------------------------------------
-- Paths (lexical; the directories involved were realpath'ed by dsl.c)

local function normalize(p)
  local abs = ssub(p, 1, 1) == "/"
  local out = {}
  for part in sgmatch(p, "[^/]+") do
    if part == ".." then
      if #out > 0 and out[#out] ~= ".." then
        out[#out] = nil
      elseif not abs then
        out[#out + 1] = ".."
      end
    elseif part ~= "." then
      out[#out + 1] = part
    end
  end
  local s = tconcat(out, "/")
  if abs then return "/" .. s end
  return s == "" and "." or s
end

local function join(dir, p)
  if ssub(p, 1, 1) == "/" then return normalize(p) end
  return normalize(dir .. "/" .. p)
end

local function dirname(p)
  local d = smatch(p, "^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

local function basename(p)
  return smatch(p, "([^/]*)/*$")
end

local cfg          -- set by run()
local C            -- helpers registered by dsl.c: stat, realpath, jail, fetch

-- A path for people: relative to the stack directory when the two share
-- more than the root (with "../" as needed), else absolute.
local function display(abs)
  local base = cfg.dir
  if abs == base then return "." end
  if ssub(abs, 1, #base + 1) == base .. "/" then return ssub(abs, #base + 2) end
  local a, b = {}, {}
  for part in sgmatch(abs, "[^/]+") do a[#a + 1] = part end
  for part in sgmatch(base, "[^/]+") do b[#b + 1] = part end
  local common = 0
  while common < #a and common < #b and a[common + 1] == b[common + 1] do
    common = common + 1
  end
  -- "../x" for a neighbour of the stack directory; further away, the
  -- absolute path reads better than a ladder of ".."
  if common == 0 or #b - common > 1 then return abs end
  local out = {}
  for _ = common + 1, #b do out[#out + 1] = ".." end
  for i = common + 1, #a do out[#out + 1] = a[i] end
  return tconcat(out, "/")
end

-- Inputs (read, rootfs inputs and tar) stay beneath their root: the stack directory
-- for files inside it, else the declaring module's own directory; no
-- symlink on the way may leave it (jail.h). nil, or why not.
local function input_root(fdir)
  if fdir ~= cfg.dir and ssub(fdir, 1, #cfg.dir + 1) == cfg.dir .. "/" then return cfg.dir end
  return fdir
end

local function input_jail(fdir, p)
  local root = input_root(fdir)
  local sub = ssub(fdir, #root + 2)
  local rel = normalize(sub == "" and p or sub .. "/" .. p)
  if ssub(p, 1, 1) == "/" or rel == ".." or ssub(rel, 1, 3) == "../" then
    return sfmt(" is outside %s (read and rootfs inputs stay beneath it)", display(root))
  end
  local why = C.jail(root, rel)
  if why then return ": " .. why end
  return nil
end

---------------------------------------------------------------------------
-- Value checks. ctx is a position with a label: { file, line, what = 'service "api"' }.

local function tfail(ctx, fmt, ...)
  fail(ctx, "%s: " .. fmt, ctx.what, ...)
end

local function pos_what(pos, what)
  return { file = pos.file, line = pos.line, what = what }
end

local function integer_keys(ctx, key, t)
  -- Returns n when t's keys are exactly 1..n.
  local n = 0
  for k in pairs(t) do
    if mtype(k) ~= "integer" or k < 1 then
      tfail(ctx, "'%s' must be a list, but it has the key %s", key,
            type(k) == "string" and sfmt("'%s'", k) or tostring(k))
    end
    if k > n then n = k end
  end
  for i = 1, n do
    if t[i] == nil then tfail(ctx, "'%s' item %d is nil", key, i) end
  end
  return n
end

local function scalar_string(v)
  if type(v) == "string" then return v end
  if mtype(v) == "integer" then return sfmt("%d", v) end
  if mtype(v) == "float" then return tostring(v) end
  return nil
end

-- A string for messages: control characters (NUL, newline, ...) as escapes,
-- so a message is never cut at a NUL or broken across lines.
local ctl_names = { ["\0"] = "\\0", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function shown(v)
  return (sgsub(v, "%c", function(c) return ctl_names[c] or sfmt("\\x%02x", sbyte(c)) end))
end

-- NUL never reaches the engine intact (C strings end there).
local function no_nul(ctx, key, v)
  if sfind(v, "\0", 1, true) then
    tfail(ctx, "'%s' contains a NUL character: '%s'", key, shown(v))
  end
  return v
end

-- Paths and names: no control character at all (a newline in a mount
-- target or an env name is a typo, never what was meant).
local function no_ctl(ctx, key, v)
  if sfind(v, "%c") then
    tfail(ctx, "'%s' contains a control character: '%s'", key, shown(v))
  end
  return v
end

local V = {}

function V.str(ctx, key, v)
  if type(v) ~= "string" then tfail(ctx, "'%s' must be a string, got %s", key, describe(v)) end
  if sfind(v, "\0", 1, true) then no_nul(ctx, key, v) end
  return v
end

function V.nonempty(ctx, key, v)
  V.str(ctx, key, v)
  if v == "" then tfail(ctx, "'%s' must not be empty", key) end
  return v
end

-- A path or name: non-empty, no control characters.
function V.path(ctx, key, v)
  if type(v) ~= "string" then tfail(ctx, "'%s' must be a string, got %s", key, describe(v)) end
  if v == "" then tfail(ctx, "'%s' must not be empty", key) end
  if sfind(v, "%c") then no_ctl(ctx, key, v) end
  return v
end

function V.abspath(ctx, key, v)
  V.path(ctx, key, v)
  if ssub(v, 1, 1) ~= "/" then tfail(ctx, "'%s' must be an absolute path, got '%s'", key, v) end
  return v
end

function V.bool(ctx, key, v)
  if type(v) ~= "boolean" then tfail(ctx, "'%s' must be true or false, got %s", key, describe(v)) end
  return v
end

function V.strlist(ctx, key, v)
  if not is_plain_table(v) then
    tfail(ctx, "'%s' must be a list of strings, got %s", key, describe(v))
  end
  local n = integer_keys(ctx, key, v)
  local out = {}
  for i = 1, n do
    if type(v[i]) ~= "string" then
      tfail(ctx, "'%s' item %d must be a string, got %s", key, i, describe(v[i]))
    end
    if sfind(v[i], "\0", 1, true) then no_nul(ctx, key, v[i]) end
    out[i] = v[i]
  end
  return out
end

function V.strmap(ctx, key, v)
  if not is_plain_table(v) then
    tfail(ctx, "'%s' must be a table of strings (NAME = \"value\"), got %s", key, describe(v))
  end
  local out = {}
  for k, x in pairs(v) do
    if type(k) ~= "string" then
      tfail(ctx, "'%s' must be a table of strings (NAME = \"value\"), but it has the key %s", key,
            tostring(k))
    end
    if k == "" or sfind(k, "[=%c]") then
      tfail(ctx, "'%s' has a bad name '%s'%s", key, shown(k),
            k == "" and " (empty)" or sfind(k, "%c") and " (a control character)" or " (an '=')")
    end
    local s = scalar_string(x)
    if not s then tfail(ctx, "'%s' value for %s must be a string, got %s", key, k, describe(x)) end
    if sfind(s, "\0", 1, true) then
      tfail(ctx, "'%s' value for %s contains a NUL character: '%s'", key, k, shown(s))
    end
    out[k] = s
  end
  return out
end

-- labels: graphbuild.* is graphbuild's own (project, node, key), never the user's.
function V.labels(ctx, key, v)
  local out = V.strmap(ctx, key, v)
  local bad = {}
  for k in pairs(out) do
    if ssub(slower(k), 1, 11) == "graphbuild." then bad[#bad + 1] = k end
  end
  if #bad > 0 then
    tsort(bad)
    tfail(ctx, "label '%s' uses the prefix 'graphbuild.', which graphbuild reserves for its own labels", bad[1])
  end
  return out
end

-- aliases: network names, held to the service-name rule.
function V.aliases(ctx, key, v)
  local out = V.strlist(ctx, key, v)
  for i, a in ipairs(out) do
    if not smatch(a, "^[%w][%w_.-]*$") or #a > 128 then
      tfail(ctx, "'%s' item %d is a bad name '%s' (use letters, digits, '_', '.' and '-', starting with a letter or digit)",
            key, i, shown(a))
    end
  end
  return out
end

-- cmd / entrypoint / command: a string (shell form) or a list (exec form).
function V.cmd(ctx, key, v)
  if type(v) == "string" then return { "/bin/sh", "-c", no_nul(ctx, key, v) } end
  if not is_plain_table(v) then
    tfail(ctx, "'%s' must be a string or a list of strings, got %s", key, describe(v))
  end
  return V.strlist(ctx, key, v)
end

-- A port in a "HOST:CONTAINER" string: n, or nil and why. Leading zeros
-- are refused whatever the length ("080" and "018080" alike), so a port is
-- always written one way.
local function port_number(s)
  if s == "" then return nil, "a port is empty" end
  if not smatch(s, "^%d+$") then return nil, sfmt("'%s' is not a number", shown(s)) end
  if ssub(s, 1, 1) == "0" then return nil, sfmt("'%s' has a leading zero", s) end
  local n = #s <= 5 and tonumber(s) or 65536
  if n > 65535 then return nil, sfmt("%s is over 65535", s) end
  return n
end

-- Why number v is no port (nil if it is one).
local function port_why(v)
  if v ~= v then return "not a number" end
  if v ~= mfloor(v) then return "not a whole number" end
  if v < 1 then return "below 1" end
  if v > 65535 then return "over 65535" end
  return nil
end

function V.port(ctx, key, v)
  if type(v) ~= "number" then
    tfail(ctx, "'%s' must be a port number (1-65535), got %s", key, describe(v))
  end
  local why = port_why(v)
  if why then tfail(ctx, "'%s' must be a port number (1-65535), got %s: %s", key, tostring(v), why) end
  return mfloor(v)
end

function V.expose(ctx, key, v)
  if not is_plain_table(v) then
    tfail(ctx, "'%s' must be a list of port numbers, got %s", key, describe(v))
  end
  local n = integer_keys(ctx, key, v)
  local out = {}
  for i = 1, n do
    local p = v[i]
    if mtype(p) ~= "integer" or p < 1 or p > 65535 then
      tfail(ctx, "'%s' item %d must be a port number (1-65535), got %s", key, i,
            type(p) == "number" and tostring(p) or describe(p))
    end
    out[i] = p
  end
  return out
end

local units = { ms = 1, s = 1000, m = 60000, h = 3600000 }

local DURATION_MAX = "24 days" -- 2^31-1 ms, what the engine and libuv timers take

-- "250ms", "2s", "1.5s", "1m30s", or a number of seconds -> milliseconds,
-- or nil and why (nil: not the syntax).
local function parse_duration(v)
  local ms
  if type(v) == "number" then
    if v ~= v then return nil, "not a number" end
    if v < 0 then return nil, "negative" end
    ms = v * 1000.0 -- in floats: integer arithmetic wraps (2^63 s is not -1000 ms)
  elseif type(v) == "string" and v ~= "" then
    ms = 0.0
    local pos = 1
    while pos <= #v do
      local num, unit, e = smatch(v, "^([%d%.]+)(%a+)()", pos)
      local x = num and tonumber(num)
      if not x or not units[unit] then return nil end
      ms = ms + x * 1.0 * units[unit]
      pos = e
    end
  else
    return nil
  end
  if ms ~= ms then return nil, "not a number" end
  if ms > 2147483647 then return nil, "over the limit of " .. DURATION_MAX end
  return mfloor(ms + 0.5)
end

local function duration_shown(v)
  if type(v) == "string" then return sfmt("'%s'", shown(v)) end
  if type(v) == "number" then return tostring(v) end
  return describe(v)
end

function V.duration(ctx, key, v)
  local ms, why = parse_duration(v)
  if not ms then
    if why then tfail(ctx, "bad duration %s for '%s': %s", duration_shown(v), key, why) end
    tfail(ctx, "bad duration %s for '%s' (use e.g. \"250ms\", \"2s\", \"1m\", or a number of seconds)",
          duration_shown(v), key)
  end
  return ms
end

function V.count(ctx, key, v)
  if mtype(v) ~= "integer" or v < 1 then
    tfail(ctx, "'%s' must be a whole number of at least 1, got %s", key,
          type(v) == "number" and tostring(v) or describe(v))
  end
  -- the engine keeps counts in a C int: a bigger one would wrap
  if v > 2147483647 then tfail(ctx, "'%s' must be at most 2147483647, got %d", key, v) end
  return v
end

-- stop_signal: what the engine sends on `docker stop` (Docker's names, with
-- or without SIG, RTMIN+n / RTMAX-n, or a number), as written.
local signal_names = {}
for nm in sgmatch("HUP INT QUIT ILL TRAP ABRT IOT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM " ..
                  "STKFLT CHLD CLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO " ..
                  "POLL PWR SYS RTMIN RTMAX", "%u+%d*") do
  signal_names[nm] = true
end
function V.signal(ctx, key, v)
  if type(v) == "string" then
    local nm = smatch(v, "^SIG(.+)$") or v
    local rt, off = smatch(nm, "^(RTM[AI][XN])[+-](%d+)$")
    if signal_names[nm] or (rt and tonumber(off) <= 30) then return v end
    local num = smatch(v, "^(%d+)$")
    if num and tonumber(num) >= 1 and tonumber(num) <= 64 then return v end
  end
  tfail(ctx, "'%s' must be a signal name such as \"SIGINT\" or a number (1-64), got %s", key,
        type(v) == "string" and sfmt("'%s'", shown(v)) or describe(v))
end

function V.abspaths(ctx, key, v)
  local l = V.strlist(ctx, key, v)
  for i, x in ipairs(l) do
    if ssub(x, 1, 1) ~= "/" then tfail(ctx, "'%s' item %d must be an absolute path, got '%s'", key, i, shown(x)) end
  end
  return l
end

-- An image's healthcheck, as Docker's image config has it (the Dockerfile's
-- HEALTHCHECK): { "CMD", prog, arg... } or { "CMD-SHELL", "command" } (a
-- string is CMD-SHELL), with optional interval, timeout, start_period and
-- retries (absent: the engine's defaults); { "NONE" } turns an inherited one
-- off. Services of the image without their own 'health' probe with it.
local healthcheck_opts = { interval = "duration", timeout = "duration", start_period = "duration",
                           retries = "count" }
function V.healthcheck(ctx, key, v)
  if type(v) == "string" then v = { "CMD-SHELL", v } end
  if not is_plain_table(v) then
    tfail(ctx, "'%s' must be { \"CMD\", prog, args... }, { \"CMD-SHELL\", \"command\" }, a command " ..
          "string or { \"NONE\" }, got %s", key, describe(v))
  end
  local n, opts = 0, {}
  for k, x in pairs(v) do
    if type(k) == "string" then
      if not healthcheck_opts[k] then
        tfail(ctx, "'%s': unknown option '%s' (interval, timeout, start_period, retries)", key, shown(k))
      end
      opts[k] = x
    elseif mtype(k) == "integer" and k >= 1 then
      if k > n then n = k end
    else
      tfail(ctx, "'%s' has the key %s", key, tostring(k))
    end
  end
  local test = {}
  for i = 1, n do
    if type(v[i]) ~= "string" then tfail(ctx, "'%s' item %d must be a string, got %s", key, i, describe(v[i])) end
    test[i] = no_nul(ctx, key, v[i])
  end
  local kind = test[1]
  if kind == "NONE" then
    if n ~= 1 or next(opts) then tfail(ctx, "'%s' { \"NONE\" } takes nothing else", key) end
  elseif kind == "CMD" then
    if n < 2 or test[2] == "" then tfail(ctx, "'%s': CMD needs a program", key) end
  elseif kind == "CMD-SHELL" then
    if n ~= 2 or not sfind(test[2], "%S") then tfail(ctx, "'%s': CMD-SHELL takes one command string", key) end
  else
    tfail(ctx, "'%s' must start with \"CMD\", \"CMD-SHELL\" or \"NONE\", got %s", key,
          kind and sfmt("'%s'", shown(kind)) or "nothing")
  end
  local h = { test = test }
  for k, x in pairs(opts) do
    local chk = V[healthcheck_opts[k]]
    h[k .. (k == "retries" and "" or "_ms")] = chk(ctx, k, x)
  end
  return h
end

-- A stack file table: validates keys against schema (key -> checker name or
-- function), reporting every unknown key; returns the number of array items.
local function check_keys(spec, schema, what, pos, allow_items)
  local unknown
  local nitems = 0
  for k in pairs(spec) do
    if mtype(k) == "integer" and allow_items and k >= 1 then
      if k > nitems then nitems = k end
    elseif type(k) ~= "string" then
      fail(pos, "%s: unexpected key %s (keys are names; list items are %s)", what, tostring(k),
           allow_items and "steps" or "not allowed here")
    elseif not schema[k] then
      unknown = unknown or {}
      unknown[#unknown + 1] = k
    end
  end
  if unknown then
    tsort(unknown)
    local msgs = {}
    for _, k in ipairs(unknown) do
      local s = suggest(k, schema)
      msgs[#msgs + 1] = sfmt("unknown key '%s' in %s (%s)%s", k, what, at(pos),
                             s and sfmt("; did you mean '%s'?", s) or "")
    end
    error(diag(msgs), 0)
  end
  return nitems
end

-- Checks spec's string keys in sorted order (so the first error reported
-- does not depend on hash order), storing the checked values in out.
-- Only the keys schema names are checked (others were checked by
-- check_keys and are handled by the caller).
local function check_fields(spec, schema, ctx, out)
  local keys, n = nil, 0
  for k in pairs(spec) do
    if type(k) == "string" and schema[k] and schema[k] ~= true then
      if n == 0 then keys = k else
        if n == 1 then keys = { keys } end
        keys[n + 1] = k
      end
      n = n + 1
    end
  end
  if n == 0 then return out end
  if n == 1 then keys = { keys } else tsort(keys) end
  for _, k in ipairs(keys) do
    local chk = schema[k]
    if type(chk) == "string" then chk = V[chk] end
    out[k] = chk(ctx, k, spec[k])
  end
  return out
end

---------------------------------------------------------------------------
-- Registry references, names

-- One path component of a Docker reference: [a-z0-9]+ runs joined by ".",
-- "_", "__" or a run of "-" (so no separator first, last, or doubled).
local function ref_component(c)
  if smatch(c, "^[a-z0-9]+$") then return true end -- most names: no separator
  if not smatch(c, "^[a-z0-9]") or not smatch(c, "[a-z0-9]$") then return false end
  for sep in sgmatch(c, "[^a-z0-9]+") do
    if not (sep == "." or sep == "_" or sep == "__" or smatch(sep, "^%-+$")) then return false end
  end
  return true
end

local REF_COMPONENT_RULE = "lowercase letters and digits, joined by one '.', one or two '_', " ..
                           "or '-'s, starting and ending with a letter or digit"
local REF_MAX = 255 -- Docker's limit on a repository name

local function valid_ref(r)
  if #r == 0 or #r > 512 or sfind(r, "%s") then return false end
  local name, digest = smatch(r, "^([^@]+)@(.+)$")
  if name then
    if not smatch(digest, "^[%w][%w+._-]*:%x+$") or #smatch(digest, ":(%x+)$") < 32 then
      return false
    end
  else
    name = r
  end
  local path, tag = smatch(name, "^(.*):([^:/]*)$")
  if path then
    if not smatch(tag, "^[%w_][%w_.-]*$") or #tag > 128 then return false end
  else
    path = name
  end
  local parts = {}
  for part in sgmatch(path .. "/", "([^/]*)/") do parts[#parts + 1] = part end
  local first = 1
  if #parts > 1 and (sfind(parts[1], "[.:]") or parts[1] == "localhost") then
    if not smatch(parts[1], "^[%w][%w.-]*:?%d*$") then return false end
    first = 2
  end
  if #path > REF_MAX then return false end
  for i = first, #parts do
    if not ref_component(parts[i]) then return false end
  end
  return true
end

local function check_name(pos, kind, name, pattern, rule)
  if type(name) ~= "string" then
    fail(pos, "%s: expected a name string, as in %s \"NAME\" { ... }, got %s", kind, kind, describe(name))
  end
  if not smatch(name, pattern) or #name > 128 then
    fail(pos, "%s \"%s\": bad name (%s)", kind, name, rule)
  end
end

---------------------------------------------------------------------------
-- The declared stack

local nodes      -- output tables in declaration order (index = position)
local images     -- name -> node for the image family (image, rootfs, ref)
local image_decl -- name -> list of {node} first declarations (for clashes)
local refs       -- reference string -> node
local contexts   -- context as written -> absolute directory (checked)
local services   -- name -> node
local secrets    -- id -> { source = "file:ABS"|"env:VAR", rel, pos }
local pending    -- declarations whose body was not given: list of {what, pos, done}
local reads      -- absolute path -> true
local project    -- { name, pos } or nil
local vars_proxy

local nodes_none = {} -- an empty list, never written
local longest_name = 0 -- of any node, so check_ref_lengths mostly has nothing to do

local function add_node(n)
  if #n.name > longest_name then longest_name = #n.name end
  nodes[#nodes + 1] = n
  n.index = #nodes
  return n
end

-- A canonical serialization of an output table for "same definition":
-- sorted keys, positions left out, node references by index.
-- Positions, labels and paths as written do not make definitions differ;
-- neither does an empty table versus an absent key.
local canon_skip = { file = true, line = true, index = true, handle = true, what = true, base_for = true,
                     base_noted = true,
                     tar_rel = true, inputs_rel = true, inputs_root = true, context_rel = true }

local function canon(v, out)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do
      if not canon_skip[k] and not (type(v[k]) == "table" and next(v[k]) == nil) then
        keys[#keys + 1] = k
      end
    end
    tsort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) < type(b)
    end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      canon(k, out)
      out[#out + 1] = "="
      canon(v[k], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  elseif t == "string" then
    out[#out + 1] = sfmt("%q", v)
  else
    out[#out + 1] = t .. ":" .. tostring(v)
  end
  return out
end

local function canonical(n) return tconcat(canon(n, {})) end

-- FNV-1a, 32 bits, as 8 hex digits: a stable short id of a definition.
local function fnv32(s)
  local h = 0x811c9dc5
  for i = 1, #s do
    h = ((h ~ sbyte(s, i)) * 16777619) & 0xffffffff
  end
  return sfmt("%08x", h)
end

local function ref_node(r, pos)
  local n = refs[r]
  if n then return n end
  n = add_node({ kind = "ref", name = r, ref = r, file = pos.file, line = pos.line })
  refs[r] = n
  return n
end

-- "scratch", Docker's reserved name for the empty image (FROM scratch): a
-- rootfs node with no files, made at its first use.
local function scratch_node(ctx)
  local n = images.scratch
  if n and n.kind == "rootfs" and n.empty then return n end
  local m = { kind = "rootfs", name = "scratch", empty = true, file = ctx.file, line = ctx.line }
  if n then
    tfail(ctx, "\"scratch\" is the empty image, but the %s \"scratch\" at %s:%d has that name (rename it)",
          n.kind, n.file, n.line)
  end
  add_node(m)
  images.scratch = m
  return m
end

-- Base substitutions: a registry reference -> { to = handle or reference,
-- why = "--base" or "FILE:LINE" } (--base REF=IMAGE, project { bases = ... };
-- the command line wins). Every later use of REF gets the substitute, and
-- the substitute's node says which references it stands for (plan shows it).
local bases_map

local function substitute(ctx, key, v, allow_rootfs)
  local b = bases_map[v]
  local n
  if handles[b.to] then
    n = handles[b.to]
    if n.kind == "rootfs" and not allow_rootfs then
      tfail(ctx, "'%s' = \"%s\" is replaced by a rootfs (%s), which only an image's 'from' can name", key, v, b.why)
    end
  elseif b.to == "scratch" then
    if not allow_rootfs then
      tfail(ctx, "'%s' = \"%s\" is replaced by \"scratch\" (%s), which only an image's 'from' can name", key, v, b.why)
    end
    n = scratch_node(ctx)
  else
    n = ref_node(b.to, ctx)
  end
  local note = sfmt("%s (%s)", v, b.why)
  if not n.base_noted then n.base_noted = {} end
  if not n.base_noted[note] then
    n.base_noted[note] = true
    n.base_for = n.base_for and (n.base_for .. ", " .. note) or note
  end
  return n
end

-- from = handle | "registry/ref" | rootfs handle | "scratch"; returns the node.
local function parent_of(ctx, key, v, allow_rootfs)
  if type(v) == "string" and bases_map[v] then return substitute(ctx, key, v, allow_rootfs) end
  if v == "scratch" then
    if not allow_rootfs then
      tfail(ctx, "'%s' = \"scratch\" is the empty image, which only an image's 'from' can name", key)
    end
    return scratch_node(ctx)
  end
  if handles[v] then
    local n = handles[v]
    if n.kind == "rootfs" and not allow_rootfs then
      tfail(ctx, "'%s' must be an image handle or a registry reference, not a rootfs (build an image from it first)", key)
    end
    return n
  end
  if type(v) == "string" then
    if refs[v] then return refs[v] end
    if not valid_ref(v) then
      tfail(ctx, "'%s' = \"%s\" is not a valid registry reference (lowercase [host/]name[:tag][@digest])",
            key, v)
    end
    return ref_node(v, ctx)
  end
  if allow_rootfs then
    tfail(ctx, "'%s' must be an image handle, a registry reference or a rootfs, got %s", key, describe(v))
  end
  tfail(ctx, "'%s' must be an image handle or a registry reference, got %s", key, describe(v))
end

-- Remembers a declaration until its body is given (p.done); p is the
-- declaration's position table.
local function pending_decl(what, pos)
  pos.decl = what
  pending[#pending + 1] = pos
  return pos
end

---------------------------------------------------------------------------
-- Steps

local used_steps = {} -- step -> true once in an image (strong: every step lives to the end anyway)
local nmade_steps, nused_steps = 0, 0

local function new_step(s)
  nmade_steps = nmade_steps + 1
  local h = setmetatable({}, step_mt)
  steps[h] = s
  return h
end

local run_schema = { cache = true, env = true, secrets = true, network = true }

local function dsl_run(arg)
  local file, line = where()
  local s = { kind = "run", what = "run step", file = file, line = line, shell = false }
  local pos, ctx = s, s
  if type(arg) == "string" then
    if sfind(arg, "\0", 1, true) then no_nul(ctx, "command", arg) end
    s.args, s.shell = { "/bin/sh", "-c", arg }, true
    return new_step(s)
  end
  if not is_plain_table(arg) then
    tfail(ctx, "expected a command string or a table { \"command\", cache = ..., env = ..., secrets = ... }, got %s",
          describe(arg))
  end
  local n = check_keys(arg, run_schema, "run step", pos, true)
  if n ~= 1 or arg[1] == nil then
    tfail(ctx, "expected exactly one command (a string, or a list of strings for exec form: run { { \"prog\", \"arg\" } }), got %d items", n)
  end
  local c = arg[1]
  if type(c) == "string" then
    s.args, s.shell = { "/bin/sh", "-c", no_nul(ctx, "command", c) }, true
  elseif is_plain_table(c) then
    s.args = V.strlist(ctx, "command", c)
    if #s.args == 0 then tfail(ctx, "the exec form command is empty") end
  else
    tfail(ctx, "the command must be a string or a list of strings, got %s", describe(c))
  end
  if arg.cache ~= nil then
    local list = V.strlist(ctx, "cache", arg.cache)
    for i, p in ipairs(list) do
      if ssub(p, 1, 1) ~= "/" then tfail(ctx, "'cache' item %d must be an absolute path, got '%s'", i, shown(p)) end
      no_ctl(ctx, "cache", p)
    end
    s.cache = list
  end
  if arg.env ~= nil then s.env = V.strmap(ctx, "env", arg.env) end
  if arg.network ~= nil then
    -- "none": no network at all (RUN --network=none); "default": as without
    if arg.network ~= "none" and arg.network ~= "default" then
      tfail(ctx, "'network' must be \"none\" or \"default\", got %s",
            type(arg.network) == "string" and sfmt("'%s'", shown(arg.network)) or describe(arg.network))
    end
    if arg.network == "none" then s.network = "none" end
  end
  if arg.secrets ~= nil then
    local sv = arg.secrets
    if not is_plain_table(sv) then
      tfail(ctx, "'secrets' must be a table { ID = \"/run/secrets/ID\" } or a list of IDs, got %s", describe(sv))
    end
    s.secrets = {}
    for k, p in pairs(sv) do
      local id, path = k, p
      if mtype(k) == "integer" then id, path = p, nil end
      if type(id) ~= "string" then
        tfail(ctx, "'secrets' must be a table { ID = \"/run/secrets/ID\" } or a list of IDs")
      end
      path = path or ("/run/secrets/" .. id)
      if type(path) ~= "string" or ssub(path, 1, 1) ~= "/" then
        tfail(ctx, "secret \"%s\" must be mounted at an absolute path, got %s", id,
              type(path) == "string" and sfmt("'%s'", path) or describe(path))
      end
      no_ctl(ctx, "secrets", path)
      s.secrets[id] = path
    end
  end
  return new_step(s)
end

local copy_schema = { to = true, from = true }
local copy_slashed = {} -- copy step -> { [i] = source as written }

local function copy_slash_note(s, i, src)
  if ssub(src, -1) == "/" and #src > 1 then
    copy_slashed[s] = copy_slashed[s] or {}
    copy_slashed[s][i] = src
  end
end

local function copy_source(ctx, i, src)
  if type(src) ~= "string" then
    tfail(ctx, "source %d must be a path string, got %s", i, describe(src))
  end
  if src == "" then tfail(ctx, "source %d is empty (copy the whole context with copy \".\")", i) end
  if sfind(src, "%c") then no_ctl(ctx, "source", src) end
  if ssub(src, 1, 1) == "/" then
    tfail(ctx, "source '%s' must be relative to the context (absolute paths are for copy { from = IMAGE, ... })", src)
  end
  local p = src
  if sfind("/" .. src .. "/", "/%.?%.?/") then -- an empty, "." or ".." component
    p = normalize(src)
  end
  if p == ".." or ssub(p, 1, 3) == "../" then
    tfail(ctx, "source '%s' is outside the context (set the image's 'context' instead)", src)
  end
  return p
end

local function dsl_copy(arg)
  local file, line = where()
  local s = { kind = "copy", what = "copy step", file = file, line = line }
  local pos, ctx = s, s
  if type(arg) == "string" then
    s.args = { copy_source(ctx, 1, arg) }
    copy_slash_note(s, 1, arg)
    return new_step(s)
  end
  if not is_plain_table(arg) then
    tfail(ctx, "expected a path string or a table { \"src\", ..., to = \"/dest\" }, got %s", describe(arg))
  end
  local n = check_keys(arg, copy_schema, "copy step", pos, true)
  if n == 0 then tfail(ctx, "no source given") end
  for i = 1, n do
    if arg[i] == nil then tfail(ctx, "source %d is nil", i) end
  end
  if arg.to ~= nil then s.to = V.path(ctx, "to", arg.to) end
  s.args = {}
  if arg.from ~= nil then
    s.kind = "copy_from"
    s.from = parent_of(ctx, "from", arg.from, true).index
    if s.to == nil then tfail(ctx, "'to' is required when copying from another image") end
    for i = 1, n do
      local src = arg[i]
      if type(src) ~= "string" or ssub(src, 1, 1) ~= "/" then
        tfail(ctx, "source %d must be an absolute path in the other image, got %s", i,
              type(src) == "string" and sfmt("'%s'", shown(src)) or describe(src))
      end
      s.args[i] = no_ctl(ctx, "source", src)
    end
  else
    for i = 1, n do
      s.args[i] = copy_source(ctx, i, arg[i])
      copy_slash_note(s, i, arg[i])
    end
  end
  if n > 1 and s.to ~= nil and ssub(s.to, -1) ~= "/" then
    tfail(ctx, "with several sources, 'to' must be a directory ending in '/', got '%s'", s.to)
  end
  return new_step(s)
end

local function dsl_env(arg)
  local file, line = where()
  local s = { kind = "env", what = "env step", file = file, line = line }
  s.env = V.strmap(s, "env", arg)
  return new_step(s)
end

local function dsl_workdir(arg)
  local file, line = where()
  local s = { kind = "workdir", what = "workdir step", file = file, line = line }
  s.args = { V.path(s, "workdir", arg) }
  return new_step(s)
end

local function dsl_user(arg)
  local file, line = where()
  local s = { kind = "user", what = "user step", file = file, line = line }
  s.args = { V.path(s, "user", arg) }
  return new_step(s)
end

---------------------------------------------------------------------------
-- Images

local image_schema = {
  from = true, cmd = "cmd", entrypoint = "cmd", env = "strmap", workdir = "path",
  user = "path", expose = "expose", labels = "labels", context = "path",
  ignore = "strlist", dockerfile = "nonempty", args = "strmap", target = "nonempty",
  volumes = "abspaths", stop_signal = "signal", healthcheck = "healthcheck",
}

local function clash(name, n, m)
  -- n is the new node, m the existing one of the same name.
  local function what(x)
    if x.kind == "ref" then return sfmt("registry reference \"%s\"", x.name) end
    return sfmt("%s \"%s\"", x.kind, x.name)
  end
  return sfmt("%s:%d: %s has the same name as the %s at %s:%d%s", n.file, n.line, what(n), what(m),
              m.file, m.line,
              (n.kind == "ref" or m.kind == "ref") and
                "; to build on the declared image, pass its handle (from = NAME without quotes)" or "")
end

-- Flattens the array items of an image into steps (a plain list of steps
-- may appear among them, so shared step lists can be spliced in).
local MAX_STEP_NESTING = 200

-- open: the lists being flattened (made at the first nested list: most
-- images have none), so a list that contains itself is caught.
local function collect_steps(ctx, spec, nitems, out, open, depth)
  for i = 1, nitems do
    local v = spec[i]
    local st = steps[v]
    if st then
      out[#out + 1] = st
      if not used_steps[st] then
        used_steps[st] = true
        nused_steps = nused_steps + 1
      end
    elseif is_plain_table(v) then
      open = open or { [spec] = true }
      depth = depth or 0
      if open[v] then tfail(ctx, "item %d: the step list contains itself", i) end
      if depth >= MAX_STEP_NESTING then
        tfail(ctx, "step lists nested too deep (more than %d levels)", MAX_STEP_NESTING)
      end
      local n = 0
      for k in pairs(v) do
        if mtype(k) ~= "integer" or k < 1 then
          tfail(ctx, "item %d is a table that is not a list of steps (it has the key %s)", i, tostring(k))
        end
        if k > n then n = k end
      end
      open[v] = true
      collect_steps(ctx, v, n, out, open, depth + 1)
      open[v] = nil
    elseif v == nil then
      tfail(ctx, "item %d is nil (a misspelt step or variable?)", i)
    elseif type(v) == "string" then
      tfail(ctx, "item %d is a string, not a step (did you mean run \"%s\"?)", i, v)
    else
      tfail(ctx, "item %d must be a step (run, copy, env, workdir, user), got %s", i, describe(v))
    end
  end
  return out
end

local image_simple = {} -- the keys checked by type alone
for k, chk in pairs(image_schema) do if chk ~= true then image_simple[k] = chk end end

local function image_body(name, pos, p)
  return function(spec)
    p.done = true
    local what = p.decl
    pos.what = what
    local ctx = pos
    if not is_plain_table(spec) then
      tfail(ctx, "expected a table of settings and steps, as in image \"%s\" { from = ..., ... }, got %s",
            name, describe(spec))
    end
    local nitems = check_keys(spec, image_schema, what, pos, true)
    local n = { kind = "image", name = name, file = pos.file, line = pos.line }
    check_fields(spec, image_simple, ctx, n)
    if n.cmd then n.cmd_set = true end
    if n.entrypoint then n.entrypoint_set = true end
    n.steps = collect_steps(ctx, spec, nitems, {})
    if n.dockerfile then
      if #n.steps > 0 then
        tfail(ctx, "'dockerfile' (adoption mode) and build steps cannot be combined: remove the steps or 'dockerfile'")
      end
      if spec.from ~= nil then
        tfail(ctx, "'dockerfile' (adoption mode) and 'from' cannot be combined: the Dockerfile names its base")
      end
    else
      if spec.from == nil then
        tfail(ctx, "'from' is required (an image handle, a registry reference or a rootfs)")
      end
      if spec.args ~= nil then tfail(ctx, "'args' applies only with 'dockerfile'") end
      if spec.target ~= nil then tfail(ctx, "'target' applies only with 'dockerfile'") end
      n.parent = parent_of(ctx, "from", spec.from, true).index
    end
    n.context_rel = n.context or "."
    if imported_from(ctx) and n.context then
      -- a module's image may build from the stack directory, never beyond
      local rel = normalize(n.context)
      local why
      if ssub(n.context, 1, 1) == "/" or rel == ".." or ssub(rel, 1, 3) == "../" then
        why = " is outside the stack directory"
      else
        local j = C.jail(cfg.dir, rel)
        why = j and (": " .. j)
      end
      if why then
        tfail(ctx, "context '%s'%s; the imported module %s may use a context only beneath the stack directory",
              n.context, why, imported_from(ctx))
      end
    end
    local abs = contexts[n.context_rel]
    if not abs then
      abs = join(cfg.dir, n.context_rel)
      local st = C.stat(abs)
      if st ~= "dir" then
        tfail(ctx, "context '%s' is not a directory (%s)", n.context_rel,
              st and "not a directory" or "does not exist")
      end
      contexts[n.context_rel] = abs
    end
    n.context = abs
    -- "src/f/" names a directory: a file there is a typo the copy would hide
    for _, st in ipairs(next(copy_slashed) and n.steps or nodes_none) do
      if copy_slashed[st] then
        for i = 1, #st.args do
          local raw = copy_slashed[st][i]
          if raw and C.stat(join(abs, st.args[i])) == "file" then
            fail(st, "copy step: source '%s' ends in '/' but is a file (write '%s')", raw,
                 ssub(raw, 1, -2))
          end
        end
      end
    end

    local old = images[name]
    if old then
      if old.kind == "image" and canonical(old) == canonical(n) then
        return old.handle
      end
      if old.kind == "image" then
        fail(pos, "image \"%s\" is already defined at %s:%d with a different definition",
             name, old.file, old.line)
      end
      error(diag({ clash(name, n, old) }), 0)
    end
    add_node(n)
    images[name] = n
    local h = setmetatable({}, image_mt)
    handles[h] = n
    n.handle = h
    return h
  end
end

local function dsl_image(name)
  local pos = caller_pos()
  check_name(pos, "image", name, "^[a-z0-9][a-z0-9_.-]*$",
             "use lowercase letters, digits, '_', '.' and '-', starting with a letter or digit")
  if not ref_component(name) then
    fail(pos, "image \"%s\": bad name (it names a Docker repository: %s)", name, REF_COMPONENT_RULE)
  end
  return image_body(name, pos, pending_decl(sfmt('image "%s"', name), pos))
end

---------------------------------------------------------------------------
-- rootfs
--
-- Naming: `name = "..."` if given; otherwise "rootfs-" followed by 8 hex
-- digits of FNV-1a over the canonical definition, with paths shown relative
-- to the stack directory (so the name is the same in every checkout of a
-- repository, and two different definitions never share a name by accident).

local rootfs_schema = { tar = "nonempty", command = "nonempty", inputs = "strlist", epoch = true,
                        name = "nonempty" }

local function dsl_rootfs(spec, fi)
  local pos = caller_pos()
  pos.what = "rootfs"
  local ctx = pos
  if not is_plain_table(spec) then
    tfail(ctx, "expected a table { tar = \"path.tar\" } or { command = \"...\", inputs = {...} }, got %s",
          describe(spec))
  end
  check_keys(spec, rootfs_schema, "rootfs", pos, false)
  if spec.name ~= nil then
    check_name(pos, "rootfs", spec.name, "^[a-z0-9][a-z0-9_.-]*$",
               "use lowercase letters, digits, '_', '.' and '-', starting with a letter or digit")
    if not ref_component(spec.name) then
      fail(pos, "rootfs \"%s\": bad name (it names a Docker repository: %s)", spec.name, REF_COMPONENT_RULE)
    end
    ctx.what = sfmt('rootfs "%s"', spec.name)
  end
  local n = { kind = "rootfs", file = pos.file, line = pos.line }
  local fields = {}
  for k, v in pairs(spec) do if k ~= "epoch" then fields[k] = v end end
  check_fields(fields, rootfs_schema, ctx, n)
  if spec.epoch ~= nil then
    n.epoch = scalar_string(spec.epoch)
    if not n.epoch then tfail(ctx, "'epoch' must be a string, got %s", describe(spec.epoch)) end
  end
  local fdir = fi.dir
  local id
  if n.tar and n.command then
    tfail(ctx, "give either 'tar' or 'command', not both")
  elseif n.tar then
    if n.inputs or n.epoch then tfail(ctx, "'inputs' and 'epoch' apply only with 'command'") end
    n.tar_rel = n.tar
    if n.tar == "" then tfail(ctx, "'tar' is empty") end
    local jerr = input_jail(fdir, n.tar)
    if jerr then tfail(ctx, "'tar' '%s'%s", n.tar, jerr) end
    n.tar = join(fdir, n.tar)
    n.inputs_root = input_root(fdir)
    id = "tar\0" .. display(n.tar)
  elseif n.command then
    n.inputs_rel = n.inputs or {}
    n.inputs = {}
    if #n.inputs_rel > 0 then n.inputs_root = input_root(fdir) end
    local parts = { "command", n.command, n.epoch or "" }
    for i, p in ipairs(n.inputs_rel) do
      if p == "" then tfail(ctx, "'inputs' item %d is empty", i) end
      local jerr = input_jail(fdir, p)
      if jerr then tfail(ctx, "'inputs' item '%s'%s", p, jerr) end
      n.inputs[i] = join(fdir, p)
      parts[#parts + 1] = display(n.inputs[i])
    end
    id = tconcat(parts, "\0")
  else
    tfail(ctx, "'tar' or 'command' is required")
  end
  n.name = spec.name or ("rootfs-" .. fnv32(id))
  local old = images[n.name]
  if old then
    if old.kind == "rootfs" and canonical(old) == canonical(n) then return old.handle end
    if old.kind == "rootfs" then
      fail(pos, "rootfs \"%s\" is already defined at %s:%d with a different definition",
           n.name, old.file, old.line)
    end
    error(diag({ clash(n.name, n, old) }), 0)
  end
  add_node(n)
  images[n.name] = n
  local h = setmetatable({}, image_mt)
  handles[h] = n
  n.handle = h
  return h
end

---------------------------------------------------------------------------
-- Secrets

local secret_schema = { file = "nonempty", env = "nonempty" }

local function dsl_secret(id)
  local pos = caller_pos()
  check_name(pos, "secret", id, "^[%w_.-]+$", "use letters, digits, '_', '.' and '-'")
  local p = pending_decl(sfmt('secret "%s"', id), pos)
  return function(spec)
    p.done = true
    local what = sfmt('secret "%s"', id)
    pos.what = what
    local ctx = pos
    if not is_plain_table(spec) then
      tfail(ctx, "expected { file = \"path\" } or { env = \"VAR\" }, got %s", describe(spec))
    end
    check_keys(spec, secret_schema, what, pos, false)
    local f = check_fields(spec, secret_schema, ctx, {})
    local s = { pos = pos }
    if imported_from(pos) then
      tfail(ctx, "the imported module %s may not declare secrets (a host file or environment variable): " ..
            "declare the secret in your stack", imported_from(pos))
    end
    if f.file and f.env then
      tfail(ctx, "give either 'file' or 'env', not both")
    elseif f.file then
      s.source, s.rel = "file:" .. join(cfg.dir, f.file), f.file
    elseif f.env then
      s.source = "env:" .. f.env
    else
      tfail(ctx, "'file' or 'env' is required")
    end
    local old = secrets[id]
    if old then
      if old.source ~= s.source then
        fail(pos, "secret \"%s\" is already defined at %s with a different source", id, at(old.pos))
      end
      return id
    end
    secrets[id] = s
    return id
  end
end

---------------------------------------------------------------------------
-- Health probes

local probe_common = { interval = "duration", timeout = "duration", retries = "count",
                       start_period = "duration" }

local function probe_schema(extra)
  local s = {}
  for k, v in pairs(probe_common) do s[k] = v end
  for k, v in pairs(extra) do s[k] = v end
  return s
end

local tcp_schema = probe_schema({ port = "port" })
local http_schema = probe_schema({ port = "port", path = "str", status = true })
local exec_schema = probe_schema({})
local log_schema = probe_schema({})

local function new_probe(kind)
  local file, line = where()
  return { kind = kind, what = kind .. " probe", file = file, line = line, interval_ms = 1000,
           timeout_ms = 1000, retries = 3, start_period_ms = 30000 }
end

local function probe_fields(p, spec, schema, ctx)
  local f = {}
  for k, v in pairs(spec) do
    if type(k) == "string" and k ~= "status" then f[k] = v end
  end
  f = check_fields(f, schema, ctx, {})
  if f.interval then
    if f.interval == 0 then tfail(ctx, "'interval' must be greater than zero") end
    p.interval_ms = f.interval
  end
  if f.timeout then
    if f.timeout == 0 then tfail(ctx, "'timeout' must be greater than zero") end
    p.timeout_ms = f.timeout
  end
  if f.retries then p.retries = f.retries end
  if f.start_period then p.start_period_ms = f.start_period end
  return f
end

local function finish_probe(p)
  local h = setmetatable({}, probe_mt)
  probes[h] = p
  return h
end

local function dsl_tcp(arg)
  local p = new_probe("tcp")
  local pos, ctx = p, p
  if type(arg) == "number" then
    p.port = V.port(ctx, "port", arg)
    return finish_probe(p)
  end
  if not is_plain_table(arg) then
    tfail(ctx, "expected a port number or a table { port = P, ... }, got %s", describe(arg))
  end
  check_keys(arg, tcp_schema, "tcp probe", pos, false)
  local f = probe_fields(p, arg, tcp_schema, ctx)
  if not f.port then tfail(ctx, "'port' is required") end
  p.port = f.port
  return finish_probe(p)
end

local function dsl_http(arg)
  local p = new_probe("http")
  local pos, ctx = p, p
  if not is_plain_table(arg) then
    tfail(ctx, "expected a table { port = P, path = \"/\", status = 200 }, got %s", describe(arg))
  end
  check_keys(arg, http_schema, "http probe", pos, false)
  local f = probe_fields(p, arg, http_schema, ctx)
  if not f.port then tfail(ctx, "'port' is required") end
  p.port = f.port
  p.path = f.path or "/"
  if ssub(p.path, 1, 1) ~= "/" then tfail(ctx, "'path' must start with '/', got '%s'", shown(p.path)) end
  if sfind(p.path, "[%c ]") then
    tfail(ctx, "'path' must not contain spaces or control characters (write them as %%20, %%0D, ...), got '%s'",
          shown(p.path))
  end
  p.status = 200
  if arg.status ~= nil then
    local st = arg.status
    if mtype(st) ~= "integer" or st < 100 or st > 599 then
      tfail(ctx, "'status' must be an HTTP status code (100-599), got %s",
            type(st) == "number" and tostring(st) or describe(st))
    end
    p.status = st
  end
  return finish_probe(p)
end

local function dsl_exec(arg)
  local p = new_probe("exec")
  local pos, ctx = p, p
  if type(arg) == "string" then
    if not sfind(arg, "%S") then tfail(ctx, "the command is empty") end
    p.argv = { "/bin/sh", "-c", no_nul(ctx, "command", arg) }
    return finish_probe(p)
  end
  if not is_plain_table(arg) then
    tfail(ctx, "expected a command { \"cmd\", \"arg\", ... } or a string, got %s", describe(arg))
  end
  local n = check_keys(arg, exec_schema, "exec probe", pos, true)
  if n == 0 then tfail(ctx, "the command is empty") end
  p.argv = {}
  for i = 1, n do
    if type(arg[i]) ~= "string" then
      tfail(ctx, "command item %d must be a string, got %s", i, describe(arg[i]))
    end
    if i == 1 and arg[1] == "" then tfail(ctx, "the program (command item 1) is empty") end
    p.argv[i] = no_nul(ctx, "command", arg[i])
  end
  probe_fields(p, arg, exec_schema, ctx)
  return finish_probe(p)
end

local function dsl_log(arg)
  local p = new_probe("log")
  local pos, ctx = p, p
  if type(arg) == "string" then
    p.regex = arg
  elseif is_plain_table(arg) then
    local n = check_keys(arg, log_schema, "log probe", pos, true)
    if n ~= 1 or type(arg[1]) ~= "string" then
      tfail(ctx, "expected one pattern string as the first item, as in log { \"ready\", timeout = \"5s\" }")
    end
    p.regex = arg[1]
    probe_fields(p, arg, log_schema, ctx)
  else
    tfail(ctx, "expected a pattern string or a table { \"pattern\", ... }, got %s", describe(arg))
  end
  if p.regex == "" then tfail(ctx, "the pattern is empty") end
  no_nul(ctx, "pattern", p.regex)
  local rerr = C.regex_error(p.regex)
  if rerr then tfail(ctx, "bad pattern '%s': %s (a POSIX extended regular expression)", shown(p.regex), rerr) end
  return finish_probe(p)
end

---------------------------------------------------------------------------
-- Services

-- Parses a port string: { ip = IP or nil, host = N or nil, proto } or nil
-- and why.
local function check_port_string(s)
  local body, proto = smatch(s, "^(.*)/(%w+)$")
  if body then
    if proto ~= "tcp" and proto ~= "udp" then
      return nil, sfmt("protocol '%s' is not tcp or udp", proto)
    end
  else
    body, proto = s, "tcp"
  end
  local ip, rest = smatch(body, "^%[([%x:%.]+)%]:(.*)$")
  local parts = {}
  for part in sgmatch((rest or body) .. ":", "([^:]*):") do parts[#parts + 1] = part end
  local function two(i, j)
    local h, why = port_number(parts[i])
    if not h then return nil, why end
    local c, why2 = port_number(parts[j])
    if not c then return nil, why2 end
    return { ip = ip, host = h, proto = proto }
  end
  if ip then
    if #parts ~= 2 then return nil, "wrong number of ':'-separated parts" end
    return two(1, 2)
  end
  if #parts == 1 then
    local c, why = port_number(parts[1])
    if not c then return nil, why end
    return { proto = proto }
  end
  if #parts == 2 then return two(1, 2) end
  if #parts == 3 then
    local a, b, c, d = smatch(parts[1], "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then return nil, sfmt("'%s' is not an IPv4 address", shown(parts[1])) end
    for _, x in ipairs({ a, b, c, d }) do
      if #x > 3 or tonumber(x) > 255 then
        return nil, sfmt("'%s' is not an IPv4 address", parts[1])
      end
    end
    ip = parts[1]
    table.remove(parts, 1)
    return two(1, 2)
  end
  return nil, "wrong number of ':'-separated parts"
end

-- Whether two parsed bindings want the same host port (an unspecified
-- address takes the port on every address).
local function same_host_port(a, b)
  if not a.host or a.host ~= b.host or a.proto ~= b.proto then return false end
  local ia, ib = a.ip or "0.0.0.0", b.ip or "0.0.0.0"
  local any = { ["0.0.0.0"] = true, ["::"] = true }
  return ia == ib or any[ia] or any[ib]
end

function V.ports(ctx, key, v)
  if not is_plain_table(v) then
    tfail(ctx, "'%s' must be a list of strings like \"8000:8000\", got %s", key, describe(v))
  end
  local n = integer_keys(ctx, key, v)
  local out, seen = {}, {}
  for i = 1, n do
    local p = v[i]
    local why
    if mtype(p) == "integer" then p = sfmt("%d", p)
    elseif type(p) == "number" then
      why = port_why(p)
      p = why and tostring(p) or sfmt("%d", mfloor(p))
    end
    local b
    if type(p) == "string" and not why then b, why = check_port_string(p) end
    if not b then
      tfail(ctx, "bad port %s%s (expected \"HOST:CONTAINER\", \"IP:HOST:CONTAINER\" or \"CONTAINER\", optionally with \"/tcp\" or \"/udp\"; ports are 1-65535)",
            type(p) == "string" and sfmt("'%s'", shown(p)) or describe(p), why and (": " .. why) or "")
    end
    for j, o in ipairs(seen) do
      if same_host_port(b, o) then
        tfail(ctx, "ports '%s' and '%s' publish the same host port %d/%s", out[j], p, b.host, b.proto)
      end
    end
    seen[i] = b
    out[i] = p
  end
  return out
end

-- Volumes: "named:/path", "./rel:/path", "/abs:/path", optional ":ro"/":rw".
-- Bind sources are stored absolute (relative ones resolved against the
-- stack directory), since that is what the engine needs.
function V.volumes(ctx, key, v)
  if not is_plain_table(v) then
    tfail(ctx, "'%s' must be a list of strings like \"data:/var/lib/data\", got %s", key, describe(v))
  end
  local n = integer_keys(ctx, key, v)
  local out = {}
  for i = 1, n do
    local s = v[i]
    if type(s) ~= "string" then tfail(ctx, "'%s' item %d must be a string, got %s", key, i, describe(s)) end
    no_ctl(ctx, key, s)
    local parts = {}
    for part in sgmatch(s .. ":", "([^:]*):") do parts[#parts + 1] = part end
    local bad = function(why)
      tfail(ctx, "bad volume '%s': %s (expected \"name:/path\", \"./dir:/path\" or \"/dir:/path\", optionally with \":ro\" or \":rw\")",
            s, why)
    end
    if #parts < 2 or #parts > 3 then bad("wrong number of ':'-separated parts") end
    local src, dst, mode = parts[1], parts[2], parts[3]
    if mode and mode ~= "ro" and mode ~= "rw" then bad("the mode must be 'ro' or 'rw'") end
    if ssub(dst, 1, 1) ~= "/" then bad("the container path must be absolute") end
    if sfind("/" .. dst .. "/", "/%.%./") then bad("the container path must not contain '..'") end
    if normalize(dst) == "/" then bad("the container path must not be '/'") end
    if src == "" then bad("the source is empty") end
    local bind = true
    if ssub(src, 1, 1) == "/" then
      src = normalize(src)
    elseif src == "." or src == ".." or ssub(src, 1, 2) == "./" or ssub(src, 1, 3) == "../" then
      src = join(cfg.dir, src)
    elseif not smatch(src, "^[%w][%w_.-]*$") then
      bad("a volume name uses letters, digits, '_', '.' and '-' (a host directory starts with './' or '/')")
    else
      bind = false
    end
    if bind and imported_from(ctx) then
      tfail(ctx, "volume '%s': the imported module %s may not mount a host path (a named volume it may)",
            s, imported_from(ctx))
    end
    if bind and not C.stat(src) then bad(sfmt("the host path '%s' does not exist", parts[1])) end
    dst = normalize(dst)
    for j = 1, i - 1 do
      if smatch(out[j], "^[^:]*:([^:]*)") == dst then
        tfail(ctx, "volumes '%s' and '%s' mount at the same path %s", v[j], s, dst)
      end
    end
    out[i] = src .. ":" .. dst .. (mode and (":" .. mode) or "")
  end
  return out
end

local conditions = { started = true, healthy = true, completed = true }

function V.depends_on(ctx, key, v)
  if not is_plain_table(v) then
    tfail(ctx, "'depends_on' must be a list of service names or a table { NAME = \"condition\" }, got %s",
          describe(v))
  end
  local list, map = {}, {}
  local n = 0
  for k, c in pairs(v) do
    if mtype(k) == "integer" and k >= 1 then
      if k > n then n = k end
    elseif type(k) == "string" then
      if type(c) ~= "string" then
        tfail(ctx, "depends_on condition for \"%s\" must be a string (\"started\", \"healthy\" or \"completed\"), got %s",
              k, describe(c))
      end
      if not conditions[c] then
        local s = suggest(c, conditions)
        tfail(ctx, "bad depends_on condition '%s' for \"%s\" (use \"started\", \"healthy\" or \"completed\")%s",
              c, k, s and sfmt("; did you mean '%s'?", s) or "")
      end
      map[#map + 1] = k
    else
      tfail(ctx, "'depends_on' has an unexpected key %s", tostring(k))
    end
  end
  for i = 1, n do
    local name = v[i]
    if type(name) ~= "string" then
      tfail(ctx, "'depends_on' item %d must be a service name, got %s", i, describe(name))
    end
    list[#list + 1] = { name = name, cond = "started" }
  end
  tsort(map)
  for _, k in ipairs(map) do list[#list + 1] = { name = k, cond = v[k] } end
  local seen = {}
  for _, d in ipairs(list) do
    if seen[d.name] then tfail(ctx, "'depends_on' names \"%s\" twice", d.name) end
    seen[d.name] = true
    d.file, d.line = ctx.file, ctx.line
  end
  return list
end

local restarts = { no = true, ["on-failure"] = true, always = true, ["unless-stopped"] = true }

function V.restart(ctx, key, v)
  if type(v) == "boolean" then v = v and "always" or "no" end
  if type(v) ~= "string" or not restarts[v] then
    local s = type(v) == "string" and suggest(v, restarts)
    tfail(ctx, "'restart' must be \"no\", \"on-failure\", \"always\" or \"unless-stopped\", got %s%s",
          type(v) == "string" and sfmt("'%s'", v) or describe(v), s and sfmt("; did you mean '%s'?", s) or "")
  end
  return v
end

function V.health(ctx, key, v)
  if v == false then return false end -- no probe, not even the image's healthcheck
  if not probes[v] then
    tfail(ctx, "'health' must be a probe: tcp(PORT), http { ... }, exec { ... } or log \"regex\"; got %s",
          describe(v))
  end
  return probes[v]
end

function V.stop_timeout(ctx, key, v)
  local ms, why = parse_duration(v)
  if not ms then
    if why then tfail(ctx, "bad duration %s for '%s': %s", duration_shown(v), key, why) end
    tfail(ctx, "bad duration %s for '%s' (use e.g. \"10s\", \"1m\", or a number of seconds)",
          duration_shown(v), key)
  end
  return (ms + 999) // 1000
end

-- The default probe of a service: the healthcheck of its image, or of the
-- nearest image it is built from that has one (registry references' are not
-- known when the stack loads), as an exec probe; durations it leaves out are
-- the probes' own defaults.
local function image_probe(index)
  local img = nodes[index]
  while img and img.kind == "image" do
    local hc = img.healthcheck
    if hc then
      if hc.test[1] == "NONE" then return nil end
      local p = { kind = "exec", what = "exec probe", file = img.file, line = img.line,
                  interval_ms = hc.interval_ms or 1000, timeout_ms = hc.timeout_ms or 1000,
                  retries = hc.retries or 3, start_period_ms = hc.start_period_ms or 30000 }
      if hc.test[1] == "CMD-SHELL" then
        p.argv = { "/bin/sh", "-c", hc.test[2] }
      else
        p.argv = { tunpack(hc.test, 2) }
      end
      return p
    end
    img = img.parent and nodes[img.parent]
  end
  return nil
end

local service_schema = {
  image = true, command = "cmd", entrypoint = "cmd", env = "strmap", workdir = "path",
  user = "path", ports = "ports", volumes = "volumes", depends_on = "depends_on",
  health = "health", oneshot = "bool", init = "bool", restart = "restart", aliases = "aliases",
  labels = "labels", stop_timeout = "stop_timeout", stop_signal = "signal",
}

local function dsl_service(name)
  local pos = caller_pos()
  check_name(pos, "service", name, "^[%w][%w_.-]*$",
             "use letters, digits, '_', '.' and '-', starting with a letter or digit")
  local p = pending_decl(sfmt('service "%s"', name), pos)
  return function(spec)
    p.done = true
    local what = sfmt('service "%s"', name)
    pos.what = what
    local ctx = pos
    if not is_plain_table(spec) then
      tfail(ctx, "expected a table of settings, as in service \"%s\" { image = ..., ... }, got %s",
            name, describe(spec))
    end
    local nitems = check_keys(spec, service_schema, what, pos, true)
    if nitems > 0 then
      local v = spec[1] or spec[nitems]
      tfail(ctx, "a service takes only NAME = value settings, not list items%s",
            steps[v] and " (build steps belong in an image)" or "")
    end
    local n = { kind = "service", name = name, file = pos.file, line = pos.line,
                oneshot = false, init = false, stop_timeout = -1 }
    local fields = {}
    for k, v in pairs(spec) do if k ~= "image" then fields[k] = v end end
    check_fields(fields, service_schema, ctx, n)
    if n.command then n.command_set = true end
    if n.entrypoint then n.entrypoint_set = true end
    if n.depends_on then n.deps, n.depends_on = n.depends_on, nil end
    if spec.image == nil then
      tfail(ctx, "'image' is required (an image handle or a registry reference)")
    end
    n.image = parent_of(ctx, "image", spec.image, false).index
    if n.health == nil then n.health = image_probe(n.image) end
    if n.health == false then n.health = nil end
    local old = services[name]
    if old then
      if canonical(old) == canonical(n) then return end
      fail(pos, "service \"%s\" is already defined at %s:%d with a different definition",
           name, old.file, old.line)
    end
    add_node(n)
    services[name] = n
  end
end

---------------------------------------------------------------------------
-- project, vars, read, require, load, import

local project_schema = { cache = true, cache_push = true, bases = true }

local function dsl_project(name)
  local pos = caller_pos()
  local cache, cache_push
  if type(name) == "table" then
    -- project { "shop", cache = "registry.example.com/team/cache", cache_push = true }
    local t = name
    local ctx = { file = pos.file, line = pos.line, what = "project" }
    if check_keys(t, project_schema, "project", pos, true) ~= 1 then
      fail(pos, "project: expected one name, as in project { \"shop\", cache = … }")
    end
    name = t[1]
    if t.cache ~= nil then
      if type(t.cache) ~= "string" or t.cache == "" then
        tfail(ctx, "'cache' must be a registry repository string like \"registry.example.com/team/cache\", got %s",
              describe(t.cache))
      end
      cache = t.cache
    end
    if t.cache_push ~= nil then
      if type(t.cache_push) ~= "boolean" then
        tfail(ctx, "'cache_push' must be true or false, got %s", describe(t.cache_push))
      end
      cache_push = t.cache_push
    end
    if t.bases ~= nil then
      -- bases = { ["python:3.11-slim"] = pybase, ["node:20"] = "mirror.local/node:20" }
      if not is_plain_table(t.bases) then
        tfail(ctx, "'bases' must be a table { [\"REF\"] = handle or \"REF\", ... }, got %s", describe(t.bases))
      end
      local keys = {}
      for k in pairs(t.bases) do keys[#keys + 1] = k end
      tsort(keys, function(a, b) return tostring(a) < tostring(b) end)
      for _, k in ipairs(keys) do
        local to = t.bases[k]
        if type(k) ~= "string" or not valid_ref(k) then
          tfail(ctx, "'bases': %s is not a registry reference", type(k) == "string" and sfmt("'%s'", shown(k)) or describe(k))
        end
        if not handles[to] and not (type(to) == "string" and (to == "scratch" or valid_ref(to))) then
          tfail(ctx, "'bases' [\"%s\"] must be an image or rootfs handle, a registry reference or \"scratch\", got %s",
                k, describe(to))
        end
        if to == k then tfail(ctx, "'bases' [\"%s\"] replaces the reference with itself", k) end
        if not bases_map[k] then bases_map[k] = { to = to, why = sfmt("%s:%d", pos.file, pos.line) } end
      end
    end
  end
  if type(name) ~= "string" then
    fail(pos, "project: expected a name string, as in project \"shop\" or project { \"shop\", cache = … }, got %s",
         describe(name))
  end
  if not smatch(name, "^[a-z0-9][a-z0-9_-]*$") then
    fail(pos, "project \"%s\": bad name (use lowercase letters, digits, '_' and '-', starting with a letter or digit)",
         shown(name))
  end
  if not ref_component(name) then
    fail(pos, "project \"%s\": bad name (it names Docker repositories: %s)", name, REF_COMPONENT_RULE)
  end
  if project and project.name ~= name then
    fail(pos, "project is already set to \"%s\" at %s", project.name, at(project.pos))
  end
  project = project or { name = name, pos = pos }
  if cache ~= nil then project.cache = cache end
  if cache_push ~= nil then project.cache_push = cache_push end
end

-- The project name when the stack sets none, from its directory's name: a
-- valid project name whatever the directory is called (lowercased,
-- non-ASCII dropped, every other run of characters a name cannot hold made
-- one '-', separators trimmed from both ends, at most 64 characters;
-- "stack" if nothing is left). "My Project!" -> "my-project".
local function default_project()
  local b = slower(basename(cfg.dir) or "")
  b = sgsub(b, "[\128-\255]", "")
  b = sgsub(b, "[^a-z0-9_]+", "-")
  b = sgsub(b, "_[_-]+", "-")          -- "_-", "__": one '-' (a lone '_' stays)
  b = sgsub(b, "%-_+", "-")
  b = ssub(b, 1, 64)
  b = sgsub(sgsub(b, "^[_-]+", ""), "[_-]+$", "")
  if b == "" then b = "stack" end
  return b
end

local function make_vars(t)
  local data = {}
  for k, v in pairs(t) do data[k] = v end
  return setmetatable({}, {
    __index = data,
    __newindex = function() error("vars is read-only (set values with --set key=value)", 2) end,
    __pairs = function() return next, data, nil end,
    __metatable = "gb.vars",
  })
end

local function read_text(path)
  local f, err = io_open(path, "rb")
  if not f then return nil, err end
  local text, rerr = f:read("a")
  f:close()
  if not text then return nil, rerr end
  return text
end

local function strip_errpath(err, path)
  -- io.open's message is "PATH: reason"; keep the reason.
  local reason = err and ssub(err, 1, #path + 2) == path .. ": " and ssub(err, #path + 3) or err
  return reason or "unknown error"
end

local new_env -- forward

local modules      -- realpath, or "import\0" .. URL -> value (or LOADING)
local LOADING = {}
local loading      -- names of the modules being loaded, outermost first

local function load_file(abs, disp, module, imported)
  local text, err = read_text(abs)
  if not text then return nil, err end
  if ssub(text, 1, 1) == "#" then text = "--" .. text end -- a #! line
  local fi = { dir = dirname(abs), path = abs, display = disp, module = module, imported = imported }
  local env = new_env(fi)
  local f, lerr = real_load(text, "@" .. disp, "t", env)
  if not f then error(diag({ lerr }), 0) end
  return f
end

local function dsl_require(name, fi)
  local pos = caller_pos()
  if type(name) ~= "string" then
    fail(pos, "require: expected a module name string, got %s", describe(name))
  end
  local ok = name ~= "" and ssub(name, -1) ~= "."
  for part in sgmatch(name .. ".", "([^.]*)%.") do
    if not smatch(part, "^[%w_-]+$") then ok = false end
  end
  if not ok then
    fail(pos, "require: bad module name '%s' (use dotted names like \"stacks.debian\")", name)
  end
  local rel = sgsub(name, "%.", "/") .. ".lua"
  local tried = {}
  -- An imported module (and whatever it requires) is pinned by its importer:
  -- its require searches only graphbuild's own library, never a directory
  -- the importer controls; its own helpers come by relative, pinned import.
  local search = fi.imported and { cfg.libroot } or cfg.search
  for _, d in ipairs(search) do
    local p = normalize(d .. "/" .. rel)
    tried[#tried + 1] = p
    if C.stat(p) == "file" then
      local real = C.realpath(p) or p
      local v = modules[real]
      if v == LOADING then
        local chain = {}
        for i, m in ipairs(loading) do chain[i] = m end
        chain[#chain + 1] = name
        fail(pos, "module '%s' is required while it is being loaded (require loop: %s)", name,
             tconcat(chain, " -> "))
      end
      if v ~= nil then return v end
      modules[real] = LOADING
      local f, err = load_file(real, display(real), name, fi.imported)
      if not f then
        modules[real] = nil
        fail(pos, "module '%s': cannot read %s: %s", name, display(real), strip_errpath(err, real))
      end
      loading[#loading + 1] = name
      v = f(name)
      loading[#loading] = nil
      if v == nil then v = true end
      modules[real] = v
      return v
    end
  end
  local shown = {}
  for i, p in ipairs(tried) do shown[i] = "  " .. display(p) end
  if fi.imported then
    fail(pos, "module '%s' not found; the imported module %s may require only graphbuild's own library " ..
         "(searched:\n%s\n), never the importer's directory; ship a helper as " ..
         "import \"%s.lua#sha256=HEX\" (resolved against the module's URL, pinned inside it)",
         name, fi.imported, tconcat(shown, "\n"), rel:sub(1, -5))
  end
  fail(pos, "module '%s' not found; searched:\n%s", name, tconcat(shown, "\n"))
end

-- import "https://host/mod.lua#sha256=HEX": like require, but the module
-- comes from engine/fetch.c, which returns its text only once the SHA-256
-- matched the pin (from the cache, or fetched and then cached). The module
-- runs in its own environment; positions in it name the URL (without the
-- pin), and its relative paths (read, rootfs) are relative to the stack
-- directory, since it has no directory of its own.
-- A relative import inside an imported module names a file beside it: the
-- URL is resolved against the module's own URL (never above its host), and
-- its pin is part of the importing module's bytes, so the first pin covers it.
local function resolve_relative(base, rel)
  local origin, path = smatch(base, "^(%a[%w+.-]*://[^/?#]*)([^?#]*)")
  if not origin then return nil end
  local parts = {}
  for seg in sgmatch(smatch(path, "^(.*)/[^/]*$") or "", "[^/]+") do parts[#parts + 1] = seg end
  local r, frag = smatch(rel, "^([^#]*)(.*)$")
  if ssub(r, 1, 1) == "/" then parts = {} end
  for seg in sgmatch(r, "[^/]+") do
    if seg == ".." then
      if #parts == 0 then return nil end
      parts[#parts] = nil
    elseif seg ~= "." then
      parts[#parts + 1] = seg
    end
  end
  return origin .. "/" .. tconcat(parts, "/") .. frag
end

local function dsl_import(url, fi)
  local pos = caller_pos()
  if type(url) ~= "string" then
    fail(pos, "import: expected a URL string, as in import \"https://host/mod.lua#sha256=HEX\", got %s",
         describe(url))
  end
  if fi and fi.imported and not smatch(url, "^%a[%w+.-]*:") then
    local abs = resolve_relative(fi.imported, url)
    if not abs then fail(pos, "import %s: leaves the origin of %s", url, fi.imported) end
    url = abs
  end
  local key = "import\0" .. url
  local name = smatch(url, "^[^#]*")
  local v = modules[key]
  if v == LOADING then
    local chain = {}
    for i, m in ipairs(loading) do chain[i] = m end
    chain[#chain + 1] = name
    fail(pos, "module '%s' is imported while it is being loaded (import loop: %s)", name,
         tconcat(chain, " -> "))
  end
  if v ~= nil then return v end
  local text, err = C.fetch(url)
  if not text then fail(pos, "%s", err) end
  if ssub(text, 1, 1) == "#" then text = "--" .. text end -- a #! line
  local env = new_env({ dir = cfg.dir, path = name, display = name, module = name, imported = name })
  local f, lerr = real_load(text, "@" .. name, "t", env)
  if not f then error(diag({ lerr }), 0) end
  modules[key] = LOADING
  loading[#loading + 1] = name
  v = f(name)
  loading[#loading] = nil
  if v == nil then v = true end
  modules[key] = v
  return v
end

local function dsl_read(path, fi)
  local pos = caller_pos()
  if type(path) ~= "string" then
    fail(pos, "read: expected a path string, got %s", describe(path))
  end
  if path == "" then fail(pos, "read: the path is empty") end
  no_ctl(pos_what(pos, "read"), "path", path)
  local jerr = input_jail(fi.dir, path)
  if jerr then fail(pos, "read: '%s'%s", path, jerr) end
  local abs = join(fi.dir, path)
  local st = C.stat(abs)
  if st == "dir" then fail(pos, "read: '%s' is a directory", path) end
  -- a fifo would block and /dev/zero never end: files only, as for secrets
  if st == "other" then fail(pos, "read: '%s' is not a regular file", path) end
  local text, err = read_text(abs)
  if not text then fail(pos, "read: cannot read '%s': %s", path, strip_errpath(err, abs)) end
  reads[abs] = true
  return text
end

local function dsl_load(fi, env)
  return function(chunk, name, mode, e)
    if type(chunk) == "string" and sbyte(chunk, 1) == 27 then
      error("load of a binary chunk is not allowed in stack files", 2)
    end
    if mode ~= nil and mode ~= "t" and mode ~= "bt" and mode ~= "b" then
      error(sfmt("bad argument #3 to 'load' (invalid mode '%s')", tostring(mode)), 2)
    end
    if mode == "b" then error("load of a binary chunk is not allowed in stack files", 2) end
    if e == nil then e = env end
    local f, err = real_load(chunk, name, "t", e)
    if not f and type(err) == "string" and sfind(err, "attempt to load a binary chunk", 1, true) then
      error("load of a binary chunk is not allowed in stack files", 2)
    end
    return f, err
  end
end

-- The metatable of the restricted os and io tables: anything not provided
-- raises an error naming it.
local function forbidden(libname)
  return {
    __index = function(_, k)
      error(sfmt("%s.%s is not allowed in stack files", libname, tostring(k)), 2)
    end,
    __newindex = function(_, k)
      error(sfmt("%s.%s cannot be changed in stack files", libname, tostring(k)), 2)
    end,
    __metatable = false,
  }
end

local function restricted_os()
  local t = { getenv = os.getenv, time = os.time, clock = os.clock, date = os.date }
  return setmetatable(t, forbidden("os"))
end

local function restricted_io()
  local t = {
    open = function(path, mode)
      mode = mode or "r"
      if mode ~= "r" and mode ~= "rb" then
        error("io.open for writing is not allowed in stack files", 2)
      end
      if type(path) == "string" and C.stat(path) == "other" then
        return nil, path .. ": not a regular file", 0
      end
      return io_open(path, mode)
    end,
  }
  return setmetatable(t, forbidden("io"))
end

local function copy_lib(lib, drop)
  local t = {}
  for k, v in pairs(lib) do if not (drop and drop[k]) then t[k] = v end end
  return t
end

local base -- shared read-only part of every file's environment (never exposed)
local string_lib, table_lib, math_lib, utf8_lib = string, table, math, utf8

local function print_stderr(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  io_stderr:write(tconcat(parts, "\t"), "\n")
end

local banned = { dofile = true, loadfile = true, package = true, debug = true,
                 collectgarbage = true, loadstring = true, module = true }

local function make_base()
  local b = {
    assert = assert, error = error, ipairs = ipairs, pairs = pairs, next = next,
    pcall = pcall, xpcall = xpcall, select = select, tonumber = tonumber,
    tostring = tostring, type = type, setmetatable = setmetatable,
    getmetatable = getmetatable, rawequal = rawequal, rawget = rawget,
    rawlen = rawlen, rawset = rawset, print = print_stderr, _VERSION = _VERSION,
    project = dsl_project, image = dsl_image, run = dsl_run, copy = dsl_copy,
    env = dsl_env, workdir = dsl_workdir, user = dsl_user,
    secret = dsl_secret, service = dsl_service, tcp = dsl_tcp, http = dsl_http,
    exec = dsl_exec, log = dsl_log, vars = vars_proxy,
    import = dsl_import,
  }
  -- Reached only for names base lacks: a banned one raises, others are nil.
  return setmetatable(b, {
    __index = function(_, k)
      if banned[k] then error(sfmt("%s is not allowed in stack files", k), 2) end
      return nil
    end,
    __newindex = function() error("the stack environment cannot be changed", 2) end,
    __metatable = false,
  })
end

function new_env(fi)
  local env = {
    string = copy_lib(string_lib, { dump = true }),
    table = copy_lib(table_lib),
    math = copy_lib(math_lib),
    utf8 = copy_lib(utf8_lib),
    os = restricted_os(),
    io = restricted_io(),
  }
  env.require = function(name) return dsl_require(name, fi) end
  env.import = function(url) return dsl_import(url, fi) end
  if fi.module then
    -- project settings (name, cache, cache_push, and any later project-level
    -- setting) belong to the root stack alone
    env.project = function()
      fail(caller_pos(), "project: only the root stack sets project settings; the module '%s' may not",
           fi.module)
    end
  end
  env.read = function(path) return dsl_read(path, fi) end
  env.rootfs = function(spec) return dsl_rootfs(spec, fi) end
  env.load = dsl_load(fi, env)
  env._G = env
  return setmetatable(env, { __index = base, __metatable = false })
end

---------------------------------------------------------------------------
-- After evaluation: checks over the whole stack

-- label: 'stack.lua:2: secret "npm"' or '--secret npm'.
local function check_secret_source(label, s, used)
  local by = sfmt(" (mounted by the run step at %s:%d)", used.file, used.line)
  local kind, val = smatch(s.source, "^(%a+):(.*)$")
  if kind == "file" then
    local st = C.stat(val)
    local shown = s.rel or val
    if st == nil then
      return sfmt("%s: file '%s' does not exist%s", label, shown, by)
    elseif st ~= "file" then
      return sfmt("%s: '%s' is not a regular file%s", label, shown, by)
    end
    local f, err = io_open(val, "rb")
    if not f then
      return sfmt("%s: cannot read '%s': %s%s", label, shown, strip_errpath(err, val), by)
    end
    f:close()
  elseif os_getenv(val) == nil then
    return sfmt("%s: environment variable %s is not set%s", label, val, by)
  end
  return nil
end

-- Two names one network resolves alike: service names compare without
-- case (DNS does), and an alias must not be another service's name.
local function check_network_names(errs)
  local byname, list = {}, {}
  for _, n in ipairs(nodes) do
    if n.kind == "service" then
      local k = slower(n.name)
      local o = byname[k]
      if o then
        errs[#errs + 1] = sfmt("%s:%d: service \"%s\" has the same network name as service \"%s\" at %s:%d (names on the network ignore case)",
                               n.file, n.line, n.name, o.name, o.file, o.line)
      else
        byname[k] = n
      end
      list[#list + 1] = n
    end
  end
  for _, n in ipairs(list) do
    for _, a in ipairs(n.aliases or {}) do
      local o = byname[slower(a)]
      if o and o ~= n then
        errs[#errs + 1] = sfmt("%s:%d: service \"%s\": alias '%s' is the name of service \"%s\" at %s:%d",
                               n.file, n.line, n.name, a, o.name, o.file, o.line)
      end
    end
  end
end

-- Two services publishing one host port: the second could never start.
local function check_host_ports(errs)
  local seen = {} -- list of { b, port string, node }
  for _, n in ipairs(nodes) do
    if n.kind == "service" then
      for _, p in ipairs(n.ports or {}) do
        local b = check_port_string(p)
        if b and b.host then
          for _, o in ipairs(seen) do
            if o.n ~= n and same_host_port(b, o.b) then
              errs[#errs + 1] = sfmt("%s:%d: service \"%s\": port '%s' publishes host port %d/%s, as service \"%s\" does at %s:%d ('%s')",
                                     n.file, n.line, n.name, p, b.host, b.proto, o.n.name, o.n.file, o.n.line, o.p)
              break
            end
          end
          seen[#seen + 1] = { b = b, p = p, n = n }
        end
      end
    end
  end
end

-- Steps made but in no image: `run "x"` at the top level does nothing.
local function check_unused_steps(errs)
  if nused_steps == nmade_steps then return end
  local list = {}
  for _, st in pairs(steps) do
    if not used_steps[st] then list[#list + 1] = st end
  end
  tsort(list, function(a, b)
    if a.file ~= b.file then return a.file < b.file end
    return a.line < b.line
  end)
  for _, st in ipairs(list) do
    errs[#errs + 1] = sfmt("%s:%d: %s is in no image (steps go inside image \"NAME\" { from = ..., %s ... })",
                           st.file, st.line, st.what, st.kind == "copy_from" and "copy" or st.kind)
  end
end

-- <project>/<name>:latest must be a reference the engine takes.
local function check_ref_lengths(errs, pname)
  if #pname + 1 + longest_name + 7 <= REF_MAX then return end
  for _, n in ipairs(nodes) do
    if (n.kind == "image" or n.kind == "rootfs") and #pname + 1 + #n.name + 7 > REF_MAX then
      errs[#errs + 1] = sfmt("%s:%d: %s \"%s\": the tag %s/%s:latest is longer than %d characters (shorten the name or the project)",
                             n.file, n.line, n.kind, n.name, #pname > 40 and ssub(pname, 1, 40) .. "..." or pname,
                             #n.name > 40 and ssub(n.name, 1, 40) .. "..." or n.name, REF_MAX)
    end
  end
end

local function finish()
  local errs = {}
  for _, p in ipairs(pending) do
    if not p.done then
      errs[#errs + 1] = sfmt("%s: %s has no body (write %s { ... })", at(p), p.decl, p.decl)
    end
  end
  check_network_names(errs)
  check_host_ports(errs)
  check_unused_steps(errs)
  check_ref_lengths(errs, project and project.name or default_project())
  -- Registry references named like a declared image or rootfs.
  for _, n in ipairs(nodes) do
    if n.kind == "ref" then
      local m = images[n.name]
      if m and m ~= n then errs[#errs + 1] = clash(n.name, n, m) end
    end
  end
  -- Secrets: the command line overrides the stack.
  for id, src in pairs(cfg.secrets) do
    local kind, val = smatch(src, "^(%a+):(.+)$")
    if kind ~= "file" and kind ~= "env" then
      errs[#errs + 1] = sfmt("--secret %s: expected %s=file:PATH or %s=env:VAR", id, id, id)
      secrets[id] = { source = src, cli = true, bad = true }
    else
      if kind == "file" then val = join(cfg.cwd, val) end
      secrets[id] = { source = kind .. ":" .. val, cli = true }
    end
  end
  local used = {}
  for _, n in ipairs(nodes) do
    if n.kind == "image" then
      for _, s in ipairs(n.steps) do
        if s.kind == "run" then
          local ids = {}
          for id in pairs(s.secrets or {}) do ids[#ids + 1] = id end
          tsort(ids)
          for _, id in ipairs(ids) do
            if not secrets[id] then
              errs[#errs + 1] = sfmt("%s:%d: image \"%s\": run step mounts secret \"%s\", which is not declared (declare it with secret \"%s\" { file = \"...\" } or pass --secret %s=file:PATH)",
                                     s.file, s.line, n.name, id, id, id)
            elseif not used[id] then
              used[id] = s
            end
          end
        end
      end
    end
  end
  local ids = {}
  for id in pairs(used) do ids[#ids + 1] = id end
  tsort(ids)
  for _, id in ipairs(ids) do
    local s = secrets[id]
    if not s.bad then
      local label = s.cli and ("--secret " .. id) or sfmt("%s: secret \"%s\"", at(s.pos), id)
      errs[#errs + 1] = check_secret_source(label, s, used[id])
    end
  end
  if #errs > 0 then return { errors = errs } end

  local rl = {}
  for p in pairs(reads) do rl[#rl + 1] = p end
  local sec = {}
  for id, s in pairs(secrets) do sec[id] = s.source end
  for _, n in ipairs(nodes) do n.handle = nil end
  return {
    project = project and project.name or default_project(),
    cache = project and project.cache,
    cache_push = project and project.cache_push or false,
    nodes = nodes,
    reads = rl,
    secrets = sec,
  }
end

---------------------------------------------------------------------------
-- Entry point, called by dsl.c with cfg = {
--   file = stack file as given, path = its absolute path, dir = realpath of
--   its directory, cwd, vars = {k = v}, secrets = {ID = "file:P"|"env:V"},
--   gbpath = {dirs of GRAPHBUILD_PATH}, libroot = dir containing stacks/,
--   stat = function(path) -> "file"|"dir"|"other"|nil,
--   jail = function(root, rel) -> nil, or why rel leaves root (a symlink),
--   realpath = function(path) -> abs or nil,
--   where = function() -> file, line of the first frame of user code,
--   distance = function(a, b) -> optimal string alignment distance,
--   fetch = function(url) -> verified module text | nil, message }

return function(c)
  -- Nearly everything allocated while loading stays live until the end, so
  -- collecting at every doubling is wasted work: a pause of 400% made a
  -- 10 MB stack (96k images) load in 2/3 of the time, for more peak memory.
  collectgarbage("incremental", 400, 100)
  cfg, C = c, { stat = c.stat, realpath = c.realpath, jail = c.jail, fetch = c.fetch, regex_error = c.regex_error }
  where = c.where
  distance = c.distance
  nodes, images, refs, services, secrets, contexts = {}, {}, {}, {}, {}, {}
  pending, reads, modules, project, loading = {}, {}, {}, nil, {}
  cfg.search = { cfg.dir, cfg.dir .. "/stacks" }
  for _, d in ipairs(cfg.gbpath) do cfg.search[#cfg.search + 1] = d end
  cfg.search[#cfg.search + 1] = cfg.libroot
  vars_proxy = make_vars(cfg.vars)
  base = make_base()
  bases_map = {}
  for k, v in pairs(cfg.bases) do
    if not valid_ref(k) then error(diag({ sfmt("--base %s=%s: '%s' is not a registry reference", k, v, shown(k)) }), 0) end
    if v ~= "scratch" and not valid_ref(v) then
      error(diag({ sfmt("--base %s=%s: '%s' is not a registry reference (or \"scratch\")", k, v, shown(v)) }), 0)
    end
    if v == k then error(diag({ sfmt("--base %s=%s replaces the reference with itself", k, v) }), 0) end
    bases_map[k] = { to = v, why = "--base" }
  end

  local text, err = cfg.text, nil -- cfg.text: a converted compose file
  if not text then text, err = read_text(cfg.path) end
  if not text then
    error(diag({ sfmt("cannot read %s: %s", cfg.file, strip_errpath(err, cfg.path)) }), 0)
  end
  if ssub(text, 1, 1) == "#" then text = "--" .. text end
  local env = new_env({ dir = cfg.dir, path = cfg.path, display = cfg.file })
  local f, lerr = real_load(text, "@" .. cfg.file, "t", env)
  if not f then error(diag({ lerr }), 0) end
  f()
  return finish()
end
