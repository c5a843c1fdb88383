#!/usr/bin/env bash
# bench/demo.sh - the seeds' scenario on the demo stack (examples/demo: postgres,
# redis, a oneshot migrate, api, worker), graphbuild `up` side by side with
# Debian's docker-compose 1.29 `up -d --build`, in one run against one private
# engine (/tmp/gbbench-demo, bridge gbbd0):
#   (a) first `up` from nothing (no containers, volumes or images of the tool's
#       own; only the shared Debian base exists) (A_RUNS runs, median, the
#       order of the two tools alternating);
#   (b) `up` with nothing changed (B_RUNS runs, median);
#   (c) `up` after appending a comment to backend/api.py (C_RUNS runs, median);
#   (d) `up` after adding a package to the deps list (graphbuild: the
#       debian.apt { ... } list in stack.lua; compose: deps.txt).
# The compose side is bench/compose-demo/: multi-stage Dockerfiles in the seeds'
# layer order (deps list and its install before the code), the same services,
# the same health checks as far as compose allows (1 s interval), built with the
# classic builder (DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0).
# Both sides start FROM the same base: graphbuild's python-base image of the
# demo (debootstrap bookworm + python3, python3-venv, ca-certificates), built
# first (untimed) and tagged demo-base:bench for the Dockerfiles.
# "up" ends, for graphbuild, when `graphbuild up` exits (it waits for every
# service: healthy / completed / started); for compose, when `up -d --build`
# has returned AND the api container reports healthy (polled every 50 ms), the
# same point of readiness.
# Work copies live in /tmp/gbbench-demo-work/{gb,dc} (never the repo's files);
# logs stay there after the run. The table goes to bench/out/demo.md and stdout.
# usage: bench/demo.sh            (A_RUNS=4 B_RUNS=5 C_RUNS=3 by default)
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
GB=${GB:-$top/build/release/graphbuild}
A_RUNS=${A_RUNS:-4}
B_RUNS=${B_RUNS:-5}
C_RUNS=${C_RUNS:-3}
ENGINE=/tmp/gbbench-demo
w=/tmp/gbbench-demo-work
out=$top/bench/out/demo.md
GB_PORT=18000 # graphbuild project "demo": containers demo-*, network demo_default
DC_PORT=18001 # compose project "dcdemo": containers dcdemo_*_1, network dcdemo_default
DC_PROJECT=dcdemo
ADD_PKG=python3-yaml # the package (d) adds to the deps list

. tests/lib/engine.sh
command -v docker-compose >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1
command -v docker-compose >/dev/null || { echo "need docker-compose" >&2; exit 2; }
[ -x "$GB" ] || { echo "no graphbuild at $GB (build it first)" >&2; exit 2; }

t_script=$(date +%s%N)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
engine_start "$ENGINE" gbbd0 172.31.247.1/24 >/dev/null || exit 1
export DOCKER_API_VERSION=1.41 COMPOSE_API_VERSION=1.41 NO_COLOR=1
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0 COMPOSE_PROJECT_NAME=$DC_PROJECT DCDEMO_PORT=$DC_PORT

gb() { "$GB" -C "$w/gb" --set port=$GB_PORT "$@"; }
dc() { (cd "$w/dc" && docker-compose -p $DC_PROJECT "$@"); }
cleanup() {
	[ -d "$w/gb" ] && gb down --volumes -t 0 >/dev/null 2>&1
	[ -d "$w/dc" ] && dc down -v -t 0 >/dev/null 2>&1
	engine_stop "$ENGINE" >/dev/null 2>&1
}
trap cleanup EXIT
die() { echo "demo.sh: $*" >&2; exit 1; }
log() { echo "demo.sh: $*" >&2; }

now() { date +%s%N; }
ms_since() { echo $((($(now) - $1) / 1000000)); }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---- work copies: fresh for every (a) ----
[ -d "$w/gb" ] && gb down --volumes -t 0 >/dev/null 2>&1
[ -d "$w/dc" ] && dc down -v -t 0 >/dev/null 2>&1
rm -rf "$w"
mkdir -p "$w/logs" || exit 1
fresh_copy() { # base|gb|dc: examples/demo without its .graphbuild/ state (and bench/compose-demo for dc)
	rm -rf "${w:?}/$1" && mkdir -p "$w/$1" || exit 1
	if [ "$1" = dc ]; then
		cp -r bench/compose-demo/. "$w/dc/" && cp -r examples/demo/backend "$w/dc/"
	else
		cp -r examples/demo/stack.lua examples/demo/backend "$w/$1/"
	fi
	rm -rf "$w/$1/backend/__pycache__"
}
fresh_copy base
L=$w/logs

