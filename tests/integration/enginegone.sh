#!/usr/bin/env bash
# enginegone.sh - dockerd killed mid-build (issue 1b/7, DEFECTS 45 and 41): a
# private engine of its own (it is killed, so never the suite's; run it under
# flock /tmp/gb-serial.lock, its bridge name is fixed). While a run step
# sleeps, dockerd is killed with SIGKILL: the build must end with exit 1 and
# say the engine went away (not curl's "transfer closed with outstanding read
# data remaining"); after the engine is back, the next build sweeps the build
# container that was left and builds. Synchronises on the step's output;
# waits are bounded (30 s) only to stop a hang. Ends "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/engine.sh"
GB=${GB:-$here/../../build/${GB_CONFIG:-release}/graphbuild}
[ -x "$GB" ] || { fail "no graphbuild binary at $GB"; done_tests; exit 1; }
export DOCKER_API_VERSION=1.41 NO_COLOR=1
E=/tmp/gbenginegone
w=$(mktemp -d /tmp/gbeg.XXXXXX)
cleanup() {
	[ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null
	engine_stop "$E" >/dev/null 2>&1
	rm -rf "$w"
}
trap cleanup EXIT
engine_start "$E" gbeg0 172.31.209.1/24 >/dev/null || { fail "start a private engine"; done_tests; exit 1; }
docker ps -aq | xargs -r docker rm -f >/dev/null # what an earlier run left in its data root
busybox_base "$w" || { fail "busybox base"; done_tests; exit 1; }
P=gbeg$$
s=$w/s
mkdir -p "$s"
cp "$bbtar" "$s/base.tar"
cat >"$s/stack.lua" <<EOF
project "$P"
image "app" {
  from = rootfs { tar = "base.tar" },
  env = { ROUND = vars.round or "0" },
  run "echo step-started-\$ROUND; case \$ROUND in quick*) ;; *) sleep 40;; esac",
}
EOF
cd "$s"
wait_for() { local i; for i in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# round 1-PID: a new key each run, so an image an earlier run committed is not reused
(exec "$GB" build --progress plain --set round=1-$$ >"$w/b1.log" 2>&1) &
pid=$!
if wait_for "$w/b1.log" "step-started-1-$$"; then
	kill -9 "$(_engine_pid "$E")"
	for _ in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
	kill -0 $pid 2>/dev/null && { fail "build ends within 30 s of the engine's death"; kill -9 $pid; }
	wait $pid; rc=$?; pid=
	[ $rc = 1 ] && pass "engine killed mid-build: exit 1" || { fail "engine killed mid-build: exit 1 (got $rc)"; sed 's/^/# /' "$w/b1.log"; }
	grep -q "the Docker engine at $DOCKER_HOST went away" "$w/b1.log" && ! grep -q "outstanding read data" "$w/b1.log" &&
		pass "the message says the engine went away" || { fail "the message says the engine went away"; sed 's/^/# /' "$w/b1.log"; }
else
	fail "the step started"; sed 's/^/# /' "$w/b1.log"
fi

# the engine back: its build container (restored, stopped) is swept by the next build
engine_stop "$E" >/dev/null 2>&1
engine_start "$E" gbeg0 172.31.209.1/24 >/dev/null || fail "engine restarts"
"$GB" build --progress plain --set round=quick >"$w/b2.log" 2>&1; rc=$?
[ $rc = 0 ] && pass "the next build succeeds" || { fail "the next build succeeds (rc $rc)"; sed 's/^/# /' "$w/b2.log"; }
[ -z "$(docker ps -aq --filter "label=graphbuild.build=$P")" ] && [ -z "$(docker ps -aq)" ] &&
	pass "no build container left (swept)" || { fail "no build container left"; docker ps -a | sed 's/^/# /'; }
done_tests
