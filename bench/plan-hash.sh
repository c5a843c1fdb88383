#!/bin/sh
# bench/plan-hash.sh - hashing a big context: graphbuild's hasher against
# `git status` (warm: everything in the stat cache / git index) and
# `xxhsum -H2` (cold: no stat cache, files in the page cache).
#
# Generates bench/out/ctx once: 100,000 files in 100 x 10 directories,
# ~1 GB, deterministic (seeded PRNG): mostly 1-6 KB files plus 200 files of
# 2-5 MB. The git repository lives outside the tree (bench/out/ctx.git) so
# neither side walks it. Runs each command RUNS times (default 5) and prints
# medians of wall time and peak RSS as a markdown table.
#
# usage: bench/plan-hash.sh [RUNS]      (from anywhere; needs python3, git, xxhsum)
set -eu
cd "$(dirname "$0")/.."
RUNS=${1:-5}
OUT=bench/out
CTX=$OUT/ctx
mkdir -p "$OUT"

command -v xxhsum >/dev/null || { echo "need xxhsum (apt-get install -y xxhash)" >&2; exit 2; }

# ---- the hasher driver: the unit test program's --bench mode ----
BIN=build/release/test_hash
if ! { premake4 --file=premake5.lua gmake >/dev/null 2>&1 && make -C build config=release test_hash >/dev/null 2>&1; }; then
	echo "# premake build failed; building the driver standalone" >&2
	BIN=$OUT/test_hash
	gcc -std=gnu11 -O2 -Iinclude $(pkg-config --cflags libuv libxxhash) \
		tests/unit/hash.c engine/hash.c engine/ignore.c engine/util.c \
		-o "$BIN" $(pkg-config --libs libuv libxxhash)
fi

# ---- the context ----
if [ ! -f "$OUT/ctx.complete" ]; then
	rm -rf "$CTX" "$OUT/ctx.git"
	python3 - "$CTX" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20240501)
n = 0
total = 0
for a in range(100):
    for b in range(10):
        d = os.path.join(root, "pkg%02d" % a, "mod%d" % b)
        os.makedirs(d)
        for c in range(100):
            if n % 500 == 7:
                size = rng.randrange(2 << 20, 5 << 20)
            else:
                size = rng.randrange(1024, 6144)
            with open(os.path.join(d, "f%03d.dat" % c), "wb") as f:
                f.write(rng.randbytes(size))
            n += 1
            total += size
print("# generated %d files, %.1f MB" % (n, total / 1e6), file=sys.stderr)
EOF
	git --git-dir="$OUT/ctx.git" --work-tree="$CTX" init -q
	git --git-dir="$OUT/ctx.git" --work-tree="$CTX" add -A 2>/dev/null
	git --git-dir="$OUT/ctx.git" --work-tree="$CTX" -c user.name=bench -c user.email=bench@localhost \
		commit -qm ctx 2>/dev/null
	touch "$OUT/ctx.complete"
	sleep 2 # past the racily-clean window of both git and the stat cache
fi

# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# runs "$@" RUNS times; prints "median_ms median_rss_kb"
measure() {
	: >"$OUT/ms" ; : >"$OUT/rss"
	i=0
	while [ $i -lt "$RUNS" ]; do
		/usr/bin/time -f "%e %M" -o "$OUT/time" "$@" >/dev/null
		awk '{print $1 * 1000}' "$OUT/time" >>"$OUT/ms"
		awk '{print $2}' "$OUT/time" >>"$OUT/rss"
		i=$((i + 1))
	done
	echo "$(median <"$OUT/ms") $(median <"$OUT/rss")"
}

GIT="git --git-dir=$OUT/ctx.git --work-tree=$CTX"
XX="find $CTX -type f -print0 | xargs -0 xxhsum -H2"

# page cache and git index warm
find "$CTX" -type f -print0 | xargs -0 cat >/dev/null
$GIT status --porcelain >/dev/null

# cold: no stat cache (every file read and hashed)
set -- $(measure "$BIN" --bench "$CTX"); hc_ms=$1 hc_rss=$2
set -- $(measure sh -c "$XX"); xx_ms=$1 xx_rss=$2

# warm: stat cache filled once, then nothing changes
rm -f "$OUT/statcache"
"$BIN" --bench "$CTX" --cache "$OUT/statcache" >/dev/null
sleep 1
"$BIN" --bench "$CTX" --cache "$OUT/statcache" >/dev/null
set -- $(measure "$BIN" --bench "$CTX" --cache "$OUT/statcache"); hw_ms=$1 hw_rss=$2
set -- $(measure $GIT status --porcelain); gs_ms=$1 gs_rss=$2

echo "# one warm run: $("$BIN" --bench "$CTX" --cache "$OUT/statcache")"
echo "# $(nproc) cores; wall times are medians of $RUNS runs (/usr/bin/time, 10 ms resolution)"
echo
echo "| case | graphbuild ms | reference | reference ms | ratio | graphbuild RSS MB | reference RSS MB |"
echo "|---|---|---|---|---|---|---|"
awk -v a="$hw_ms" -v b="$gs_ms" -v ra="$hw_rss" -v rb="$gs_rss" 'BEGIN {
	printf "| warm (stat cache) | %d | git status | %d | %.2f | %.1f | %.1f |\n", a, b, (b ? a / b : 0), ra / 1024, rb / 1024 }'
awk -v a="$hc_ms" -v b="$xx_ms" -v ra="$hc_rss" -v rb="$xx_rss" 'BEGIN {
	printf "| cold (no cache) | %d | xxhsum -H2 | %d | %.2f | %.1f | %.1f |\n", a, b, (b ? a / b : 0), ra / 1024, rb / 1024 }'

# ---- the whole `graphbuild plan` (load, walk, keys, plan) on the same tree ----
GB=${GB_BIN:-build/release/graphbuild}
if [ -x "$GB" ]; then
	P=$OUT/planstack
	mkdir -p "$P"
	printf 'x' >"$P/base.tar"
	cat >"$P/stack.lua" <<'LUA'
image "big" { from = rootfs { tar = "base.tar" }, context = "../ctx", copy { ".", to = "/ctx/" } }
LUA
	plan() { DOCKER_HOST=unix:///nonexistent/gb.sock "$GB" -C "$P" plan --json; }
	# cold: no stat cache before each run
	set -- $(measure sh -c "rm -f $P/.graphbuild/statcache; DOCKER_HOST=unix:///nonexistent/gb.sock $GB -C $P plan --json"); pc_ms=$1 pc_rss=$2
	plan >/dev/null; sleep 1; plan >/dev/null
	set -- $(measure env DOCKER_HOST=unix:///nonexistent/gb.sock "$GB" -C "$P" plan --json); pw_ms=$1 pw_rss=$2
	awk -v a="$pw_ms" -v b="$gs_ms" -v ra="$pw_rss" -v rb="$gs_rss" 'BEGIN {
		printf "| `graphbuild plan`, warm | %d | git status | %d | %.2f | %.1f | %.1f |\n", a, b, (b ? a / b : 0), ra / 1024, rb / 1024 }'
	awk -v a="$pc_ms" -v b="$xx_ms" -v ra="$pc_rss" -v rb="$xx_rss" 'BEGIN {
		printf "| `graphbuild plan`, cold | %d | xxhsum -H2 | %d | %.2f | %.1f | %.1f |\n", a, b, (b ? a / b : 0), ra / 1024, rb / 1024 }'
fi
