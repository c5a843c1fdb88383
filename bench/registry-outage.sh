#!/usr/bin/env bash
# bench/registry-outage.sh - the registry dies in the middle of a transfer:
# how long until the tool gives up (and, for graphbuild, builds on). Side by
# side in one run, one private engine, Debian's docker-registry on loopback:
#   push: `graphbuild build --cache R --push` of an image with a 48 MB random
#         layer, against `docker push` of the same image; the registry is
#         killed (-9) once 1 MB of the layer has arrived (its _uploads/…/data);
#   pull: `graphbuild build --cache R` on an engine without the image,
#         against `docker pull` of it; the registry is killed once 8 MB of the
#         layer are on the engine (its tmp/GetImageBlob* file).
# The registry is restarted (same storage) before every run. RUNS runs per
# cell (default 3), medians. The table goes to bench/out/registry-outage.md.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
GB=${GB:-$top/build/release/graphbuild}
RUNS=${RUNS:-3}
E=/tmp/gbbench-outage
w=/tmp/gbbench-outage-work
out=$top/bench/out/registry-outage.md
. tests/lib/engine.sh
. tests/lib/registry.sh
[ -x "$GB" ] || { echo "no graphbuild at $GB (build it first)" >&2; exit 2; }
export DOCKER_API_VERSION=1.41

rm -rf "$w"; mkdir -p "$w/s"
cleanup() { registry_stop; engine_stop "$E" >/dev/null 2>&1; }
trap cleanup EXIT
registry_init "$w"
registry_start || exit 1
engine_start "$E" gbbo0 172.31.248.1/24 >/dev/null || exit 1
bash tests/lib/busybox-rootfs.sh "$w/s/base.tar" >/dev/null 2>&1 || exit 1
cat >"$w/s/stack.lua" <<EOF
project "outage"
image "big" { from = rootfs { tar = "base.tar" }, env = { R = "$$" }, run "dd if=/dev/urandom of=/big bs=1M count=48 2>/dev/null" }
EOF
gb() { (cd "$w/s" && "$GB" "$@"); }
gb build --progress quiet >/dev/null 2>&1 || { echo "build failed" >&2; exit 1; }
key=$(gb plan --json | python3 -c 'import json,sys; print([i["key"] for i in json.load(sys.stdin)["images"] if i["name"]=="big"][0])')
CACHE=$REG/outage
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# kill_when GLOB SIZE CMD...: runs CMD in the background, kills the registry
# once a file matching GLOB (find -path) exceeds SIZE; prints the ms CMD took,
# or "-" when the transfer ended before the kill (that run does not count).
kill_when() {
	local glob=$1 size=$2 t0 pid f
	shift 2
	t0=$(date +%s%N)
	"$@" >>"$w/log" 2>&1 &
	pid=$!
	for _ in $(seq 6000); do
		f=$(find "$w/registry" "$E/data/tmp" -path "$glob" -size "+$size" 2>/dev/null | head -n1)
		[ -n "$f" ] && { kill -9 "$regpid"; wait "$regpid" 2>/dev/null; regpid=; break; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	wait "$pid"
	if [ -n "$f" ]; then ms "$t0"; else echo -; fi
}
reset_registry() { # empty storage, running
	registry_stop
	rm -rf "$w/registry"; mkdir -p "$w/registry"
	registry_start >/dev/null || exit 1
}
full_push() { docker tag "graphbuild-cache:$key" "$CACHE:$key" && docker push -q "$CACHE:$key" >/dev/null && docker rmi "$CACHE:$key" >/dev/null; }
forget() { # the engine keeps only the busybox base: big and its layer go
	local base
	base=$(docker image inspect -f '{{.Id}}' outage/rootfs-6931e964 2>/dev/null)
	for _ in 1 2 3 4 5; do # a parent refuses removal while a child lists it: again
		docker images -aq --no-trunc | sort -u | grep -vx "$base" | xargs -r docker rmi -f >/dev/null 2>&1
	done
	docker image inspect "graphbuild-cache:$key" >/dev/null 2>&1 && { echo "cannot forget the image" >&2; exit 1; }
}

gp=() dp=() gl=() dl=()
for r in $(seq "$RUNS"); do
	reset_registry
	gp+=("$(kill_when '*_uploads*/data' 1M gb build --cache "$CACHE" --push --progress quiet)")
	reset_registry
	docker tag "graphbuild-cache:$key" "$CACHE:$key"
	dp+=("$(kill_when '*_uploads*/data' 1M docker push "$CACHE:$key")")
	docker rmi "$CACHE:$key" >/dev/null 2>&1
	echo "push run $r: graphbuild ${gp[-1]} ms, docker push ${dp[-1]} ms" >&2
done
for r in $(seq "$RUNS"); do
	reset_registry; full_push; forget
	gl+=("$(kill_when '*GetImageBlob*' 8M gb build --cache "$CACHE" --progress quiet)")
	gb build --progress quiet >/dev/null 2>&1 # (graphbuild built it locally)
	reset_registry; full_push; forget
	dl+=("$(kill_when '*GetImageBlob*' 8M docker pull "$CACHE:$key")")
	gb build --progress quiet >/dev/null 2>&1 # back for the next round
	echo "pull run $r: graphbuild ${gl[-1]} ms, docker pull ${dl[-1]} ms" >&2
done
med() { printf '%s\n' "$@" | grep -v '^-$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
mgp=$(med "${gp[@]}") mdp=$(med "${dp[@]}") mgl=$(med "${gl[@]}") mdl=$(med "${dl[@]}")
mkdir -p "$(dirname "$out")"
{
	echo "# The registry dies mid-transfer (bench/registry-outage.sh)"
	echo
	echo "$(date -u +%FT%RZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); dockerd $(docker version -f '{{.Server.Version}}' 2>/dev/null); medians of $RUNS"
	echo
	echo "| case | graphbuild ms | peer | peer ms | ratio |"
	echo "|---|---|---|---|---|"
	echo "| push, registry killed after 1 MB of a 48 MB layer | $mgp (then: not cached, build ok) | \`docker push\` | $mdp (then: error) | $(ratio "$mgp" "$mdp") |"
	echo "| pull, registry killed after 8 MB of a 48 MB layer | $mgl (then: built locally) | \`docker pull\` | $mdl (then: error) | $(ratio "$mgl" "$mdl") |"
	echo
	echo "All runs (ms; \"-\": the transfer ended before the kill, not counted): graphbuild push=[${gp[*]}] pull=[${gl[*]}]; docker push=[${dp[*]}] pull=[${dl[*]}]."
} | tee "$out"
