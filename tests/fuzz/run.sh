#!/usr/bin/env bash
# run.sh [SECONDS] - builds every libFuzzer harness in tests/fuzz/*.c with
# clang (-fsanitize=fuzzer,address,undefined; the engine's files compiled
# directly into build/fuzz/, rebuilt when a source is newer), replays each
# harness's regression inputs (tests/fuzz/regress/HARNESS/) and then fuzzes
# it for SECONDS (default 60, or $GB_FUZZ_SECONDS) from its seed corpus
# (tests/fuzz/corpus/HARNESS/, never written to: new inputs go to
# build/fuzz/work/HARNESS/) with its dictionary (tests/fuzz/dict/HARNESS.dict)
# if there is one. Prints "ok N - HARNESS (EXECS execs, RATE exec/s)" or
# "not ok N - HARNESS: ..." with the crashing input's path, and ends with
# "N passed, M failed"; exits 1 if any failed. SECONDS 0: only replay the
# regression inputs and the seed corpus once (a quick check, no fuzzing). GB_FUZZ_ONLY="a b" runs only
# those harnesses; GB_FUZZ_JOBS: parallel compiles (default 2).
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
secs=${1:-${GB_FUZZ_SECONDS:-60}}
out=$top/build/fuzz
mkdir -p "$out/obj" "$out/gen" "$out/work" "$out/crash"
pass=0 fail=0 n=0
# the files harnesses write (state files, archives, stacks) on tmpfs when
# there is one (each write is fsync'ed, as graphbuild's own writes are), in
# a directory of this run's: a crashing harness cannot clean up after itself
base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
TMPDIR=$(mktemp -d "$base/gbfuzz-run.XXXXXX") || { echo "cannot make a temp dir in $base"; exit 1; }
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

CC=${GB_FUZZ_CC:-clang}
pkgs="lua5.4 libcurl libcjson libxxhash libuv libcrypto yaml-0.1"
cflags="-std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
 -Iinclude -I$out/gen -DGRAPHBUILD_LIBDIR=\"$top/stacks\" $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lm"

say() { echo "$*"; }
bail() { echo "not ok 1 - build: $*"; echo "0 passed, 1 failed"; exit 1; }

