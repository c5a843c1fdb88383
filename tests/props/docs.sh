#!/usr/bin/env bash
# docs.sh - the docs cannot drift from the code:
#  - the keys every DSL construct accepts, taken from lua/prelude.lua's own
#    schema tables (the chunk is loaded by lua5.4 and its closures' upvalues
#    walked with the debug library, so computed schemas such as the probes'
#    are seen exactly as the DSL sees them), equal the keys of that
#    construct's table(s) in docs/stack-lua.md (<!-- keys: NAME ... -->
#    markers) and the ---@field set of its class in lua/graphbuild.d.lua;
#  - the DSL functions (prelude's dsl_* and lua/dsl.c's list) are each
#    documented and declared;
#  - every command and option of engine/cli.c, and every variable it reads
#    with getenv, is in docs/cli.md, docs/graphbuild.1 and the completions;
#  - the man page renders without warnings; the completions parse, and the
#    bash one offers the commands, option values and node names.
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT

doc=docs/stack-lua.md dl=lua/graphbuild.d.lua cli=docs/cli.md man=docs/graphbuild.1
bashc=completions/graphbuild.bash zshc=completions/_graphbuild
for f in $doc $dl $cli $man $bashc $zshc docs/getting-started.md docs/migrating-from-compose.md docs/dependencies.md; do
	check "$f exists" test -s "$f"
done

# ---- 1. schema keys: prelude vs stack-lua.md vs graphbuild.d.lua ----

