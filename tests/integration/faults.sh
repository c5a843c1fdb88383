#!/usr/bin/env bash
# faults.sh - faults, on a real engine (issue 1/7): kill -9 of graphbuild
# mid-build, mid-up and mid-push; dockerd killed (kill -9) and restarted
# mid-build and mid-up; two `up` at once on one stack directory; a full disk
# under .graphbuild/ (a 64 KB tmpfs); truncated, garbage and wrong-version
# .graphbuild/ files (statcache, manifests/*, history, lock); a registry
# answering 500 and one serving a tag that points at another image. After
# each: nothing leaked that the next run does not clean up (containers,
# networks, temp files: graphbuild runs with TMPDIR in the work dir), no
# corrupt state, the next run repairs the stack, and the messages name what
# failed. Synchronises on engine events, container states and files the
# containers write (bounded polls), never on sleeps.
#
# It kills its engine, so it always starts one of its own (never the
# suite's) with a fixed bridge: run it under `flock /tmp/gb-serial.lock`.
# Knobs: GB_FAULTS_ENGINE (dir, default /tmp/gbfaults), GB_FAULTS_BRIDGE
# (gbflt0), GB_FAULTS_CIDR (172.31.207.1/24), GB_FAULTS_POOL (address pool
# for user networks, 172.28.224.0/19 in /24s); GB_KEEP=1 keeps the work dir.
# Prints "ok N - name" and "N passed, M failed".
# Checks marked [1b/7 sweep] rely on build containers labelled
# graphbuild.build=<project> and swept at the start of build/up
# (engine/build_sweep.c).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/engine.sh"
. "$here/../lib/registry.sh"
GB=${GB:-$top/build/${GB_CONFIG:-release}/graphbuild}
[ -x "$GB" ] || { fail "no graphbuild binary at $GB"; done_tests; exit 1; }
export DOCKER_API_VERSION=1.41 NO_COLOR=1
unset GRAPHBUILD_CACHE
E=${GB_FAULTS_ENGINE:-/tmp/gbfaults}
BR=${GB_FAULTS_BRIDGE:-gbflt0}
CIDR=${GB_FAULTS_CIDR:-172.31.207.1/24}
export GB_ENGINE_POOL=${GB_FAULTS_POOL:-base=172.28.224.0/19,size=24}
w=$(mktemp -d /tmp/gbflt.XXXXXX)
export TMPDIR=$w/tmp
mkdir -p "$TMPDIR"
bgpids=()
cleanup() {
	local p
	for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; done
	mountpoint -q "$w/d/.graphbuild" 2>/dev/null && umount "$w/d/.graphbuild"
	registry_stop
	[ -n "${fakepid:-}" ] && kill "$fakepid" 2>/dev/null
	if [ -n "${GB_KEEP:-}" ]; then echo "# kept: $w, engine $E"; return; fi
	for d in "$w"/s "$w"/d; do [ -f "$d/stack.lua" ] && (cd "$d" && timeout 60 "$GB" down -t 0 >/dev/null 2>&1); done
	engine_stop "$E" >/dev/null 2>&1
	rm -rf "$w"
}
trap cleanup EXIT
# The registry of section 9: its port is chosen now, so a Podman engine's
# registries.conf can list it as insecure (Podman, unlike Docker, does not
# treat a loopback registry as plain HTTP by itself: DEFECTS 53).
registry_init "$w"
export GB_PODMAN_INSECURE=$REG
engine_start "$E" "$BR" "$CIDR" >/dev/null || { fail "start a private engine"; done_tests; exit 1; }
pass "a private engine of its own: $DOCKER_HOST"
# The engine's data root outlives a run killed with -9 (its containers and
# networks with it); the checks below count everything on this engine.
left_ids=$(docker ps -aq --filter label=graphbuild.project)
[ -n "$left_ids" ] && docker rm -f $left_ids >/dev/null 2>&1
docker network prune -f >/dev/null 2>&1
busybox_base "$w" || { fail "busybox base"; done_tests; exit 1; }

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds; a bound
# only to stop a hang, never a timing assertion.
wait_for() {
	local n=$(($1 * 20)) i
	shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.05; done
	"$@"
}
show() { sed 's/^/#   /' "$1" | tail -n "${2:-12}"; }
nonempty() { [ -s "$1" ]; }
has() { grep -q -- "$2" "$1" 2>/dev/null; }
running() { [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
gone() { ! docker inspect "$1" >/dev/null 2>&1; }
# events FILE TYPE EVENT: the ids of TYPE objects as the engine reports EVENT
# on them, from now on, appended to FILE (a background `docker events`).
events() {
	: >"$1"
	docker events --filter "type=$2" --filter "event=$3" --format '{{.ID}}' >"$1" 2>/dev/null &
	bgpids+=($!)
	evpid=$!
	# the subscription is live once the engine answers a request after it
	docker version >/dev/null 2>&1
}
stop_events() { kill "$evpid" 2>/dev/null; wait "$evpid" 2>/dev/null; }
# state_clean DIR: no temp file in DIR/.graphbuild or $TMPDIR.
state_clean() {
	[ -z "$(find "$1/.graphbuild" -name '*.tmp*' 2>/dev/null)" ] && [ -z "$(ls -A "$TMPDIR")" ]
}
# plan_clean DIR: `plan` succeeds and discards nothing (no corrupt state).
plan_clean() {
	(cd "$1" && "$GB" plan >"$w/plan.out" 2>&1) && ! grep -qi "discarding\|corrupt\|cannot" "$w/plan.out"
}
kill_engine() { kill -9 "$(_engine_pid "$E")"; }
restart_engine() { engine_start "$E" "$BR" "$CIDR" >/dev/null; }

s=$w/s
mkdir -p "$s/sync"
cp "$bbtar" "$s/base.tar"
P=gbflt$$
# STEP (environment): the last run step of "app"; "slow" waits for sync/go.
cat >"$s/stack.lua" <<LUA
project "$P"
local bb = rootfs { tar = "base.tar" }
local base = image "base" { from = bb, run "echo base > /base" }
local app = image "app" { from = base, run(os.getenv("STEP") or "echo app > /app") }
service "slow" {
  image = base, stop_timeout = 0, volumes = { "./sync:/sync" },
  command = "echo waiting > /sync/running; while [ ! -f /sync/go ]; do sleep 0.05; done; echo ready; exec sleep 1000",
  health = log { "ready", start_period = "120s" },
}
service "after" {
  image = app, stop_timeout = 0, command = "exec sleep 1000",
  depends_on = { slow = "healthy" },
}
LUA
gbs() { (cd "$s" && timeout 180 "$GB" "$@"); }
reset_sync() { rm -f "$s/sync/running" "$s/sync/go"; }
# stack_up NAME OUT: the next up brings both services up (rc 0).
stack_up() {
	touch "$s/sync/go"
	gbs up --progress plain >"$2" 2>&1
	[ $? = 0 ] && running "$P-slow" && running "$P-after"
	checked "$1: the next up brings the stack up" || show "$2"
}
# no_leftovers NAME: after down, the engine holds no container and no
# network of the project, and no temp file is left.
no_leftovers() {
	gbs down -t 0 >/dev/null 2>&1
	[ -z "$(docker ps -aq)" ] && [ -z "$(docker network ls -q --filter label=graphbuild.project=$P)" ]
	checked "$1: after down no container and no network is left" || docker ps -a | sed 's/^/#   /'
	check "$1: no temp file left" state_clean "$s"
}

gbs build --progress plain >"$w/b0.out" 2>&1
checked "a first build" || show "$w/b0.out"

# ---- 1. kill -9 of graphbuild mid-build ----
events "$w/ev1" container start
(cd "$s" && STEP="sleep 600" exec "$GB" build --progress plain >"$w/k1.out" 2>&1) &
gbpid=$!
bgpids+=($gbpid)
wait_for 60 nonempty "$w/ev1"
checked "kill mid-build: the run step's container started" || show "$w/k1.out"
kill -9 $gbpid; wait $gbpid 2>/dev/null
stop_events
leaked=$(head -n1 "$w/ev1")
STEP="echo fixed > /app" gbs build --progress plain >"$w/k1b.out" 2>&1
checked "kill mid-build: the next build succeeds" || show "$w/k1b.out"
plan_clean "$s"; checked "kill mid-build: no corrupt state (plan discards nothing)" || show "$w/plan.out"
check "kill mid-build: no temp file left" state_clean "$s"
# needs 1b/7: build containers labelled graphbuild.build=<project>, swept at start
wait_for 30 gone "$leaked"
checked "kill mid-build: the next build removes the killed build's container [1b/7 sweep]" ||
	docker ps -a | sed 's/^/#   /'
docker rm -f "$leaked" >/dev/null 2>&1

# ---- 2. kill -9 of graphbuild mid-up ----
reset_sync
(cd "$s" && exec "$GB" up --progress plain >"$w/k2.out" 2>&1) &
gbpid=$!
bgpids+=($gbpid)
wait_for 60 test -f "$s/sync/running"
checked "kill mid-up: slow is running and up waits for it" || show "$w/k2.out"
kill -9 $gbpid; wait $gbpid 2>/dev/null
echo "# after the kill: $(docker ps -a --format '{{.Names}}={{.State}}' | tr '\n' ' ')"
stack_up "kill mid-up" "$w/k2b.out"
plan_clean "$s"; checked "kill mid-up: no corrupt state" || show "$w/plan.out"
gbs up --progress plain >"$w/k2c.out" 2>&1 && has "$w/k2c.out" "up to date"
checked "kill mid-up: a third up has nothing to do" || show "$w/k2c.out"
no_leftovers "kill mid-up"

# ---- 3. dockerd killed and restarted mid-build ----
events "$w/ev3" container start
(cd "$s" && STEP="sleep 601" exec timeout 120 "$GB" build --progress plain >"$w/e3.out" 2>&1) &
gbpid=$!
bgpids+=($gbpid)
wait_for 60 nonempty "$w/ev3"
checked "engine killed mid-build: the run step's container started" || show "$w/e3.out"
leaked=$(head -n1 "$w/ev3")
kill_engine
wait $gbpid; rc=$?
stop_events
[ $rc = 1 ]; checked "engine killed mid-build: build ends with exit 1 (got $rc, no hang)" || show "$w/e3.out"
has "$w/e3.out" "app" && grep -qi "engine" "$w/e3.out"
checked "engine killed mid-build: the message names the node and the engine" || show "$w/e3.out"
grep -i "engine" "$w/e3.out" | head -n2 | sed 's/^/#   /' 
restart_engine; checked "engine restarts"
STEP="echo fixed2 > /app" gbs build --progress plain >"$w/e3b.out" 2>&1
checked "engine killed mid-build: the next build succeeds" || show "$w/e3b.out"
plan_clean "$s"; checked "engine killed mid-build: no corrupt state" || show "$w/plan.out"
check "engine killed mid-build: no temp file left" state_clean "$s"
wait_for 30 gone "$leaked"
checked "engine killed mid-build: the next build removes the dead build container [1b/7 sweep]" ||
	docker ps -a | sed 's/^/#   /'
docker rm -f "$leaked" >/dev/null 2>&1

# ---- 4. dockerd killed and restarted mid-up ----
reset_sync
(cd "$s" && exec timeout 120 "$GB" up --progress plain >"$w/e4.out" 2>&1) &
gbpid=$!
bgpids+=($gbpid)
wait_for 60 test -f "$s/sync/running"
checked "engine killed mid-up: slow is running and up waits for it" || show "$w/e4.out"
kill_engine
wait $gbpid; rc=$?
[ $rc = 1 ]; checked "engine killed mid-up: up ends with exit 1 (got $rc, no hang)" || show "$w/e4.out"
has "$w/e4.out" "slow" && grep -qi "engine" "$w/e4.out"
checked "engine killed mid-up: the message names the service and the engine" || show "$w/e4.out"
grep -i "engine" "$w/e4.out" | head -n2 | sed 's/^/#   /' 
restart_engine; checked "engine restarts"
echo "# after the restart: $(docker ps -a --format '{{.Names}}={{.State}}' | tr '\n' ' ')"
stack_up "engine killed mid-up" "$w/e4b.out"
gbs up --progress plain >"$w/e4c.out" 2>&1 && has "$w/e4c.out" "up to date"
checked "engine killed mid-up: a third up has nothing to do" || show "$w/e4c.out"
no_leftovers "engine killed mid-up"

# ---- 4b. a half-made container (created, never started: a kill between
# create and start leaves it so), with every label graphbuild gives it ----
reset_sync; touch "$s/sync/go"
gbs up --progress plain >"$w/h0.out" 2>&1
img=$(docker inspect -f '{{.Config.Image}}' "$P-after")
net=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$P-after")
mapfile -t lbl < <(docker inspect -f '{{range $k, $v := .Config.Labels}}--label={{$k}}={{$v}}{{println}}{{end}}' "$P-after" | grep .)
docker rm -f "$P-after" >/dev/null && docker create --name "$P-after" "${lbl[@]}" --network "$net" "$img" sleep 1000 >/dev/null
[ "$(docker inspect -f '{{.State.Status}}' "$P-after")" = created ]; checked "half-made: a created, never started container of after"
gbs up --progress plain >"$w/h1.out" 2>&1
[ $? = 0 ] && running "$P-after" && has "$w/h1.out" "created"
checked "half-made: the next up recreates it, saying why" || show "$w/h1.out"
no_leftovers "half-made"

# ---- 5. two `up` at once on one stack directory ----
reset_sync
(cd "$s" && exec timeout 120 "$GB" up --progress plain >"$w/u1.out" 2>&1) &
up1=$!
bgpids+=($up1)
wait_for 60 test -f "$s/sync/running"
checked "two ups: the first is waiting for slow"
(cd "$s" && exec timeout 120 "$GB" up --progress plain >"$w/u2.out" 2>&1) &
up2=$!
bgpids+=($up2)
wait_for 30 has "$w/u2.out" "waiting for"
checked "two ups: the second says it waits for the lock" || show "$w/u2.out"
gb1=$(ps -o pid= --ppid "$up1" | tr -d ' ') # graphbuild, under timeout
has "$w/u2.out" "pid $gb1"
checked "two ups: and names who holds it (pid $gb1)" || show "$w/u2.out"
# plan only reads: it answers while an up holds the lock, naming the holder
(cd "$s" && timeout 60 "$GB" plan >"$w/p2.out" 2>&1)
[ $? = 0 ] && has "$w/p2.out" "pid $gb1 works on this stack" && has "$w/p2.out" "planning from the state as it is now"
checked "two ups: plan meanwhile does not wait for the lock, and says whose it is" || show "$w/p2.out"
touch "$s/sync/go"
wait $up1; rc1=$?
wait $up2; rc2=$?
[ $rc1 = 0 ] && [ $rc2 = 0 ]; checked "two ups: both end with exit 0 ($rc1, $rc2)" || { show "$w/u1.out"; show "$w/u2.out"; }
has "$w/u2.out" "up to date"; checked "two ups: the second finds the stack up to date" || show "$w/u2.out"
[ "$(docker ps -q --filter label=graphbuild.project=$P | wc -l)" = 2 ] && running "$P-slow" && running "$P-after"
checked "two ups: one container per service, running"
no_leftovers "two ups"

# ---- 6. a full disk under .graphbuild/ ----
d=$w/d
mkdir -p "$d/.graphbuild" "$d/sync"
cp "$s/stack.lua" "$s/base.tar" "$d/"
sed -i "s/^project .*/project \"${P}d\"/" "$d/stack.lua"
mount -t tmpfs -o size=64k tmpfs "$d/.graphbuild"
checked "full disk: a 64 KB tmpfs on .graphbuild"
head -c 1M /dev/zero >"$d/.graphbuild/fill" 2>/dev/null
touch "$d/sync/go"
gbd() { (cd "$d" && timeout 180 "$GB" "$@"); }
STEP="echo full > /app" gbd build --progress plain >"$w/f1.out" 2>&1; rc=$?
[ $rc = 0 ]; checked "full disk: build succeeds (caches and history are warnings) (rc $rc)" || show "$w/f1.out"
grep -q "statcache.*No space left on device" "$w/f1.out" && grep -q "history.*No space left on device" "$w/f1.out" &&
	grep -q "manifests/.*No space left on device" "$w/f1.out"
checked "full disk: the warnings name the file and the cause" || show "$w/f1.out"
[ "$(grep -c "No space left" "$w/f1.out")" -le 4 ]
checked "full disk: one warning per kind of file (and a count), not one per node" || show "$w/f1.out"
check "full disk: no temp file left" state_clean "$d"
STEP="echo full > /app" gbd up --progress plain >"$w/f2.out" 2>&1; rc=$?
[ $rc = 0 ] && running "${P}d-slow"; checked "full disk: up succeeds (rc $rc)" || show "$w/f2.out"
rm -f "$d/.graphbuild/fill"
plan_clean "$d"; checked "full disk: no corrupt file once there is space" || show "$w/plan.out"
STEP="echo space > /app" gbd build --progress plain >"$w/f3.out" 2>&1 && ! grep -q "cannot write" "$w/f3.out"
checked "full disk: with space again, build writes its state" || show "$w/f3.out"
[ -s "$d/.graphbuild/statcache" ] && [ -s "$d/.graphbuild/history" ] && [ -s "$d/.graphbuild/manifests/app" ]
checked "full disk: statcache, history and manifests are written"
gbd down -t 0 >/dev/null 2>&1
umount "$d/.graphbuild"

# ---- 7. truncated, garbage and wrong-version .graphbuild/ files ----
gbs build --progress plain >"$w/c0.out" 2>&1
st=$s/.graphbuild
cp -a "$st" "$w/good"
for f in statcache manifests/app history lock; do
	for how in truncated garbage version; do
		rm -rf "$st"
		cp -a "$w/good" "$st"
		case $how in
		truncated) n=$(stat -c %s "$st/$f"); truncate -s $((n / 2)) "$st/$f" ;;
		garbage) head -c 3000 /dev/urandom >"$st/$f" ;;
		version) sed -i '1s/[0-9][0-9]*/99/' "$st/$f" 2>/dev/null; [ -s "$st/$f" ] || echo "graphbuild-lock 99 pid 1" >"$st/$f" ;;
		esac
		name="$how $f"
		gbs plan >"$w/c1.out" 2>&1; rc=$?
		[ $rc = 0 ]; checked "$name: plan works (rc $rc)" || show "$w/c1.out"
		! has "$w/c1.out" "build app\|build base"; checked "$name: nothing is rebuilt for it" || show "$w/c1.out"
		reset_sync; touch "$s/sync/go"
		gbs up --progress plain >"$w/c2.out" 2>&1; rc=$?
		[ $rc = 0 ] && running "$P-after"; checked "$name: up works (rc $rc)" || show "$w/c2.out"
		# a no-op up reads no manifest (they only explain rebuilds): build reads and rewrites it
		: >"$w/c3.out"
		case $f in manifests/*) gbs build --progress plain >"$w/c3.out" 2>&1; checked "$name: build works" || show "$w/c3.out" ;; esac
		if [ "$f" != lock ]; then
			cat "$w/c1.out" "$w/c2.out" "$w/c3.out" >"$w/c12.out"
			has "$w/c12.out" ".graphbuild/$f"; checked "$name: a warning names the file" || show "$w/c12.out"
		fi
		plan_clean "$s"; checked "$name: no warning after that" || show "$w/plan.out"
		case $f in
		manifests/*) cmp -s "$st/$f" "$w/good/$f" ;;
		history) head -n1 "$st/$f" | grep -qx "graphbuild-history 1" && [ -z "$(tail -c1 "$st/$f")" ] ;;
		*) true ;;
		esac
		checked "$name: the file is rewritten" || od -c "$st/$f" | head -n3 | sed 's/^/#   /'
		check "$name: no temp file left" state_clean "$s"
	done
done
no_leftovers "bad state files"

# a writer killed before its rename leaves a temp file: the next build or up removes it
echo half >"$st/statcache.tmp.99999"; echo half >"$st/manifests/app.tmp.99999"
gbs build --progress plain >"$w/c3.out" 2>&1
[ $? = 0 ] && [ ! -e "$st/statcache.tmp.99999" ] && [ ! -e "$st/manifests/app.tmp.99999" ]
checked "a killed writer's temp files are removed by the next build" || show "$w/c3.out"

# a lock that is a symlink still locks, and its target is never written
echo "precious" >"$w/victim"
rm -f "$st/lock"; ln -s "$w/victim" "$st/lock"
gbs build --progress plain >"$w/c4.out" 2>&1
[ $? = 0 ] && [ "$(cat "$w/victim")" = precious ]
checked "a symlinked lock: build works and the link's target is untouched" || show "$w/c4.out"
rm -f "$st/lock"

# ---- 8. a registry answering 500 ----
fakeport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$fakeport" >"$w/fake.log" 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = b'{"errors":[{"code":"UNKNOWN","message":"internal error"}]}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = answer
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
fakepid=$!
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$fakeport/v2/"
checked "a registry answering 500 on 127.0.0.1:$fakeport"
STEP="echo r500 > /app" gbs build --cache "127.0.0.1:$fakeport/x" --progress plain >"$w/r1.out" 2>&1; rc=$?
[ $rc = 0 ]; checked "registry 500: build succeeds locally (rc $rc)" || show "$w/r1.out"
grep -q "127.0.0.1:$fakeport" "$w/r1.out" && grep -q "500" "$w/r1.out"
checked "registry 500: the warning names the registry and the status" || show "$w/r1.out"
STEP="echo r500b > /app" gbs build --cache "127.0.0.1:$fakeport/x" --push --progress plain >"$w/r2.out" 2>&1; rc=$?
[ $rc = 0 ] && grep -q "127.0.0.1:$fakeport" "$w/r2.out"
checked "registry 500: build --push builds, and says the push failed, naming the registry (rc $rc)" || show "$w/r2.out"
kill "$fakepid" 2>/dev/null; wait "$fakepid" 2>/dev/null; fakepid=
check "registry 500: no temp file left" state_clean "$s"

# ---- 9. kill -9 of graphbuild mid-push, and a tag pointing at another image ----
if [ -x /usr/bin/docker-registry ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null 2>&1; then
	registry_start; checked "docker-registry on $REG"
	C=$REG/gbflt
	big="head -c 40000000 /dev/urandom > /big"
	(cd "$s" && STEP="$big" exec "$GB" build --cache "$C" --push --progress plain >"$w/p1.out" 2>&1) &
	gbpid=$!
	bgpids+=($gbpid)
	bigup() { [ -n "$(find "$w/registry" -path '*_uploads*/data' -size +1M 2>/dev/null | head -n1)" ]; }
	wait_for 120 bigup
	checked "kill mid-push: a layer is being uploaded" || show "$w/p1.out"
	kill -9 $gbpid; wait $gbpid 2>/dev/null
	STEP="$big" gbs build --cache "$C" --push --progress plain >"$w/p2.out" 2>&1
	checked "kill mid-push: the next build --push succeeds" || show "$w/p2.out"
	[ -z "$(docker ps -aq --filter "label=graphbuild.build=$P")" ]
	checked "kill mid-push: no build container is left" || docker ps -a | sed 's/^/#   /'
	kapp=$(cd "$s" && STEP="$big" "$GB" plan --json | python3 -c 'import json,sys; print([i["key"] for i in json.load(sys.stdin)["images"] if i["name"]=="app"][0])')
	tags() { curl -s "http://$REG/v2/gbflt/tags/list" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin).get("tags") or []))'; }
	tags >"$w/tags"
	grep -qx "$kapp" "$w/tags"; checked "kill mid-push: the registry has app's key" || show "$w/p2.out"
	plan_clean "$s"; checked "kill mid-push: no corrupt state" || show "$w/plan.out"
	check "kill mid-push: no temp file left" state_clean "$s"
	# the tag of app's key now names base's image
	kbase=$(cd "$s" && STEP="$big" "$GB" plan --json | python3 -c 'import json,sys; print([i["key"] for i in json.load(sys.stdin)["images"] if i["name"]=="base"][0])')
	docker tag "graphbuild-cache:$kbase" "$C:$kapp" && docker push "$C:$kapp" >/dev/null 2>&1
	checked "wrong key label: the registry's tag for app names base's image"
	docker rmi -f "$C:$kapp" >/dev/null 2>&1
	gbs down -t 0 >/dev/null 2>&1
	docker rmi -f $(docker images -q) >/dev/null 2>&1
	docker image prune -af >/dev/null 2>&1
	STEP="$big" gbs build --cache "$C" --progress plain >"$w/p3.out" 2>&1; rc=$?
	[ $rc = 0 ]; checked "wrong key label: build succeeds (rc $rc)" || show "$w/p3.out"
	grep -q "$kapp.*reject\|reject.*$kapp" "$w/p3.out" && has "$w/p3.out" "app"
	checked "wrong key label: the pull is rejected, naming the key" || show "$w/p3.out"
	[ "$(docker inspect -f '{{index .Config.Labels "graphbuild.key"}}' "graphbuild-cache:$kapp" 2>/dev/null)" = "$kapp" ] &&
		engine_run "graphbuild-cache:$kapp" test -s /big
	checked "wrong key label: app is built locally, with the right content"
	registry_stop
else
	fail "docker-registry is neither installed nor installable (setup.sh installs it): section 9 did not run"
fi
done_tests
