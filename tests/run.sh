#!/usr/bin/env bash
# run.sh - the whole test suite, from a fresh machine: installs and builds
# (release and ASan+UBSan), starts a private Docker engine (its own socket,
# data root and bridge), makes the busybox base, then runs for each build:
#   unit tests (tests/unit/*.c), golden stacks (tests/stacks/*/),
#   key properties (tests/props/*.sh), integration tests (tests/integration/*.sh).
# Ends with "N passed, M failed"; exit status 0 only if nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash scripts/setup.sh --asan || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

configs=${GB_CONFIGS:-"release asan"}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
out=$top/tests/out
rm -rf "$out"; mkdir -p "$out"

pass=0; fail=0; failed=()
record() { # name rc logfile
	if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "PASS $1"
	else fail=$((fail + 1)); failed+=("$1"); echo "FAIL $1 (log: $3)"; tail -n 25 "$3" | sed 's/^/    /'; fi
}

# The private engine, unless the caller gave one.
. tests/lib/engine.sh
engine_dir=${GB_ENGINE_DIR:-/tmp/gbtest-engine}
if [ -z "${DOCKER_HOST:-}" ]; then
	engine_start "$engine_dir" gbtest0 172.31.240.1/24 || { echo "cannot start a private dockerd"; echo "0 passed, 1 failed"; exit 1; }
	trap 'engine_stop "$engine_dir"' EXIT
fi
export GB_BUSYBOX_TAR=$out/busybox.tar
bash tests/lib/busybox-rootfs.sh "$GB_BUSYBOX_TAR" >"$out/busybox.log" 2>&1 || { echo "busybox base failed"; cat "$out/busybox.log"; }

for cfg in $configs; do
	export GB_CONFIG=$cfg GB=$top/build/$cfg/graphbuild
	for t in build/$cfg/test_*; do
		[ -x "$t" ] || continue
		name="$cfg/unit/$(basename "$t")"; log=$out/${name//\//_}.log
		timeout 600 "$t" >"$log" 2>&1; record "$name" $? "$log"
	done
	log=$out/$cfg-golden.log
	bash tests/golden.sh >"$log" 2>&1; record "$cfg/golden" $? "$log"
	for t in tests/props/*.sh tests/integration/*.sh; do
		[ -f "$t" ] || continue
		name="$cfg/$(basename "$(dirname "$t")")/$(basename "$t" .sh)"; log=$out/${name//\//_}.log
		timeout 1200 bash "$t" >"$log" 2>&1; record "$name" $? "$log"
	done
done

[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed[@]}"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
