#!/usr/bin/env bash
# bench/build.sh - `graphbuild build` side by side with its peers, in one run
# against one private engine (tests/lib/engine.sh, /tmp/gbbench-build):
#   1. no-change `build` of a 10-node graph (a busybox rootfs, 9 images of a
#      few run/copy/env steps): wall time, target <= 50 ms;
#   2. six independent images each `run "sleep 2"` with `build -j 6`, against
#      building one of them alone (fresh keys every run: --set rep=...),
#      target <= 1.25x;
#   3. the cost of one `run "true"` step: (an image of 1+K run steps - one of
#      1 run step) / K, against the same create/start/wait/commit/remove
#      requests sent by `curl --unix-socket` (one curl per chain, --next),
#      measured the same way, target <= 1.2x;
#   4. one file changed in a 100,000-file, ~1.3 GB context (bench/out/ctx,
#      hard-linked; generated like bench/plan-hash.sh if absent): a two-stage
#      stack rebuilds the last stage only, against `docker build` (classic
#      builder, DOCKER_BUILDKIT=0) of the equivalent two-stage Dockerfile,
#      which uploads the whole context. Bytes sent to the engine are counted
#      in one extra run of each through a counting unix-socket proxy (not in
#      the timed runs).
# RUNS runs each (default 5), medians; a markdown table on stdout and in
# bench/out/build.md.
# usage: bench/build.sh [RUNS]     (as root: it starts its own dockerd)
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
RUNS=${1:-5}
K=${K:-10}                       # extra run steps in scenario 3
GB=${GB:-$top/build/release/graphbuild}
ENG=/tmp/gbbench-build
w=/tmp/gbbench-build-work
. tests/lib/engine.sh
[ -x "$GB" ] || { echo "no graphbuild at $GB (bash scripts/setup.sh)" >&2; exit 2; }
for c in docker curl python3; do
	command -v $c >/dev/null || { echo "need $c" >&2; exit 2; }
done