# ---- the shared base (untimed; in its own copy, so the graphbuild copy has no state before (a)): graphbuild's python-base, tagged demo-base:bench ----
t=$(now)
"$GB" -C "$w/base" build --progress plain python-base >"$L/base.log" 2>&1 || { tail -n 30 "$L/base.log"; die "building the base failed"; }
base_ms=$(ms_since "$t")
base_id=$(docker image inspect -f '{{.Id}}' demo/python-base:latest) || die "no demo/python-base:latest"
keep=$base_id # the base and its parent chain (the rootfs node, the imported tarball)
p=$base_id
while p=$(docker image inspect -f '{{.Parent}}' "$p" 2>/dev/null) && [ -n "$p" ]; do keep="$keep $p"; done
docker tag "$base_id" demo-base:bench || die "docker tag"
log "base: $base_id (built or reused in $base_ms ms)"

# reset_engine: no containers, no volumes, no images but the base (its ID and
# its parents: the debootstrap rootfs, with their tags); graphbuild's cache
# mounts are volumes (gbcache-*), so they go too.
reset_engine() {
	local i ids
	ids=$(docker ps -aq)
	[ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
	ids=$(docker volume ls -q)
	[ -n "$ids" ] && docker volume rm -f $ids >/dev/null 2>&1
	docker network prune -f >/dev/null 2>&1
	others() { docker images -a --no-trunc -q | sort -u | grep -v -x -F "$(printf '%s\n' $keep)"; }
	for i in 1 2 3 4 5; do
		ids=$(others)
		[ -n "$ids" ] || break
		docker rmi -f $ids >/dev/null 2>&1
	done
	ids=$(others)
	# tags on the base other than its own: leftovers, harmless; list what is left
	docker images -a --format '{{.Repository}}:{{.Tag}} {{.ID}}' >"$L/images-after-reset.$1"
	[ -z "$(docker volume ls -q)" ] && [ -z "$(docker ps -aq)" ] && [ -z "$ids" ]
}

# ---- warm the mirror (untimed): both sides then download from the same warm mirror ----
reset_engine warm || die "cannot reset the engine"
t=$(now)
docker run --rm demo-base:bench sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --download-only --no-install-recommends postgresql redis-server python3-flask python3-psycopg2 python3-redis $ADD_PKG" >"$L/warm.log" 2>&1 ||
	log "mirror warm-up failed (see $L/warm.log); continuing"
warm_ms=$(ms_since "$t")
log "mirror warm-up: $warm_ms ms"

# edits: real file edits in the work copies
edit_api() { echo "# bench edit $1" >>"$2/backend/api.py"; }
edit_deps_gb() {
	sed -i "s/\"python3-redis\" }/\"python3-redis\", \"$ADD_PKG\" }/" "$w/gb/stack.lua"
	grep -q "\"$ADD_PKG\"" "$w/gb/stack.lua" || die "could not edit the deps list in $w/gb/stack.lua"
}
edit_deps_dc() { echo "$ADD_PKG" >>"$w/dc/deps.txt"; }

# the commands under test, timed; $1 = log name. Prints ms.
run_gb() { # NAME [UP FLAGS...]
	local t rc n=$1
	shift
	t=$(now)
	gb up --progress plain "$@" >"$L/gb-$n.log" 2>&1
	rc=$?
	local ms=$(ms_since "$t")
	[ $rc -eq 0 ] || { tail -n 40 "$L/gb-$n.log" >&2; die "graphbuild up ($n) failed: exit $rc"; }
	echo "$ms"
}
run_dc() { # NAME [UP FLAGS...]
	local t rc i n=$1
	shift
	t=$(now)
	dc up -d --build "$@" >"$L/dc-$n.log" 2>&1
	rc=$?
	for ((i = 0; i < 2400; i++)); do
		[ "$(docker inspect -f '{{.State.Health.Status}}' ${DC_PROJECT}_api_1 2>/dev/null)" = healthy ] && break
		sleep 0.05
	done
	local ms=$(ms_since "$t")
	[ $rc -eq 0 ] || { tail -n 40 "$L/dc-$n.log" >&2; die "docker-compose up ($n) failed: exit $rc"; }
	[ $i -lt 2400 ] || die "compose api never became healthy ($n)"
	echo "$ms"
}
# checks (untimed): the api answers; after an edit, the running api has it
check_api() { # PORT CONTAINER WHAT
	curl -sf --max-time 5 "http://127.0.0.1:$1/health" | grep -q '"ok"' || die "$3: api on :$1 does not answer /health"
}
check_edit() { # CONTAINER LINE WHAT
	[ "$(docker exec "$1" tail -n 1 /app/backend/api.py 2>/dev/null)" = "$2" ] || die "$3: $1 does not run the edited api.py"
}
check_pkg() { # CONTAINER WHAT
	docker exec "$1" python3 -c 'import yaml' 2>/dev/null || die "$2: $1 lacks $ADD_PKG"
}

# ======== the runs ========
# Both stacks may run at once (other project names, ports, networks); the rows
# alternate between the tools so that load from other tenants of the machine
# falls on both.
gb_a_all= dc_a_all= a_load=
a_gb() {
	fresh_copy gb
	ms=$(run_gb "a$1") || exit 1
	check_api $GB_PORT demo-api "graphbuild (a$1)"
	gb_a_all="$gb_a_all $ms"
	log "graphbuild (a$1): $ms ms"
}
a_dc() {
	fresh_copy dc
	ms=$(run_dc "a$1") || exit 1
	check_api $DC_PORT ${DC_PROJECT}_api_1 "compose (a$1)"
	dc_a_all="$dc_a_all $ms"
	log "docker-compose (a$1): $ms ms"
}
# round r: everything removed, then both tools from nothing, gb first in odd
# rounds and compose first in even ones
for r in $(seq "$A_RUNS"); do
	reset_engine a$r || die "cannot reset the engine before (a$r)"
	a_load="$a_load $(cut -d' ' -f1 /proc/loadavg)"
	if [ $((r % 2)) -eq 1 ]; then a_gb $r; a_dc $r; else a_dc $r; a_gb $r; fi
done

gb_b_all= dc_b_all=
for i in $(seq "$B_RUNS"); do
	ms=$(run_gb b$i) || exit 1
	grep -q "up to date" "$L/gb-b$i.log" || log "warning: graphbuild (b$i) did not say 'up to date'"
	gb_b_all="$gb_b_all $ms"
	ms=$(run_dc b$i) || exit 1
	dc_b_all="$dc_b_all $ms"
done
log "(b) graphbuild:$gb_b_all ms; docker-compose:$dc_b_all ms"

gb_c_all= dc_c_all=
for i in $(seq "$C_RUNS"); do
	edit_api "gb-c$i" "$w/gb"
	ms=$(run_gb c$i) || exit 1
	check_edit demo-api "# bench edit gb-c$i" "graphbuild (c$i)"
	check_api $GB_PORT demo-api "graphbuild (c$i)"
	gb_c_all="$gb_c_all $ms"
	edit_api "dc-c$i" "$w/dc"
	ms=$(run_dc c$i) || exit 1
	check_edit ${DC_PROJECT}_api_1 "# bench edit dc-c$i" "compose (c$i)"
	check_api $DC_PORT ${DC_PROJECT}_api_1 "compose (c$i)"
	dc_c_all="$dc_c_all $ms"
done
log "(c) graphbuild:$gb_c_all ms; docker-compose:$dc_c_all ms"

# (c0), supplementary: the same edit with a stop timeout of 0 on both sides
# (`up -t 0`): the old api and worker are killed instead of being given the
# engine's default 10 s (python as PID 1 ignores SIGTERM), which leaves each
# tool's own cost. Not a target row.
gb_c0_all= dc_c0_all=
for i in $(seq "$C_RUNS"); do
	edit_api "gb-c0$i" "$w/gb"
	ms=$(run_gb c0$i -t 0) || exit 1
	check_edit demo-api "# bench edit gb-c0$i" "graphbuild (c0$i)"
	gb_c0_all="$gb_c0_all $ms"
	edit_api "dc-c0$i" "$w/dc"
	ms=$(run_dc c0$i -t 0) || exit 1
	check_edit ${DC_PROJECT}_api_1 "# bench edit dc-c0$i" "compose (c0$i)"
	dc_c0_all="$dc_c0_all $ms"
done
log "(c, -t 0) graphbuild:$gb_c0_all ms; docker-compose:$dc_c0_all ms"

edit_deps_gb
gb_d=$(run_gb d) || exit 1
check_pkg demo-api "graphbuild (d)"
check_api $GB_PORT demo-api "graphbuild (d)"
edit_deps_dc
dc_d=$(run_dc d) || exit 1
check_pkg ${DC_PROJECT}_api_1 "compose (d)"
check_api $DC_PORT ${DC_PROJECT}_api_1 "compose (d)"
log "(d) graphbuild: $gb_d ms; docker-compose: $dc_d ms"
gb down --volumes -t 0 >"$L/gb-down.log" 2>&1
dc down -v -t 0 >"$L/dc-down.log" 2>&1

# ======== the table ========
med() { echo $1 | tr ' ' '\n' | median; }
gb_a=$(med "$gb_a_all")
dc_a=$(med "$dc_a_all")
gb_c0=$(med "$gb_c0_all")
dc_c0=$(med "$dc_c0_all")
gb_b=$(echo $gb_b_all | tr ' ' '\n' | median)
dc_b=$(echo $dc_b_all | tr ' ' '\n' | median)
gb_c=$(echo $gb_c_all | tr ' ' '\n' | median)
dc_c=$(echo $dc_c_all | tr ' ' '\n' | median)
s() { awk -v m="$1" 'BEGIN { if (m < 1000) printf "%.3f s", m / 1000; else printf "%.1f s", m / 1000 }'; }
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3fx", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
yn() { if "$@"; then echo yes; else echo "**no**"; fi; }
met_a=$(yn le "$gb_a" "$dc_a")
met_b=$(yn eval 'le "$gb_b" 100 && le "$gb_b" "$dc_b"')
met_c=$(yn eval 'le "$gb_c" "$(awk -v d="$dc_c" "BEGIN { print 0.3 * d }")"')
met_d=$(yn le "$gb_d" "$dc_d")
total_ms=$(ms_since "$t_script")
mkdir -p "$(dirname "$out")"
{
	echo "# Demo stack: graphbuild up vs docker-compose up -d --build (issue 4/5)"
	echo
	echo "\`bench/demo.sh\`, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average before the run: $load0."
	echo "graphbuild $("$GB" --version 2>/dev/null | awk '{ print $2 }'), $(docker-compose version --short 2>/dev/null | sed 's/^/docker-compose /'), dockerd $(docker version -f '{{.Server.Version}}' 2>/dev/null), one private engine for both."
	echo
	echo "| row | graphbuild | docker-compose | ratio | target | met? |"
	echo "|---|---|---|---|---|---|"
	echo "| (a) first \`up\` from nothing (median of $A_RUNS, alternating which tool goes first) | $(s "$gb_a") | $(s "$dc_a") | $(r "$gb_a" "$dc_a") | not slower than compose | $met_a |"
	echo "| (b) \`up\`, no change (median of $B_RUNS) | $(s "$gb_b") | $(s "$dc_b") | $(r "$gb_b" "$dc_b") | <= 0.1 s, not slower than compose | $met_b |"
	echo "| (c) \`up\` after editing backend/api.py (median of $C_RUNS) | $(s "$gb_c") | $(s "$dc_c") | $(r "$gb_c" "$dc_c") | <= 0.3x compose | $met_c |"
	echo "| (d) \`up\` after adding $ADD_PKG to the deps list | $(s "$gb_d") | $(s "$dc_d") | $(r "$gb_d" "$dc_d") | not slower than compose | $met_d |"
	echo "| supplementary, not a target: (c) with \`up -t 0\` on both sides (median of $C_RUNS) | $(s "$gb_c0") | $(s "$dc_c0") | $(r "$gb_c0" "$dc_c0") | (0.3x) | ($(yn eval 'le "$gb_c0" "$(awk -v d="$dc_c0" "BEGIN { print 0.3 * d }")"')) |"
	echo
	echo "All runs (ms): graphbuild a=[${gb_a_all# }] b=[${gb_b_all# }] c=[${gb_c_all# }] c,-t0=[${gb_c0_all# }] d=$gb_d;"
	echo "docker-compose a=[${dc_a_all# }] b=[${dc_b_all# }] c=[${dc_c_all# }] c,-t0=[${dc_c0_all# }] d=$dc_d."
	echo
	echo "How it was measured:"
	echo
	echo "- **Same base for both.** Every compose Dockerfile starts \`FROM demo-base:bench\`, which is"
	echo "  graphbuild's \`python-base\` image of the demo (debootstrap bookworm + python3, python3-venv,"
	echo "  ca-certificates; built, or reused from an earlier run of this engine, first and untimed: $(s "$base_ms")) retagged. Nothing is pulled from a registry."
	echo "- **(a) from nothing**, for each tool: no containers, no volumes (graphbuild's apt cache mounts,"
	echo "  \`gbcache-*\` volumes, included), no images but that base (graphbuild's \`graphbuild-cache:*\`"
	echo "  step and node images removed; compose's images and classic-builder layers removed), and a"
	echo "  fresh work copy (graphbuild: no \`.graphbuild/\` state). (a) runs $A_RUNS times per tool; before"
	echo "  each round everything is removed, then gb and dc each run from nothing, gb first in odd"
	echo "  rounds, dc first in even ones (1-min load average at each round's start:${a_load})."
	echo "  The other rows alternate gb, dc run by run. Both"
	echo "  stacks run side by side (projects \`demo\` and \`$DC_PROJECT\`, their own networks and ports)."
	echo "- **apt**: both sides download from the Debian mirror (deb.debian.org). Before either (a), one"
	echo "  untimed throwaway container downloaded the same packages once ($(s "$warm_ms")) so neither (a)"
	echo "  is the one that warms the mirror/CDN. (a) is dominated by apt downloads and installs"
	echo "  (postgresql, redis-server, python3-flask/psycopg2/redis) and varies with the network."
	echo "- **end of \`up\`**: graphbuild's \`up\` returns when every service is ready (postgres and api"
	echo "  healthy, migrate completed, redis logged ready, worker started). \`docker-compose up -d --build\`"
	echo "  returns once it has *started* api (its depends_on conditions met), so the compose time runs"
	echo "  until the api container's healthcheck reports healthy (polled every 50 ms)."
	echo "- **compose side** (bench/compose-demo/): the seeds' layer order as multi-stage Dockerfiles (deps"
	echo "  stage: COPY deps.txt + apt-get install; runtime stage: COPY backend/), one image for migrate/api/"
	echo "  worker built by each of them, healthchecks at 1 s interval (postgres: the same psql query as"
	echo "  graphbuild's exec probe; redis: \`redis-cli ping\`, as compose has no log probe; api: GET /health"
	echo "  via python3), \`service_completed_successfully\` for migrate; classic builder"
	echo "  (DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0), project \`$DC_PROJECT\`, api on :$DC_PORT."
	echo "  graphbuild: project \`demo\`, api on :$GB_PORT (\`--set port=$GB_PORT\`)."
	echo "- **edits** are real file edits in the work copies (/tmp/gbbench-demo-work/{gb,dc}): (c) appends a"
	echo "  comment line to backend/api.py (checked afterwards inside the running api container); (d) adds"
	echo "  \`$ADD_PKG\` to graphbuild's \`debian.apt { ... }\` list in stack.lua and to compose's deps.txt"
	echo "  (checked with \`import yaml\` in the running api). graphbuild keeps its apt lists/archives in"
	echo "  cache mounts between builds; the compose Dockerfiles, like the seeds', have none."
	echo "- **(c) and the stop timeout**: replacing api and worker waits for the old containers to stop."
	echo "  Both stacks run the python services under the engine's init (graphbuild \`init = true\`,"
	echo "  compose \`init: true\`), so SIGTERM stops them at once; without it python3 as PID 1 ignores"
	echo "  SIGTERM and each side waits the engine's 10 s. The supplementary row passes \`-t 0\` to both"
	echo "  \`up\`s (kill at once) to show what is left without any stop wait."
	echo "- The machine is shared (other engines run tests): compare ratios, not absolute times."
	echo "- Whole script: $(s "$total_ms") (engine start, base, warm-up, both sides)."
} >"$out"
cat "$out"