cat >"$w/keys.lua" <<'LUA'
-- usage: lua5.4 keys.lua prelude.lua stack-lua.md graphbuild.d.lua
-- prints "ok|not ok <message>" lines
local prelude, docpath, dlpath = arg[1], arg[2], arg[3]
local out = {}
local function ok(c, msg) out[#out + 1] = (c and "ok " or "not ok ") .. msg end
local function sorted(set)
  local l = {}
  for k in pairs(set) do l[#l + 1] = k end
  table.sort(l)
  return l
end
local function diff(a, b) -- keys of a missing in b
  local l = {}
  for _, k in ipairs(sorted(a)) do if not b[k] then l[#l + 1] = k end end
  return table.concat(l, ", ")
end

-- the schemas, from the prelude's closures
local chunk = assert(loadfile(prelude, "t"))
local run = chunk()
local schemas, fns, seen = {}, {}, {}
local function walk(f)
  if seen[f] then return end
  seen[f] = true
  for i = 1, math.huge do
    local name, v = debug.getupvalue(f, i)
    if not name then break end
    if type(v) == "function" then
      local fn = name:match("^dsl_(.+)$")
      if fn then fns[fn] = true end
      walk(v)
    elseif type(v) == "table" and name:match("_schema$") then
      schemas[name:gsub("_schema$", "")] = v
    end
  end
end
ok(type(run) == "function", "prelude.lua returns the run function")
if type(run) == "function" then walk(run) end
local constructs = sorted(schemas)
ok(#constructs >= 10, "found the prelude's schema tables (" .. table.concat(constructs, " ") .. ")")

-- docs: <!-- keys: a b --> then a table whose rows start with | `key` |
local docset = {}
local f = assert(io.open(docpath))
local marks, intable = nil, false
for line in f:lines() do
  local m = line:match("^<!%-%- keys: ([%w_ ]+) %-%->")
  if m then
    marks = {}
    for c in m:gmatch("[%w_]+") do marks[#marks + 1] = c; docset[c] = docset[c] or {} end
    intable = false
  elseif marks then
    if line:match("^|") then
      intable = true
      local key = line:match("^|%s*`([%w_]+)`")
      if key then for _, c in ipairs(marks) do docset[c][key] = true end end
    elseif intable or line ~= "" then
      marks = nil
    end
  end
end
f:close()

-- graphbuild.d.lua: ---@class Name[: Parent] followed by ---@field lines
local classes, cur = {}, nil
for line in io.lines(dlpath) do
  local name, parent = line:match("^%-%-%-@class%s+([%w_]+)%s*:?%s*([%w_]*)")
  if name then
    cur = { fields = {}, parent = parent ~= "" and parent or nil }
    classes[name] = cur
  elseif cur then
    local fld = line:match("^%-%-%-@field%s+([%a_][%w_]*)")
    if fld then cur.fields[fld] = true
    elseif not line:match("^%-%-%-@field") then cur = nil end
  end
end
local function fields(cname)
  local c, s = classes[cname], {}
  while c do
    for k in pairs(c.fields) do s[k] = true end
    c = c.parent and classes[c.parent]
  end
  return s
end
local classof = { project = "ProjectSpec", image = "ImageSpec", run = "RunSpec", copy = "CopySpec", rootfs = "RootfsSpec",
  secret = "SecretSpec", service = "ServiceSpec", tcp = "TcpProbeSpec", http = "HttpProbeSpec",
  exec = "ExecProbeSpec", log = "LogProbeSpec" }

for _, c in ipairs(constructs) do
  local keys = schemas[c]
  local d = docset[c]
  ok(d ~= nil, c .. ": docs/stack-lua.md has a key table for it (<!-- keys: " .. c .. " -->)")
  if d then
    local miss, extra = diff(keys, d), diff(d, keys)
    ok(miss == "", c .. ": every key is documented" .. (miss ~= "" and " (missing: " .. miss .. ")" or ""))
    ok(extra == "", c .. ": no documented key the prelude lacks" .. (extra ~= "" and " (extra: " .. extra .. ")" or ""))
  end
  local cn = classof[c]
  ok(cn and classes[cn], c .. ": graphbuild.d.lua has its class (" .. tostring(cn) .. ")")
  if cn and classes[cn] then
    local fs = fields(cn)
    local miss, extra = diff(keys, fs), diff(fs, keys)
    ok(miss == "", c .. ": every key is a ---@field of " .. cn .. (miss ~= "" and " (missing: " .. miss .. ")" or ""))
    ok(extra == "", c .. ": no ---@field of " .. cn .. " the prelude lacks" .. (extra ~= "" and " (extra: " .. extra .. ")" or ""))
  end
end
for c in pairs(docset) do
  ok(schemas[c] ~= nil, "docs key table '" .. c .. "' names a construct of the prelude")
end

-- the DSL functions the prelude defines (load is Lua's own, sandboxed)
fns.load = nil
for _, fn in ipairs(sorted(fns)) do print("fn " .. fn) end
for _, l in ipairs(out) do print(l) end
LUA

lua5.4 "$w/keys.lua" lua/prelude.lua $doc $dl >"$w/keys.out" 2>"$w/keys.err" ||
	fail "the schema harness runs ($(head -c 300 "$w/keys.err"))"
while read -r st rest; do
	case $st in
	ok) pass "$rest" ;;
	not) fail "${rest#ok }" ;;
	esac
done < <(grep -v '^fn ' "$w/keys.out")

# ---- 2. DSL functions ----

fns=$(sed -n 's/^fn //p' "$w/keys.out")
# lua/dsl.c's list of DSL names (for "did you mean"): the authoritative global names
cnames=$(awk '/static const char \*const names\[\] = \{/{f=1;next} f&&/\};/{exit} f' lua/dsl.c | grep -o '"[a-z_]*"' | tr -d '"')
check "lua/dsl.c lists the DSL names" test -n "$cnames"
envline=$(grep -m1 '^- the DSL:' $doc)
for fn in $fns $cnames; do
	[[ " $envline " == *" ${fn} "* || $envline == *" ${fn}\`"* || $envline == *"\`${fn} "* ]] ||
		{ fail "DSL function $fn is in the stack-lua.md environment list"; continue; }
	grep -q "^## $fn\b\|^### $fn\b\|| \`$fn\b\|\`$fn \"" $doc || { fail "DSL function $fn is described in stack-lua.md"; continue; }
	if [ "$fn" = vars ]; then
		grep -q '^vars = ' $dl || { fail "vars is declared in graphbuild.d.lua"; continue; }
	elif [ "$fn" != require ]; then
		grep -q "^function $fn(" $dl || { fail "function $fn is declared in graphbuild.d.lua"; continue; }
		awk -v fn="$fn" '/^---@param|^---@return/{p=p $0 "\n"} /^function /{if ($0 ~ "^function " fn "\\(") {print p}; p=""} !/^---/&&!/^function /{p=""}' $dl |
			grep -q '@param' || { fail "function $fn has ---@param in graphbuild.d.lua"; continue; }
	fi
	pass "DSL function $fn: documented and declared"
done

# ---- 3. the command line: commands, options, environment ----

cmds=$(awk '/static const struct cmd cmds\[\] = \{/{f=1;next} f&&/^\};/{exit} f' engine/cli.c | grep -o '^\s*{"[a-z]*"' | grep -o '[a-z]\+')
check "engine/cli.c's command table is found" test "$(echo $cmds | wc -w)" -ge 8
# options: the string literals parse() compares argv words with
opts=$(awk '/^static int parse\(/{f=1} f&&/^}/{exit} f' engine/cli.c |
	grep -o 'str\(n\)\?cmp(a, "-[^"]*"' | grep -o '"-[^"]*"' | tr -d '"' | sed 's/=$//' | sort -u)
check "engine/cli.c's options are found" test "$(echo $opts | wc -w)" -ge 20
envs=$(cat engine/*.c lua/*.c | grep -o 'getenv("[A-Z_]*")' | grep -o '[A-Z_]\{2,\}' | sort -u)
mantext=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' $man)
for c in $cmds; do
	ok=1
	grep -q "^### $c\$" $cli || ok=0
	grep -q "^\.B $c\$" $man || ok=0
	grep -q "\b$c\b" <(grep -m1 '^\s*local commands=' $bashc) || ok=0
	grep -q "'$c:" $zshc || ok=0
	[ $ok = 1 ] && pass "command $c: in cli.md, the man page and both completions" ||
		fail "command $c: in cli.md, the man page and both completions"
done
for o in $opts; do
	[ "$o" = - ] || [ "$o" = -- ] && continue
	ok=1 where=
	grep -qF -- "\`$o" $cli || { ok=0; where="$where cli.md"; }
	grep -qF -- "$o" <<<"$mantext" || { ok=0; where="$where man"; }
	case $o in --print-path | --version | -h | --help) ;; # exit at once: nothing to complete after them
	*) grep -qF -- "$o" $bashc || { ok=0; where="$where bash"; }
	   grep -qF -- "$o" $zshc || { ok=0; where="$where zsh"; } ;;
	esac
	[ $ok = 1 ] && pass "option $o: documented and completed" || fail "option $o: missing in$where"
done
for e in $envs; do
	ok=1
	grep -qF "\`$e\`" $cli || ok=0
	[ "$e" = HOME ] || grep -qF "$e" <<<"$mantext" || ok=0
	[ $ok = 1 ] && pass "environment variable $e: in cli.md and the man page" ||
		fail "environment variable $e: in cli.md and the man page"
done
for v in auto tty plain quiet; do grep -q "\b$v\b" <(grep -m1 -A1 -- "--progress)" $bashc) || fail "bash completes --progress $v"; done
# the exit codes of cli.c's header comment
for code in 0 1 2 130; do
	grep -q "^| $code |" $cli && grep -q "^\.B $code\$" $man && pass "exit code $code documented" ||
		fail "exit code $code documented in cli.md and the man page"
done

# ---- 4. the man page renders without warnings ----

# groff-base and zsh are installed by scripts/setup.sh: missing is a failure
groff -man -ww -z $man >"$w/groff" 2>&1
check "groff -man -ww: no warnings ($(head -c 200 "$w/groff"))" test ! -s "$w/groff"

# ---- 5. completions ----

check "bash -n $bashc" bash -n $bashc
check "zsh -n $zshc" zsh -n $zshc

# complete LINE: COMPREPLY (one line) for LINE, bash's word split emulated
# with the default COMP_WORDBREAKS ('=' is a word of its own)
cat >"$w/complete.sh" <<'SH'
source "$1"; line=$2
COMP_LINE=$line COMP_POINT=${#line}
split=${line//=/ = }
read -ra COMP_WORDS <<<"$split"
[[ $line == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_graphbuild
echo "${COMPREPLY[*]}"
SH
complete_line() { bash "$w/complete.sh" "$top/$bashc" "$1" 2>/dev/null; }
# the function alone with only COMP_WORDS/COMP_CWORD set
got=$(bash -c 'source "$1"; COMP_WORDS=(graphbuild ""); COMP_CWORD=1; _graphbuild; echo "${COMPREPLY[*]}"' _ "$top/$bashc" 2>/dev/null)
check "bash completion offers the commands (COMP_WORDS only): $got" test "$got" = "$(echo $cmds)"
got=$(complete_line "graphbuild ")
check "bash: 'graphbuild ' -> the commands" test "$got" = "$(echo $cmds)"
got=$(complete_line "graphbuild build --progress ")
check "bash: --progress values: $got" test "$got" = "auto tty plain quiet"
got=$(complete_line "graphbuild build --progress=pl")
check "bash: --progress=pl -> plain: $got" test "$got" = "plain"
got=$(complete_line "graphbuild graph --format ")
check "bash: --format values: $got" test "$got" = "text dot mermaid"
got=$(complete_line "graphbuild up --no-w")
check "bash: up options: $got" test "$got" = "--no-wait"

GB=${GB:-$top/build/${GB_CONFIG:-release}/graphbuild}
if [ -x "$GB" ]; then
	s=$w/stack
	mkdir -p "$s/src"
	cat >"$s/stack.lua" <<'LUA'
local base = rootfs { tar = "base.tar", name = "basefs" }
local app = image "app" { from = base, copy "src/" }
service "db" { image = "postgres:15", health = tcp(5432) }
service "api" { image = app, depends_on = { db = "healthy" } }
LUA
	: >"$s/base.tar"
	got=$(complete_line "$GB -C $s up ")
	check "bash: up completes services from graph --format text: $got" test "$got" = "api db"
	got=$(complete_line "$GB -C $s build ")
	check "bash: build completes images, rootfs and services: $got" test "$got" = "api app basefs db"
	got=$(complete_line "$GB -f $s/stack.lua logs -f a")
	check "bash: logs -f (follow) completes services: $got" test "$got" = "api"
	got=$(complete_line "$GB -C $s build --rebuild=ap")
	check "bash: --rebuild= completes image names: $got" test "$got" = "app"
	# the DSL examples of the reference load
	awk '/^## service$/{f=1} f&&/^```lua/{g=1;next} g&&/^```/{exit} g' $doc >"$w/svc.lua"
	if [ -s "$w/svc.lua" ]; then
		mkdir -p "$w/ex"
		{ echo 'local app = image "app" { from = "alpine:3.19" }'
		  echo 'service "db" { image = "postgres:15", health = tcp(5432) }'
		  echo 'service "migrate" { image = app, oneshot = true }'
		  cat "$w/svc.lua"; } >"$w/ex/stack.lua"
		if "$GB" -C "$w/ex" graph >/dev/null 2>"$w/ex.err"; then pass "stack-lua.md's service example loads"
		else fail "stack-lua.md's service example loads: $(head -c 300 "$w/ex.err")"; fi
	fi
else
	pass "node-name completion # skip: no binary at $GB"
fi

done_tests