command -v "$CC" >/dev/null || bail "no $CC (apt-get install clang)"
# Rebuilds go by content, not times (a copied or checked-out tree has
# meaningless mtimes): each output keeps the checksum of what made it.
# stamp FILE...: the checksum of the compiler flags and those files
stamp() { { echo "$CC $cflags $libs"; cat "$@"; } | sha1sum | cut -d' ' -f1; }
# the internal headers too (engine/*_int.h): a struct change recompiles
hdrs=$(ls include/graphbuild/*.h engine/*.h 2>/dev/null)
# the embedded prelude, as premake's prebuild makes it
lua5.4 tools/embed.lua lua/prelude.lua gb_prelude "$out/gen/prelude.new" || bail "embed the prelude"
cmp -s "$out/gen/prelude.new" "$out/gen/prelude.inc" || mv "$out/gen/prelude.new" "$out/gen/prelude.inc"
rm -f "$out/gen/prelude.new"
# engine objects with coverage for the fuzzer (no main)
srcs=$(ls engine/*.c lua/*.c | grep -v '^engine/main\.c$')
pids=() jobs=${GB_FUZZ_JOBS:-2}
for s in $srcs; do
	o=$out/obj/$(echo "${s%.c}" | tr / _).o
	st=$(stamp "$s" $hdrs "$out/gen/prelude.inc")
	if [ ! -f "$o" ] || [ "$(cat "$o.stamp" 2>/dev/null)" != "$st" ]; then
		rm -f "$o.stamp"
		{ $CC $cflags -fsanitize=fuzzer-no-link -c "$s" -o "$o" 2>"$o.log" && echo "$st" >"$o.stamp"; } &
		pids+=($!)
		if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}" || bail "compile $s: $(cat "$o.log")"; pids=("${pids[@]:1}"); fi
	fi
done
for p in "${pids[@]}"; do wait "$p" || bail "compile: $(cat "$out"/obj/*.log)"; done

harnesses=${GB_FUZZ_ONLY:-$(ls tests/fuzz/*.c | xargs -n1 basename | sed 's/\.c$//')}
for h in $harnesses; do
	n=$((n + 1))
	src=tests/fuzz/$h.c bin=$out/$h log=$out/$h.log
	# a harness that includes engine/X.c links every object but X's own
	objs=
	inc=$(sed -n 's|^#include "\.\./\.\./\(engine/[a-z_]*\)\.c".*|\1|p; s|^#include "\.\./\.\./\(lua/[a-z_]*\)\.c".*|\1|p' "$src")
	for o in "$out"/obj/*.o; do
		b=$(basename "$o" .o)
		skip=
		for i in $inc; do [ "$b" = "$(echo "$i" | tr / _)" ] && skip=1; done
		[ -z "$skip" ] && objs="$objs $o"
	done
	st=$(stamp "$src" tests/fuzz/fuzz.h $(for i in $inc; do echo "$i.c"; done) $hdrs "$out/gen/prelude.inc" \
		$(for o in $objs; do echo "$o.stamp"; done))
	if [ ! -x "$bin" ] || [ "$(cat "$bin.stamp" 2>/dev/null)" != "$st" ]; then
		rm -f "$bin.stamp"
		if $CC $cflags -fsanitize=fuzzer -Wno-unused-function "$src" $objs $libs -o "$bin" >"$log" 2>&1; then
			echo "$st" >"$bin.stamp"
		else
			say "not ok $n - $h: does not build (log: $log)"; sed 's/^/#   /' "$log" | head -20
			fail=$((fail + 1)); continue
		fi
	fi
	opts=(-close_fd_mask=3 -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1
	      -artifact_prefix="$out/crash/$h-")
	[ -f "tests/fuzz/dict/$h.dict" ] && opts+=(-dict="tests/fuzz/dict/$h.dict")
	[ -f "tests/fuzz/options/$h" ] && opts+=($(cat "tests/fuzz/options/$h"))
	# 1. every regression input, once, each on its own (all failures named)
	bad=
	: >"$log.regress"
	for r in tests/fuzz/regress/$h/*; do
		[ -f "$r" ] || continue
		if ! "$bin" "${opts[@]}" "$r" >>"$log.regress" 2>&1; then
			bad="$bad $r"
		fi
	done
	if [ -n "$bad" ]; then
		say "not ok $n - $h: regression input fails:$bad (log: $log.regress)"
		grep -E 'ERROR|SUMMARY|fuzz:' "$log.regress" | head -5 | sed 's/^/#   /'
		fail=$((fail + 1)); continue
	fi
	# 2. fuzz from the seeds (a private copy of the corpus grows in work/)
	mkdir -p "$out/work/$h"
	corpus=("$out/work/$h")
	[ -d "tests/fuzz/corpus/$h" ] && corpus+=("tests/fuzz/corpus/$h")
	if [ "$secs" = 0 ]; then
		"$bin" "${opts[@]}" -runs=0 "${corpus[@]}" >"$log" 2>&1
	else
		"$bin" "${opts[@]}" -max_total_time="$secs" "${corpus[@]}" >"$log" 2>&1
	fi
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	if [ $rc = 0 ]; then
		say "ok $n - $h (${execs:-?} execs, ${rate:-?} exec/s)"
		pass=$((pass + 1))
	else
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		say "not ok $n - $h: crash after ${execs:-?} execs; input: ${art:-none written} (log: $log)"
		grep -E 'ERROR:|SUMMARY:|fuzz:|runtime error' "$log" | head -5 | sed 's/^/#   /'
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
