#!/usr/bin/env bash
# Key invariants (DSL.md "Cache keys"), checked through `graphbuild plan --json`:
# mtimes, declaration order, comments, formatting and the project name never
# change a key; editing a file changes exactly the keys of the nodes that
# select it and of what is built on them; .dockerignore'd files change nothing.
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mk() { mkdir -p "$(dirname "$1")"; printf '%s\n' "$2" >"$1"; }

d=$w/one
mk $d/base.tar "not really a tar, but content is what is hashed"
mk $d/req.txt "flask==2"
mk $d/src/main.py "print('hi')"
mk $d/src/util.py "x = 1"
mk $d/src/notes.tmp "scratch"
mk $d/other.txt "other"
mk $d/.dockerignore "**/*.tmp"
cat >$d/stack.lua <<'LUA'
project "one"
local base = image "base" { from = rootfs { tar = "base.tar" }, env = { A = "1", B = "2" } }
local deps = image "deps" { from = base, workdir "/app", copy "req.txt", run "echo deps" }
local app = image "app" { from = deps, copy { "src/", to = "/app/src/" }, cmd = { "python3", "main.py" } }
local other = image "other" { from = base, copy "other.txt", labels = { x = "1", y = "2" } }
service "api" { image = app }
LUA
keys_of $d >$w/k0 || fail "plan --json works"
check "every image has a 32-hex key" test "$(grep -cE ' [0-9a-f]{32}$' $w/k0)" -ge 5

touch -d '2001-01-01' $d/req.txt $d/src/main.py $d/base.tar; touch $d/other.txt
keys_of $d >$w/k1; check "touching mtimes changes no key" cmp -s $w/k0 $w/k1

# the same definitions, reordered, re-formatted, commented, other project
r=$w/two; cp -a $d $r
cat >$r/stack.lua <<'LUA'
-- a comment
project "two"   -- another project name
local base = image "base" {
  env = { B = "2", A = "1" },            -- table order differs
  from = rootfs { tar = "base.tar" },
}
local other = image "other" { labels = { y = "2", x = "1" }, copy "other.txt", from = base }
local deps = image "deps" {
  from = base,
  workdir "/app",
  copy "req.txt",
  run "echo deps",
}
service "api" { image = image "app" { from = deps, copy { "src/", to = "/app/src/" }, cmd = { "python3", "main.py" } } }
LUA
keys_of $r >$w/k2; check "reordering, comments, formatting and project name change no key" cmp -s $w/k0 $w/k2

mv $r $w/elsewhere-dir; keys_of $w/elsewhere-dir >$w/k3
check "the same stack in another directory gets the same keys" cmp -s $w/k0 $w/k3

changed() { diff <(sort $w/k0) <(sort $1) | grep '^>' | awk '{print $2}' | sort | tr '\n' ' '; }
mk $d/src/main.py "print('changed')"; keys_of $d >$w/k4
check "editing src/main.py changes exactly app" test "$(changed $w/k4)" = "app "
mk $d/src/main.py "print('hi')"; keys_of $d >$w/k5
check "reverting the edit restores the key" cmp -s $w/k0 $w/k5
mk $d/req.txt "flask==3"; keys_of $d >$w/k6
check "editing req.txt changes deps and what is built on it" test "$(changed $w/k6)" = "app deps "
mk $d/req.txt "flask==2"
mk $d/other.txt "other 2"; keys_of $d >$w/k7
check "editing other.txt changes exactly other" test "$(changed $w/k7)" = "other "
mk $d/other.txt "other"
mk $d/src/notes.tmp "ignored edit"; keys_of $d >$w/k8
check "editing a .dockerignore'd file changes nothing" cmp -s $w/k0 $w/k8
chmod +x $d/src/util.py; keys_of $d >$w/k9
check "a file mode change changes exactly app" test "$(changed $w/k9)" = "app "
chmod -x $d/src/util.py
mk $d/base.tar "another base"; keys_of $d >$w/k10
check "a new base changes every image (and the rootfs)" test "$(changed $w/k10 | sed -E "s/rootfs-[0-9a-f]+ //")" = "app base deps other "
done_tests
