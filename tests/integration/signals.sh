#!/usr/bin/env bash
# signals.sh - every signal cleans up (issue 1b/7, DEFECTS 7 and 41): a build
# with an env secret mounted into a `sleep 40` run step gets SIGTERM, SIGHUP,
# SIGINT, or SIGINT twice, once its step printed that it runs. Each exits
# 128 + the signal, leaves no container (by label and by count, through the
# engine API) and no secret file. kill -9 leaves a labelled build container
# that the next build (and gc) sweeps; so are a rootfs command's directory
# and its process group after kill -9. A rootfs command's children die with
# it and its directory goes. Synchronises on the step's output; every wait is
# bounded (30 s) only to stop a hang. Uses the suite's engine (DOCKER_HOST) or
# starts its own. Ends "N passed, M failed".
set -uo pipefail
. "$(dirname "$0")/../lib/integration.sh" signals gbsg0 172.31.231.1/24

P=gbsig$$
s=$w/s
mkdir -p "$s" "$w/tmp"
cp "$bbtar" "$s/base.tar"
export TMPDIR=$w/tmp
export MY_ETOK="etok-$$-secret-value"
cat >"$s/stack.lua" <<EOF
project "$P"
secret "etok" { env = "MY_ETOK" }
local app = image "app" {
  from = rootfs { tar = "base.tar" },
  env = { ROUND = vars.round or "0" },
  run { "echo step-started-\$ROUND; case \$ROUND in quick*) ;; *) sleep 40;; esac", secrets = { etok = "/root/.etok" } },
}
EOF
cd "$s"

