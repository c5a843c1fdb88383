#!/usr/bin/env bash
# restart.sh - the engine restarting during `up` (issue 3/5, bad input): a
# private engine of its own (it is restarted, so never the suite's), a
# service that becomes healthy only when the test says so (a file in a bind
# mount), and a dependent. While `up` waits for the first, the engine is
# restarted: `up` must end (no hang) with exit 1 and a message naming the
# service, leave nothing half-made that the next `up` cannot repair, and the
# next `up` must bring the stack up. Ends "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/engine.sh"
GB=${GB:-$top/build/${GB_CONFIG:-release}/graphbuild}
[ -x "$GB" ] || { fail "no graphbuild binary at $GB"; done_tests; exit 1; }
export DOCKER_API_VERSION=1.41
E=/tmp/gbrestart
w=$(mktemp -d /tmp/gbrst.XXXXXX)
cleanup() {
	[ -n "${uppid:-}" ] && kill "$uppid" 2>/dev/null
	(cd "$w/s" 2>/dev/null && "$GB" down -t 0 >/dev/null 2>&1)
	engine_stop "$E" >/dev/null 2>&1
	rm -rf "$w"
}
trap cleanup EXIT
engine_start "$E" gbrs0 172.31.251.1/24 >/dev/null || { fail "start a private engine"; done_tests; exit 1; }
pass "a private engine of its own: $DOCKER_HOST"

busybox_base "$w" || { fail "busybox base"; done_tests; exit 1; }
s=$w/s
mkdir -p "$s/sync"
cp "$bbtar" "$s/base.tar"
P=gbrst$$
cat >"$s/stack.lua" <<LUA
project "$P"
local bb = rootfs { tar = "base.tar" }
local base = image "base" { from = bb }
service "slow" {
  image = base, stop_timeout = 0, volumes = { "./sync:/sync" },
  command = "echo waiting > /sync/running; while [ ! -f /sync/go ]; do sleep 0.05; done; echo ready; exec sleep 1000",
  health = log { "ready", start_period = "120s" },
}
service "after" {
  image = base, stop_timeout = 0, command = "exec sleep 1000",
  depends_on = { slow = "healthy" },
}
LUA

# 1. up waits for slow; the engine restarts under it
(cd "$s" && exec timeout 120 "$GB" up --progress plain >"$w/up1.out" 2>&1) &
uppid=$!
for _ in $(seq 600); do [ -f "$s/sync/running" ] && break; sleep 0.05; done
check "slow is running and up waits for it" test -f "$s/sync/running"
engine_stop "$E" >/dev/null 2>&1
engine_start "$E" gbrs0 172.31.251.1/24 >/dev/null || fail "engine restarts"
wait "$uppid"; rc=$?; uppid=
[ $rc = 1 ] && pass "up ends with exit 1 (no hang)" || { fail "up ends with exit 1 (got $rc)"; sed 's/^/# /' "$w/up1.out"; }
grep -q "service slow .*killed.*engine restarted" "$w/up1.out" && pass "the message names the service and the likely cause" || { fail "the message names the service"; sed 's/^/# /' "$w/up1.out"; }
grep -q "after" "$w/up1.out" && pass "the dependent is reported as not started" || fail "the dependent is reported as not started"
sed 's/^/#   /' "$w/up1.out" | tail -8

# 2. the next up repairs the stack
touch "$s/sync/go"
(cd "$s" && timeout 120 "$GB" up --progress plain >"$w/up2.out" 2>&1); rc=$?
[ $rc = 0 ] && pass "the next up brings the stack up" || { fail "the next up brings the stack up (rc $rc)"; sed 's/^/# /' "$w/up2.out"; }
[ "$(docker inspect -f '{{.State.Running}}' "$P-slow" 2>/dev/null)" = true ] &&
	[ "$(docker inspect -f '{{.State.Running}}' "$P-after" 2>/dev/null)" = true ] &&
	pass "slow and after are running" || fail "slow and after are running"
(cd "$s" && "$GB" up --progress plain >"$w/up3.out" 2>&1) && grep -q "up to date" "$w/up3.out" &&
	pass "a third up has nothing to do" || { fail "a third up has nothing to do"; sed 's/^/# /' "$w/up3.out"; }
(cd "$s" && "$GB" down -t 0 >/dev/null 2>&1)
[ -z "$(docker ps -aq --filter "label=graphbuild.project=$P")" ] && pass "down leaves no container" || fail "down leaves no container"
done_tests
