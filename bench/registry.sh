#!/usr/bin/env bash
# bench/registry.sh - the remote cache (issue 5/5): two private engines and
# Debian's docker-registry on loopback, as in tests/integration/registry.sh.
#
#   cold   engine A builds a 50-image graph with --push (the CI machine)
#   warm   engine B, emptied before each run, builds the same graph with
#          --cache: everything is pulled (the laptop)
#   check  the registry lookups alone: `plan --json` on empty B with --cache
#          minus without (50 image keys, plus step keys if the plan asks),
#          and the library's own 50-key lookup (tests/unit/registry.c)
#
# The graph: a rootfs base, a "toolchain" image (run: 3 s of work), then 7
# layers of 7 images, each built on one image of the layer before, each with
# a run step that works for 1 s and writes 1 MB. 50 image nodes in all.
# Prints a markdown table of medians (RUNS, default 3) and the ratios.
# usage: bench/registry.sh [RUNS]     (root; needs python3, docker-registry)
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
RUNS=${1:-3}
GB=${GB:-$top/build/release/graphbuild}
[ -x "$GB" ] || { echo "no graphbuild at $GB (make -C build config=release)" >&2; exit 2; }
. tests/lib/engine.sh
. tests/lib/registry.sh
export DOCKER_API_VERSION=1.41
unset GRAPHBUILD_CACHE
[ -x /usr/bin/docker-registry ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null

w=$(mktemp -d /tmp/gbbenchreg.XXXXXX)
EA=/tmp/gbba EB=/tmp/gbbb
cleanup() {
	registry_stop
	engine_stop "$EA" >/dev/null 2>&1
	engine_stop "$EB" >/dev/null 2>&1
	rm -rf "$w"
}
trap cleanup EXIT

registry_init "$w"
registry_start >&2 || exit 1
engine_start "$EA" gbba0 172.31.249.1/24 >/dev/null || exit 1
HA=$DOCKER_HOST
engine_start "$EB" gbbb0 172.31.250.1/24 >/dev/null || exit 1
HB=$DOCKER_HOST
unset DOCKER_HOST
bash tests/lib/busybox-rootfs.sh "$w/base.tar" >/dev/null 2>&1 || exit 1

wipe() { # HOST: remove every image
	local ids
	ids=$(DOCKER_HOST=$1 docker images -aq | sort -u)
	[ -n "$ids" ] && DOCKER_HOST=$1 docker rmi -f $ids >/dev/null 2>&1
	return 0
}
now() { date +%s.%N; }
ms() { python3 -c "print(round(($2 - $1) * 1000))"; }
median() { python3 -c 'import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:])))' "$@"; }

# ---- the graph (fresh keys per run of the script: SALT) ----
g=$w/graph
mkdir -p "$g"
cp "$w/base.tar" "$g/base.tar"
{
	echo 'project "gbbenchreg"'
	echo 'local bb = rootfs { tar = "base.tar" }'
	echo 'local tc = image "toolchain" { from = bb, env = { SALT = "SALTV" },'
	echo '  run "i=0; end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do i=$((i+1)); done; echo $i > /tc" }'
	prev=tc
	for layer in 1 2 3 4 5 6 7; do
		for j in 1 2 3 4 5 6 7; do
			echo "local l${layer}_$j = image \"l${layer}-$j\" { from = $prev,"
			echo "  run \"sleep 1; head -c 1048576 /dev/urandom > /blob-$layer-$j\" }"
		done
		prev=l${layer}_1
	done
} >"$g/stack.lua"
images=$(grep -c '= image "' "$g/stack.lua")

cold=() warm=() chk=() nochk=()
for r in $(seq "$RUNS"); do
	# fresh keys: nothing on A, nothing in the registry under them
	sed -i "s/SALT = \"[^\"]*\"/SALT = \"$$-$r\"/" "$g/stack.lua"
	wipe "$HA"
	t0=$(now)
	(cd "$g" && DOCKER_HOST=$HA "$GB" build --cache "$REG/bench" --push --progress quiet) || { echo "cold build failed" >&2; exit 1; }
	t1=$(now)
	cold+=("$(ms "$t0" "$t1")")

	# lookups: plan on empty B with and without the cache (5 each)
	wipe "$HB"
	for k in 1 2 3 4 5; do
		t0=$(now); (cd "$g" && DOCKER_HOST=$HB "$GB" plan --json >/dev/null 2>&1); t1=$(now)
		nochk+=("$(ms "$t0" "$t1")")
		t0=$(now); (cd "$g" && DOCKER_HOST=$HB "$GB" plan --json --cache "$REG/bench" >"$w/plan.json" 2>/dev/null); t1=$(now)
		chk+=("$(ms "$t0" "$t1")")
	done
	pulls=$(python3 -c 'import json,sys; print(sum(i["action"] == "pull" for i in json.load(open(sys.argv[1]))["images"]))' "$w/plan.json")

	t0=$(now)
	(cd "$g" && DOCKER_HOST=$HB "$GB" build --cache "$REG/bench" --progress quiet) || { echo "warm build failed" >&2; exit 1; }
	t1=$(now)
	warm+=("$(ms "$t0" "$t1")")
	echo "# run $r: cold ${cold[-1]} ms, warm ${warm[-1]} ms, plan pulls $pulls/$images" >&2
done

# the library alone: 50 keys, concurrently (median of 7, printed by the test)
lib=$( (make -s -C build config=release test_registry >/dev/null 2>&1 || true)
	DOCKER_HOST=$HA GB_BUSYBOX_TAR=$w/base.tar GB_REGISTRY=$REG build/release/test_registry 2>/dev/null |
		sed -n 's/^# 50-key lookup on loopback: median \([0-9.]*\) ms.*/\1/p')

C=$(median "${cold[@]}") W=$(median "${warm[@]}") PC=$(median "${chk[@]}") PN=$(median "${nochk[@]}")
echo
echo "| case | ms (median of $RUNS) | ratio / per node |"
echo "|---|---|---|"
echo "| A: cold build --push, $images images | $C | 1 |"
echo "| B: warm build --cache (all pulled) | $W | $(python3 -c "print(f'{$W/$C:.2f}')")× cold (target ≤ 0.2) |"
echo "| B: plan --json without the cache | $PN | |"
echo "| B: plan --json --cache ($images lookups) | $PC | +$((PC - PN)) ms = $(python3 -c "print(f'{($PC-$PN)/$images:.2f}')") ms/node (target ≤ 5) |"
echo "| registry_check, 50 keys at once (library) | ${lib:-?} | $(python3 -c "print(f'{${lib:-0}/50:.2f}')") ms/key |"