ncont() { docker ps -aq | wc -l; }
nlabelled() { docker ps -aq --filter "label=graphbuild.build=$P" | wc -l; }
# secret_left: the value in any file under TMPDIR, /tmp's graphbuild files or the state dir
secret_left() { { grep -rlsF "$MY_ETOK" "$w/tmp" /tmp/graphbuild-* "$s/.graphbuild" 2>/dev/null || true; } | grep -q .; }
# wait_for FILE TEXT: up to 30 s for TEXT in FILE
wait_for() { local i; for i in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# wait_exit PID: up to 30 s for PID to end; then kill -9 (a hang)
wait_exit() { local i; for i in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null; return 1; }

# wait_gone PID: up to 30 s for PID to be gone (a zombie counts as gone)
wait_gone() { local i st; for i in $(seq 300); do st=$(ps -o stat= -p "$1"); [ -z "$st" ] || [ "${st#Z}" != "$st" ] && return 0; sleep 0.1; done; return 1; }

# round NAME SIGNALS... : start a build, wait for the step, send the signals
# (a second one right after the first), wait; sets rc and log.
round() {
	local name=$1; shift
	log=$w/$name.log
	(exec "$GB" build --progress plain --set round="$name" >"$log" 2>&1) &
	pid=$!
	if ! wait_for "$log" "step-started-$name"; then
		fail "$name: the step started"; sed 's/^/# /' "$log"; kill -9 $pid; wait $pid; rc=-1; return
	fi
	for sig in "$@"; do kill -"$sig" $pid; done
	if ! wait_exit $pid; then
		fail "$name: graphbuild ended within 30 s"; wait $pid; rc=-1; return
	fi
	wait $pid; rc=$?
}

n0=$(ncont)
for pair in TERM:143 HUP:129 INT:130; do
	sig=${pair%:*}; want=${pair#*:}
	round "$sig" "$sig"
	[ "$rc" = "$want" ] && pass "SIG$sig: exit $want" || { fail "SIG$sig: exit $want (got $rc)"; sed 's/^/# /' "$log"; }
	[ "$(nlabelled)" = 0 ] && [ "$(ncont)" = "$n0" ] && pass "SIG$sig: no container left (by label and count)" ||
		{ fail "SIG$sig: no container left"; docker ps -a --format '{{.Names}} {{.Labels}}' | sed 's/^/# /'; }
	if secret_left; then fail "SIG$sig: the secret file is gone"; else pass "SIG$sig: the secret file is gone"; fi
done

# SIGINT twice: out at once (best-effort cleanup); what is left is swept next time
round INT2 INT INT
[ "$rc" = 130 ] && pass "SIGINT twice: exit 130 at once" || { fail "SIGINT twice: exit 130 (got $rc)"; sed 's/^/# /' "$log"; }
if secret_left; then fail "SIGINT twice: the secret file is gone"; else pass "SIGINT twice: the secret file is gone"; fi
"$GB" build --progress quiet --set round=quick2 >"$w/after2.log" 2>&1
[ "$(nlabelled)" = 0 ] && [ "$(ncont)" = "$n0" ] && pass "SIGINT twice: the next build leaves no container" ||
	{ fail "SIGINT twice: the next build leaves no container"; sed 's/^/# /' "$w/after2.log"; }

# kill -9: the build container stays, labelled; the next build sweeps it
round KILL KILL
[ "$(nlabelled)" -ge 1 ] && pass "kill -9: the build container carries graphbuild.build=$P" ||
	{ fail "kill -9: the build container is labelled"; docker ps -a --format '{{.Names}} {{.Labels}}' | sed 's/^/# /'; }
if secret_left; then fail "kill -9: no secret file (removed once the container started)"; else pass "kill -9: no secret file (removed once the container started)"; fi
"$GB" build --progress quiet --set round=quick9 >"$w/sweep.log" 2>&1
[ "$(nlabelled)" = 0 ] && [ "$(ncont)" = "$n0" ] && grep -q "removed 1 build container" "$w/sweep.log" &&
	pass "kill -9: the next build sweeps the stale container, saying so" ||
	{ fail "kill -9: the next build sweeps it"; sed 's/^/# /' "$w/sweep.log"; }
# ... and so does gc
round KILL2 KILL
"$GB" gc >"$w/gc.log" 2>&1
[ "$(nlabelled)" = 0 ] && [ "$(ncont)" = "$n0" ] && grep -q "removed 1 build container" "$w/gc.log" &&
	pass "kill -9: gc sweeps the stale container" || { fail "kill -9: gc sweeps it"; sed 's/^/# /' "$w/gc.log"; }

# a service container made from a built image is no build container
# (POST /commit would copy the label into the image: it is blanked)
cat >>stack.lua <<EOF
service "svc" { image = app, command = "sleep 100", stop_timeout = 0 }
EOF
"$GB" up --no-wait --progress quiet --set round=quicksvc >"$w/up.log" 2>&1
v=$(docker ps -aq --filter "label=graphbuild.project=$P" | head -1 | xargs -r docker inspect --format '{{index .Config.Labels "graphbuild.build"}}')
[ -n "$(docker ps -aq --filter "label=graphbuild.project=$P")" ] && [ -z "$v" ] && [ "$(nlabelled)" = 0 ] &&
	pass "a service container does not carry graphbuild.build" || { fail "a service carries no build label ('$v')"; sed 's/^/# /' "$w/up.log"; }
"$GB" down -t 0 >/dev/null 2>&1

# a rootfs command: SIGTERM kills its whole process group and removes its directory
r=$w/r; mkdir -p "$r"
cat >"$r/stack.lua" <<EOF
project "${P}r"
image "x" {
  from = rootfs { command = "sleep 300 & echo \$! > $w/child.pid; echo \$out > $w/out.dir; wait" },
}
EOF
(cd "$r" && exec "$GB" build --progress plain >"$w/rootfs.log" 2>&1) &
pid=$!
if wait_for "$w/out.dir" / && wait_for "$w/child.pid" '[0-9]'; then
	kill -TERM $pid
	wait_exit $pid; wait $pid; rc=$?
	[ "$rc" = 143 ] && pass "rootfs SIGTERM: exit 143" || { fail "rootfs SIGTERM: exit 143 (got $rc)"; sed 's/^/# /' "$w/rootfs.log"; }
	cpid=$(cat "$w/child.pid")
	wait_gone "$cpid" && pass "rootfs SIGTERM: the command's child died" ||
		{ fail "rootfs SIGTERM: the command's child died"; ps -o pid,ppid,pgid,stat,cmd -p "$cpid" | sed 's/^/# /'; kill "$cpid"; }
	[ ! -e "$(cat "$w/out.dir")" ] && [ ! -e "$(cat "$w/out.dir").tar" ] && pass "rootfs SIGTERM: its directory is gone" ||
		{ fail "rootfs SIGTERM: its directory is gone"; rm -rf "$(cat "$w/out.dir")"; }
else
	fail "rootfs command started"; sed 's/^/# /' "$w/rootfs.log"; kill -9 $pid
fi

# a rootfs command after kill -9: its process group outlives graphbuild and
# its directory stays; the next build (then gc) kills the group and removes it
kt=$w/ktmp; mkdir -p "$kt"; rm -f "$w/child.pid" "$w/out.dir"
q=$w/q; mkdir -p "$q"; cp "$bbtar" "$q/base.tar"
printf 'project "%s"\nimage "quick" { from = rootfs { tar = "base.tar" }, env = { R = "%s" } }\n' "${P}q" "$$" >"$q/stack.lua"
kill9_rootfs() { # NAME WHO SWEEPER...: kill -9 mid-command, then SWEEPER sweeps
	local name=$1 who=$2 cpid dir; shift 2
	rm -f "$w/child.pid" "$w/out.dir"
	(cd "$r" && TMPDIR=$kt exec "$GB" build --progress plain >"$w/rootfs.log" 2>&1) &
	pid=$!
	if ! { wait_for "$w/out.dir" / && wait_for "$w/child.pid" '[0-9]'; }; then
		fail "$name: rootfs command started"; sed 's/^/# /' "$w/rootfs.log"; kill -9 $pid; wait $pid; return
	fi
	kill -9 $pid; wait $pid
	cpid=$(cat "$w/child.pid") dir=$(dirname "$(cat "$w/out.dir")")
	kill -0 "$cpid" 2>/dev/null && [ -d "$dir" ] && [ -f "$dir/owner" ]
	checked "$name: after kill -9 the command's child still runs and its directory stays (owner file)" ||
		ls -la "$dir" | sed 's/^/# /'
	(TMPDIR=$kt "$@") >"$w/sweep.log" 2>&1
	grep -q "removed 1 rootfs command directory (in $kt) a graphbuild that died left behind" "$w/sweep.log" &&
		wait_gone "$cpid" && [ ! -e "$dir" ]
	checked "$name: $who kills the command's process group and removes its directory, saying so" ||
		{ sed 's/^/# /' "$w/sweep.log"; kill "$cpid" 2>/dev/null; }
}
kill9_rootfs "rootfs kill -9" "the next build" bash -c "cd '$q' && exec '$GB' build --progress plain"
kill9_rootfs "rootfs kill -9" "gc" bash -c "cd '$r' && exec '$GB' gc"
[ -z "$(ls -A "$kt")" ]; checked "rootfs kill -9: nothing left in TMPDIR" || ls -la "$kt" | sed 's/^/# /'

done_tests
