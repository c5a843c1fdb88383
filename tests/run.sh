#!/usr/bin/env bash
# run.sh - the whole test suite, from a fresh machine: installs and builds
# (release and ASan+UBSan), starts a private Docker engine (its own socket,
# data root and bridge), makes the busybox base, then runs for each build:
#   unit tests (tests/unit/*.c), golden stacks (tests/stacks/*/),
#   key properties (tests/props/*.sh), integration tests (tests/integration/*.sh).
# Then the integration tests (and the engine-backed unit test) once more on
# each extra engine configuration, release build, each engine started through
# tests/lib/engine.sh: "vfs" (dockerd --storage-driver vfs) and "podman"
# (rootful podman system service); their names start vfs/ and podman/.
# GB_STORAGE_DRIVER=vfs or GB_ENGINE=podman selects that configuration alone
# (release; every test named vfs/... or podman/...). GB_EXTRA_ENGINES
# (default "vfs podman", "" for none) lists the extra ones of a full run;
# GB_EXTRA_TESTS (default: every integration test but newcomer, which runs
# once per suite; on Podman GB_PODMAN_TESTS) the tests they run, by name
# ("build up").
# Then the fuzz harnesses (tests/fuzz/run.sh, GB_FUZZ_SECONDS each, default 60).
# Prints each block's time ("# time: ..."). Ends with "N passed, M failed";
# exit status 0 only if nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash scripts/setup.sh --asan || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

# One configuration chosen by the caller, or overlay2 (release, asan) + extras.
only=
if [ "${GB_ENGINE:-docker}" = podman ]; then only=podman
elif [ -n "${GB_STORAGE_DRIVER:-}" ]; then only=$GB_STORAGE_DRIVER
fi
configs=${GB_CONFIGS:-"release asan"}
# Both extras run by default (GB_EXTRA_ENGINES="" leaves them out). vfs
# runs every integration test; Podman those of GB_PODMAN_TESTS (default
# below: builds, services, config, compose, Dockerfiles, the jail, ports),
# and every one with GB_ENGINE=podman. Where /proc/sys is read-only (a
# docker-in-docker container) engine.sh gives netavark a writable one of its
# own (docs/remote.md).
extras=${GB_EXTRA_ENGINES-"vfs podman"}
podman_tests=${GB_PODMAN_TESTS-"build compose config dockerfile jail ports up"}
[ -n "$only" ] && configs=release extras=
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
out=$top/tests/out
rm -rf "$out"; mkdir -p "$out"

pass=0; fail=0; failed=()
record() { # name rc logfile
	if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "PASS $1"
	else fail=$((fail + 1)); failed+=("$1"); echo "FAIL $1 (log: $3)"; tail -n 25 "$3" | sed 's/^/    /'; fi
}

# run_files PREFIX FILE...: each test script, named PREFIX/<dir>/<name>.
run_files() {
	local prefix=$1 t name log; shift
	for t in "$@"; do
		[ -f "$t" ] || continue
		name="$prefix/$(basename "$(dirname "$t")")/$(basename "$t" .sh)"; log=$out/${name//\//_}.log
		timeout 1200 bash "$t" >"$log" 2>&1; record "$name" $? "$log"
	done
}
# run_unit PREFIX CFG [NAME...]: the unit test programs of build CFG (all, or NAMEs).
run_unit() {
	local prefix=$1 cfg=$2 t name log; shift 2
	for t in build/$cfg/test_*; do
		[ -x "$t" ] || continue
		[ $# -gt 0 ] && [[ " $* " != *" $(basename "$t") "* ]] && continue
		name="$prefix/unit/$(basename "$t")"; log=$out/${name//\//_}.log
		timeout 600 "$t" >"$log" 2>&1; record "$name" $? "$log"
	done
}
times=()
# engine_for KIND: directory, bridge and CIDR of the suite's engine of KIND.
engine_for() {
	case $1 in
	vfs) echo "/tmp/gbtest-vfs gbtest1 172.31.236.1/24" ;;
	podman) echo "/tmp/gbtest-podman gbtest2 172.31.235.1/24" ;;
	*) echo "${GB_ENGINE_DIR:-/tmp/gbtest-engine} gbtest0 172.31.240.1/24" ;;
	esac
}
started=()
trap 'for e in "${started[@]}"; do engine_stop "$e"; done' EXIT