t_start=$(date +%s)
# a fresh engine every run (engine_stop keeps the data root): images built by
# an earlier run would turn builds into reuses
wipe_engine() {
	engine_stop "$ENG" >/dev/null 2>&1
	if ! [ -S "$ENG/docker.sock" ] && ! grep -q " $ENG/" /proc/self/mountinfo; then rm -rf "$ENG"; fi
}
wipe_engine
rm -rf "$w"
mkdir -p "$w" bench/out
engine_start "$ENG" gbbb0 172.31.246.1/24 >/dev/null || exit 1
export DOCKER_API_VERSION=1.41 NO_COLOR=1
SOCK=${DOCKER_HOST#unix://}
API=http://localhost/v1.41
proxy_pid=
cleanup() {
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
	wipe_engine
	rm -rf "$w"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $*" >&2; }
die() { echo "bench/build.sh: $*" >&2; exit 1; }
now() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f\n", (b - a) / 1e6 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# met A OP B: "met" or "MISSED"
met() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? a <= b : a < b; print ok ? "met" : "**MISSED**" }'; }
# gb DIR ARGS...: graphbuild in DIR, output to DIR/out (kept for checks)
gb() { local d=$1; shift; (cd "$d" && "$GB" "$@" >"$d/out" 2>&1); }
# tag_node DIR NODE REF: tags NODE's image graphbuild-cache:<key> as REF (the
# <project>/<name> tag is not there when the key was first built by another project)
tag_node() {
	local key
	key=$(cd "$1" && "$GB" plan --json | python3 -c 'import json, sys
print([i["key"] for i in json.load(sys.stdin)["images"] if i["name"] == sys.argv[1]][0])' "$2") &&
		docker tag "graphbuild-cache:$key" "$3" >/dev/null
}

if [ -s /tmp/gb-busybox.tar ]; then
	cp /tmp/gb-busybox.tar "$w/base.tar"
else
	bash tests/lib/busybox-rootfs.sh "$w/base.tar" >/dev/null 2>&1 || die "busybox rootfs failed"
fi

# ---- the counting proxy: CLIENT_SOCK -> engine, client-to-engine bytes
# summed over every connection into COUNT_FILE (rewritten as they close) ----
cat >"$w/proxy.py" <<'EOF'
import os, socket, sys, threading
listen, target, count = sys.argv[1:4]
total = [0]
lock = threading.Lock()
def pump(a, b, up):
    try:
        while True:
            d = a.recv(1 << 20)
            if not d:
                break
            b.sendall(d)
            if up:
                with lock:
                    total[0] += len(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    if up:
        with lock:
            with open(count + ".tmp", "w") as f:
                f.write("%d\n" % total[0])
            os.replace(count + ".tmp", count)
def serve(c):
    s = socket.socket(socket.AF_UNIX)
    s.connect(target)
    t = threading.Thread(target=pump, args=(s, c, False), daemon=True)
    t.start()
    pump(c, s, True)
    t.join()
    c.close(); s.close()
l = socket.socket(socket.AF_UNIX)
l.bind(listen)
l.listen(64)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
# counted CMD...: runs CMD with DOCKER_HOST through the proxy; prints bytes sent
counted() {
	local ps=$w/proxy.sock cnt=$w/proxy.count i
	rm -f "$ps" "$cnt"
	python3 "$w/proxy.py" "$ps" "$SOCK" "$cnt" &
	proxy_pid=$!
	for ((i = 0; i < 100; i++)); do [ -S "$ps" ] && break; sleep 0.05; done
	DOCKER_HOST=unix://$ps "$@" >"$w/counted.out" 2>&1 || { kill "$proxy_pid"; proxy_pid=; die "counted run failed: $(tail -3 "$w/counted.out")"; }
	sleep 0.3 # the last connection's close
	kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null; proxy_pid=
	cat "$cnt" 2>/dev/null || echo 0
}

# ================= 1. no-change build of a 10-node graph =================
log "1/4 no-change build of a 10-node graph"
d=$w/g10
mkdir -p "$d"
cp "$w/base.tar" "$d/base.tar"
echo "hello" >"$d/hello.txt"
cat >"$d/stack.lua" <<'EOF'
project "gbbg10"
local base = image "base" { from = rootfs { tar = "base.tar" }, env = { LANG = "C" } }
local l1 = image "l1" { from = base, run "echo 1 > /l1", env { A = "1" } }
local l2 = image "l2" { from = l1, run "echo 2 > /l2" }
local l3 = image "l3" { from = base, workdir "/w", copy "hello.txt" }
image "l4" { from = l2, workdir "/w", run "echo 4 > f", cmd = { "sh" } }
image "l5" { from = l2, run "echo 5 > /l5", run "echo 55 >> /l5" }
image "l6" { from = l3, run "cat hello.txt > /l6" }
image "l7" { from = l3, copy { from = l2, "/l2", to = "/x/" } }
image "l8" { from = l1, user "nobody", cmd = { "sh" } }
EOF
gb "$d" build || die "10-node build failed: $(tail -5 "$d/out")"
grep -q "10 built" "$d/out" || log "odd: first build of the 10-node graph (a fresh engine): $(tail -1 "$d/out")"
sleep 1 # past the stat cache's racily-clean window
gb "$d" build || die "no-change build failed"
nc_ms=$(for i in $(seq "$RUNS"); do
	t=$(now); gb "$d" build; ms_since "$t"
	grep -q "nothing to build" "$d/out" || log "odd: no-change build did something: $(tail -1 "$d/out")"
done | median)
log "   no-change build: ${nc_ms} ms"

# raw TAG N [CMD [OUT]]: N chained steps running CMD (default true), each
# create/start/wait/commit/remove, sent by one curl (--next) to the engine
raw() {
	local tag=$1 n=$2 cmd=${3:-true} out=${4:-$w/raw.out} img=gbbench-raw:base i c args=()
	for ((i = 1; i <= n; i++)); do
		c=gbraw-$tag-$i
		[ $i -gt 1 ] && args+=(--next)
		args+=(--unix-socket "$SOCK" -X POST -H 'Content-Type: application/json'
			-d "{\"Image\":\"$img\",\"Cmd\":[\"/bin/sh\",\"-c\",\"$cmd\"],\"Entrypoint\":[],\"Env\":[\"GBBENCH=$tag\"]}"
			"$API/containers/create?name=$c"
			--next --unix-socket "$SOCK" -X POST "$API/containers/$c/start"
			--next --unix-socket "$SOCK" -X POST "$API/containers/$c/wait"
			--next --unix-socket "$SOCK" -X POST "$API/commit?container=$c&repo=gbbench-raw&tag=$tag-$i"
			--next --unix-socket "$SOCK" -X DELETE "$API/containers/$c?force=1")
		img=gbbench-raw:$tag-$i
	done
	curl -sS "${args[@]}" >"$out" 2>&1
}
# ok0 OUT N: the N waits in OUT all said exit 0
ok0() { [ "$(grep -o '"StatusCode":0' "$1" | wc -l)" = "$2" ]; }

# ================= 2. six parallel `sleep 2` images vs one =================
log "2/4 six independent run \"sleep 2\" images, -j 6, against one alone"
d=$w/par
mkdir -p "$d"
cp "$w/base.tar" "$d/base.tar"
cat >"$d/stack.lua" <<'EOF'
project "gbbpar"
local base = image "base" { from = rootfs { tar = "base.tar" } }
for i = 1, 6 do
  image ("p" .. i) { from = base, env { GBBENCH = (vars.rep or "0") .. "-" .. i }, run "sleep 2" }
end
EOF
gb "$d" build -j 6 base || die "parallel stack: base failed: $(tail -5 "$d/out")"
tag_node "$d" base gbbench-raw:base || die "cannot tag the base image"
: >"$w/par1" ; : >"$w/par6"; : >"$w/rpar1" ; : >"$w/rpar6"
for i in $(seq "$RUNS"); do
	# the same through curl: what the engine itself allows on this machine
	t=$(now); raw one$i 1 "sleep 2"; ms_since "$t" >>"$w/rpar1"
	ok0 "$w/raw.out" 1 || die "raw sleep chain: $(tail -3 "$w/raw.out")"
	t=$(now); pids=
	for j in 1 2 3 4 5 6; do raw six$i-$j 1 "sleep 2" "$w/raw$j.out" & pids="$pids $!"; done
	wait $pids; ms_since "$t" >>"$w/rpar6"
	for j in 1 2 3 4 5 6; do ok0 "$w/raw$j.out" 1 || die "raw sleep chain $j: $(tail -3 "$w/raw$j.out")"; done
	t=$(now); gb "$d" build -j 6 --set rep=one$i p1; ms_since "$t" >>"$w/par1"
	grep -q "1 built" "$d/out" || die "one image: $(tail -3 "$d/out")"
	t=$(now); gb "$d" build -j 6 --set rep=six$i; ms_since "$t" >>"$w/par6"
	grep -q "6 built" "$d/out" || die "six images: $(tail -3 "$d/out")"
done
p1_ms=$(median <"$w/par1"); p6_ms=$(median <"$w/par6")
rp1_ms=$(median <"$w/rpar1"); rp6_ms=$(median <"$w/rpar6")
log "   graphbuild: one alone ${p1_ms} ms, six at -j 6 ${p6_ms} ms"
log "   curl:       one chain ${rp1_ms} ms, six in parallel ${rp6_ms} ms"

# ================= 3. per-step overhead against raw curl =================
log "3/4 one run \"true\" step: graphbuild against curl (1 vs $((K + 1)) steps)"
d=$w/step
mkdir -p "$d"
cp "$w/base.tar" "$d/base.tar"
cat >"$d/stack.lua" <<'EOF'
project "gbbstep"
local base = image "base" { from = rootfs { tar = "base.tar" } }
local s = { from = base, env { GBBENCH = vars.rep or "0" } }
for i = 1, tonumber(vars.n or "1") do s[#s + 1] = run "true" end
image "s" (s)
EOF
gb "$d" build base || die "step stack: base failed: $(tail -5 "$d/out")"
# check the raw chain once: every wait says 0, every commit made an image
raw check 2
ok0 "$w/raw.out" 2 && [ "$(grep -c 'sha256:' "$w/raw.out")" = 2 ] ||
	die "raw curl chain failed: $(cat "$w/raw.out")"
: >"$w/g1"; : >"$w/gk"; : >"$w/r1"; : >"$w/rk"
for i in $(seq "$RUNS"); do
	t=$(now); gb "$d" build --set rep=a$i --set n=1; ms_since "$t" >>"$w/g1"
	grep -q "1 built" "$d/out" || die "1-step build: $(tail -3 "$d/out")"
	t=$(now); gb "$d" build --set rep=b$i --set n=$((K + 1)); ms_since "$t" >>"$w/gk"
	grep -q "1 built" "$d/out" || die "$((K + 1))-step build: $(tail -3 "$d/out")"
	t=$(now); raw a$i 1; ms_since "$t" >>"$w/r1"
	t=$(now); raw b$i $((K + 1)); ms_since "$t" >>"$w/rk"
	ok0 "$w/raw.out" $((K + 1)) || die "raw chain: $(tail -3 "$w/raw.out")"
done
g1=$(median <"$w/g1"); gk=$(median <"$w/gk"); r1=$(median <"$w/r1"); rk=$(median <"$w/rk")
gstep=$(awk -v a="$gk" -v b="$g1" -v k="$K" 'BEGIN { printf "%.1f", (a - b) / k }')
rstep=$(awk -v a="$rk" -v b="$r1" -v k="$K" 'BEGIN { printf "%.1f", (a - b) / k }')
log "   graphbuild 1 step ${g1} ms, $((K + 1)) steps ${gk} ms: ${gstep} ms/step"
log "   curl       1 step ${r1} ms, $((K + 1)) steps ${rk} ms: ${rstep} ms/step"

# ================= 4. one file changed in a 100,000-file context =================
log "4/4 one file changed in a 100,000-file context: graphbuild against docker build"
if [ -f bench/out/ctx.complete ] && cp -al bench/out/ctx "$w/ctx" 2>/dev/null; then
	: # hard links: a changed file is replaced (mv), never written in place
else
	rm -rf "$w/ctx"
	log "   generating the context (as bench/plan-hash.sh does)"
	python3 - "$w/ctx" <<'EOF' || die "context generation failed"
import os, random, sys
root = sys.argv[1]
rng = random.Random(20240501)
n = 0
for a in range(100):
    for b in range(10):
        d = os.path.join(root, "pkg%02d" % a, "mod%d" % b)
        os.makedirs(d)
        for c in range(100):
            size = rng.randrange(2 << 20, 5 << 20) if n % 500 == 7 else rng.randrange(1024, 6144)
            with open(os.path.join(d, "f%03d.dat" % c), "wb") as f:
                f.write(rng.randbytes(size))
            n += 1
EOF
fi
nfiles=$(find "$w/ctx" -type f | wc -l)
ctx_bytes=$(find "$w/ctx" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
d=$w/ctxstack
mkdir -p "$d"
cp "$w/base.tar" "$d/base.tar"
cat >"$d/stack.lua" <<'EOF'
project "gbbctx"
local base = image "base" { from = rootfs { tar = "base.tar" } }
local deps = image "deps" { from = base, context = "../ctx", copy { "pkg00/", to = "/deps/" } }
image "app" { from = deps, context = "../ctx", copy { "pkg01/mod1/", to = "/app/" } }
EOF
cat >"$w/Dockerfile" <<'EOF'
FROM gbbench-bb:latest AS deps
COPY pkg00/ /deps/
FROM deps
COPY pkg01/mod1/ /app/
EOF
CHANGED=pkg01/mod1/f001.dat
sel_bytes=$(find "$w/ctx/pkg01/mod1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
sel_files=$(find "$w/ctx/pkg01/mod1" -type f | wc -l)
dbuild() { DOCKER_BUILDKIT=0 docker build -f "$w/Dockerfile" -t gbbench-dctx:latest "$w/ctx"; }
# change REP: new content for CHANGED, same size class, through a new inode
change() {
	head -c $((3000 + $1)) /dev/urandom >"$w/ctx/$CHANGED.new" && mv "$w/ctx/$CHANGED.new" "$w/ctx/$CHANGED"
}
find "$w/ctx" -type f -print0 | xargs -0 cat >/dev/null # page cache warm for both
gb "$d" build || die "context stack build failed: $(tail -5 "$d/out")"
tag_node "$d" base gbbench-bb:latest || die "cannot tag the base image"
dbuild >"$w/d.out" 2>&1 || die "docker build failed: $(tail -5 "$w/d.out")"
sleep 1
gb "$d" build || die "context stack rebuild failed"
: >"$w/c_gb"; : >"$w/c_dk"
for i in $(seq "$RUNS"); do
	change "$i"
	t=$(now); gb "$d" build; ms_since "$t" >>"$w/c_gb"
	grep -q "1 built" "$d/out" || die "changed-file build did not build exactly one stage: $(tail -3 "$d/out")"
	grep -Eq '^\[deps( step |\] built)' "$d/out" && log "odd: deps was rebuilt: $(grep '^\[deps' "$d/out" | head -2)"
	t=$(now); dbuild >"$w/d.out" 2>&1 || die "docker build failed: $(tail -5 "$w/d.out")"; ms_since "$t" >>"$w/c_dk"
	[ "$(grep -c 'Using cache' "$w/d.out")" = 1 ] || log "odd: docker build cache use: $(grep -c 'Using cache' "$w/d.out") steps"
done
c_gb=$(median <"$w/c_gb"); c_dk=$(median <"$w/c_dk")
dk_ctx_msg=$(grep -o 'Sending build context to Docker daemon *[0-9.]*[kMG]*B' "$w/d.out" | tail -1 | sed 's/.*daemon *//')
# bytes: one more change, each side once through the counting proxy
change $((RUNS + 1))
gb_sent=$(counted sh -c "cd '$d' && '$GB' build --progress plain")
grep -q "1 built" "$w/counted.out" || die "counted graphbuild run: $(tail -3 "$w/counted.out")"
gb_built=$(grep -o '^\[[a-z0-9-]*\] built' "$w/counted.out" | sed 's/^\[//; s/\] built//' | tr '\n' ' ')
dk_sent=$(counted dbuild)
log "   graphbuild ${c_gb} ms (sent ${gb_sent} B; stage selection ${sel_files} files, ${sel_bytes} B; built: ${gb_built})"
log "   docker build ${c_dk} ms (sent ${dk_sent} B; context ${nfiles} files, ${ctx_bytes} B; CLI says ${dk_ctx_msg})"

# ================= the table =================
kb() { awk -v b="$1" 'BEGIN { printf "%.0f KB", b / 1024 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }
took=$(($(date +%s) - t_start))
{
	echo "# bench/build.sh: $(date -u +%Y-%m-%d), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg),"
	echo "# $RUNS runs each, medians; engine $(docker version --format '{{.Server.Version}}' 2>/dev/null); script took ${took} s"
	echo
	echo "| scenario | graphbuild | peer | ratio | target |"
	echo "|---|---|---|---|---|"
	echo "| no-change \`build\` of a 10-node graph (busybox rootfs + 9 images) | ${nc_ms} ms | — | — | <= 50 ms: $(met "$nc_ms" "<=" 50) |"
	echo "| 6 independent images, each \`run \"sleep 2\"\`, \`build -j 6\` (fresh keys) | ${p6_ms} ms (six) | ${p1_ms} ms (one alone) | $(r "$p6_ms" "$p1_ms")x | <= 1.25x: $(met "$(r "$p6_ms" "$p1_ms")" "<=" 1.25) |"
	echo "| the same 6 vs 1 as raw curl chains (create/start/wait/commit/remove) in parallel: what the engine allows here | — | ${rp6_ms} ms (six) / ${rp1_ms} ms (one) | $(r "$rp6_ms" "$rp1_ms")x | reference for the row above |"
	echo "| one \`run \"true\"\` step: ($((K + 1)) steps - 1 step) / $K | ${gstep} ms/step (${g1} / ${gk} ms) | ${rstep} ms/step: curl create/start/wait/commit/remove (${r1} / ${rk} ms) | $(r "$gstep" "$rstep")x | <= 1.2x: $(met "$(r "$gstep" "$rstep")" "<=" 1.2) |"
	echo "| 1 file changed in a ${nfiles}-file, $(mb "$ctx_bytes") context: rebuild the 2nd of 2 stages | ${c_gb} ms, sent $(kb "$gb_sent") (stage selection: ${sel_files} files, $(kb "$sel_bytes")) | ${c_dk} ms: \`docker build\` (DOCKER_BUILDKIT=0), sent $(mb "$dk_sent") | $(r "$c_gb" "$c_dk")x | one stage rebuilt, sends ~ its selection: $(awk -v g="$gb_sent" -v s="$sel_bytes" 'BEGIN { print (g < 2 * s + 262144) ? "met" : "**MISSED**" }') |"
} >bench/out/build.md
echo
cat bench/out/build.md
