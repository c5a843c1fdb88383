#!/usr/bin/env bash
# install.sh - `make install` gives a graphbuild that finds the stacks library
# next to itself: `--print-path` ends with PREFIX/share/graphbuild, a stack in
# an unrelated directory can `require "stacks.redis"`, and two directories
# using the library get the same keys. Also the man page and completions land
# where man and the shells look. No engine needed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/tap.sh"
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
p=$w/prefix

make -C "$top" -s install PREFIX="$p" >"$w/install.log" 2>&1
check "make install PREFIX=… succeeds" test $? = 0 || sed 's/^/# /' "$w/install.log"
check "binary installed" test -x "$p/bin/graphbuild"
check "stacks library installed" test -f "$p/share/graphbuild/stacks/redis.lua"
check "man page installed" test -f "$p/share/man/man1/graphbuild.1"
check "bash completion installed" test -f "$p/share/bash-completion/completions/graphbuild"
check "zsh completion installed" test -f "$p/share/zsh/site-functions/_graphbuild"
check "LuaLS annotations installed" test -f "$p/share/graphbuild/graphbuild.d.lua"

last=$(cd "$w" && env -u GRAPHBUILD_PATH "$p/bin/graphbuild" --print-path | tail -1)
check "--print-path names the installed library ($last)" test "$last" = "$(cd "$p/share/graphbuild" && pwd -P)"

for r in one two; do
	mkdir -p "$w/$r"
	cat >"$w/$r/stack.lua" <<'LUA'
local debian = require "stacks.debian"
local redis = require "stacks.redis"
local base = debian.rootfs { suite = "bookworm" }
redis.service "redis" { base = base }
LUA
done
(cd "$w/one" && env -u GRAPHBUILD_PATH DOCKER_HOST=unix:///nonexistent/gb.sock "$p/bin/graphbuild" plan --json >"$w/one.json" 2>"$w/one.err")
check "a stack elsewhere requires stacks.redis from the installed library" test $? = 0 || sed 's/^/# /' "$w/one.err"
(cd "$w/two" && env -u GRAPHBUILD_PATH DOCKER_HOST=unix:///nonexistent/gb.sock "$p/bin/graphbuild" plan --json >"$w/two.json" 2>/dev/null)
k1=$(python3 -c 'import json,sys; print(sorted((i["name"], i["key"]) for i in json.load(open(sys.argv[1]))["images"]))' "$w/one.json" 2>/dev/null)
k2=$(python3 -c 'import json,sys; print(sorted((i["name"], i["key"]) for i in json.load(open(sys.argv[1]))["images"]))' "$w/two.json" 2>/dev/null)
check "two repositories using the library get the same keys" test -n "$k1" -a "$k1" = "$k2"

make -C "$top" -s uninstall PREFIX="$p" >/dev/null 2>&1
check "make uninstall removes it" test ! -e "$p/bin/graphbuild" -a ! -e "$p/share/graphbuild"
done_tests