# The private engine, unless the caller gave one.
. tests/lib/engine.sh
read -r engine_dir br cidr <<<"$(engine_for "${only:-overlay2}")"
if [ -z "${DOCKER_HOST:-}" ]; then
	engine_start "$engine_dir" "$br" "$cidr" || { echo "cannot start a private engine"; echo "0 passed, 1 failed"; exit 1; }
	started+=("$engine_dir")
fi
export GB_BUSYBOX_TAR=$out/busybox.tar
bash tests/lib/busybox-rootfs.sh "$GB_BUSYBOX_TAR" >"$out/busybox.log" 2>&1 || { echo "busybox base failed"; cat "$out/busybox.log"; }

for cfg in $configs; do
	t0=$SECONDS
	prefix=${only:-$cfg}
	export GB_CONFIG=$cfg GB=$top/build/$cfg/graphbuild
	run_unit "$prefix" "$cfg"
	log=$out/$prefix-golden.log
	bash tests/golden.sh >"$log" 2>&1; record "$prefix/golden" $? "$log"
	run_files "$prefix" tests/props/*.sh tests/integration/*.sh
	times+=("${only:-overlay2} $cfg: $((SECONDS - t0)) s")
done
[ -n "$only" ] || engine_stop "$engine_dir" # free the machine for the next engine

# The libFuzzer harnesses (tests/fuzz/): regression inputs, then
# GB_FUZZ_SECONDS (default 60) of fuzzing each; GB_FUZZ_SECONDS=skip leaves
# them out. Full runs only.
if [ -z "$only" ] && [ "${GB_FUZZ_SECONDS:-60}" != skip ]; then
	t0=$SECONDS
	log=$out/fuzz.log
	bash tests/fuzz/run.sh "${GB_FUZZ_SECONDS:-60}" >"$log" 2>&1; record "fuzz" $? "$log"
	grep -E '^(ok|not ok) ' "$log" | sed 's/^/    /'
	times+=("fuzz: $((SECONDS - t0)) s")
fi

# The extra engine configurations: release, the tests that use an engine.
for kind in $extras; do
	t0=$SECONDS
	read -r dir br cidr <<<"$(engine_for "$kind")"
	(
		pass=0 fail=0 failed=() # counted here, added up outside
		case $kind in
		podman) export GB_ENGINE=podman ;;
		*) export GB_STORAGE_DRIVER=$kind ;;
		esac
		unset DOCKER_HOST
		engine_start "$dir" "$br" "$cidr" >"$out/$kind-engine.log" 2>&1 || { cat "$out/$kind-engine.log"; exit 3; }
		trap 'engine_stop "$dir"' EXIT
		export GB_CONFIG=release GB=$top/build/release/graphbuild
		files=()
		for t in tests/integration/*.sh; do
			n=$(basename "$t" .sh)
			if [ -n "${GB_EXTRA_TESTS:-}" ]; then [[ " $GB_EXTRA_TESTS " == *" $n "* ]] || continue
			elif [ "$n" = newcomer ]; then continue # once per suite: it builds real Debian images
			elif [ "$kind" = podman ] && [ -n "$podman_tests" ]; then [[ " $podman_tests " == *" $n "* ]] || continue
			fi
			files+=("$t")
		done
		run_unit "$kind" release test_docker_client
		run_files "$kind" "${files[@]}"
		echo "$pass $fail ${failed[*]}" >"$out/$kind.counts"
	)
	rc=$?
	if [ -f "$out/$kind.counts" ]; then
		read -r p f rest <"$out/$kind.counts"
		pass=$((pass + p)); fail=$((fail + f))
		for n in $rest; do failed+=("$n"); done
	else
		record "$kind/engine" "$rc" "$out/$kind-engine.log"
	fi
	times+=("$kind release: $((SECONDS - t0)) s")
done

printf '# time: %s\n' "${times[@]}"
[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed[@]}"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
