#!/usr/bin/env bash
# bench/up.sh - graphbuild up side by side with Debian's docker-compose 1.29,
# in one run against the same engine (DOCKER_HOST, or a private one):
#   1. no-op `up` of a running 5-service stack (compose: `up -d`);
#   2. time until every service is ready for a 3-level chain a <- b <- c
#      (healthy conditions) whose services become ready 1 s after start;
#      graphbuild probes tcp, compose uses a healthcheck with a 1 s interval
#      and waits for `healthy` of the last one by polling inspect (50 ms);
#      the bound is 1.15 x (3 s + the chain's start cost), the start cost
#      being graphbuild's `up --no-wait` of the same chain;
#   3. graphbuild's peak RSS during that `up` (/usr/bin/time -f %M).
# RUNS runs each (default 5), medians; a markdown table on stdout.
# usage: bench/up.sh [RUNS]
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
RUNS=${1:-5}
GB=${GB:-$top/build/release/graphbuild}
. tests/lib/engine.sh
command -v docker-compose >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1
command -v docker-compose >/dev/null || { echo "need docker-compose" >&2; exit 2; }
[ -x "$GB" ] || { echo "no graphbuild at $GB (build it first)" >&2; exit 2; }

w=$(mktemp -d /tmp/gbbench-up.XXXXXX)
own=
if [ -z "${DOCKER_HOST:-}" ]; then
	own=$w/engine
	engine_start "$own" gbbu0 172.31.237.1/24 >/dev/null || exit 1
fi
export DOCKER_API_VERSION=1.41 COMPOSE_API_VERSION=1.41 NO_COLOR=1
cleanup() {
	(cd "$w/gb5" 2>/dev/null && "$GB" down -t 0 >/dev/null 2>&1)
	(cd "$w/gb3" 2>/dev/null && "$GB" down -t 0 >/dev/null 2>&1)
	(cd "$w/dc5" 2>/dev/null && docker-compose down -t 0 >/dev/null 2>&1)
	(cd "$w/dc3" 2>/dev/null && docker-compose down -t 0 >/dev/null 2>&1)
	[ -n "$own" ] && engine_stop "$own" >/dev/null 2>&1
	rm -rf "$w"
}
trap cleanup EXIT

bash tests/lib/busybox-rootfs.sh "$w/base.tar" >/dev/null 2>&1 || exit 1
docker import "$w/base.tar" gbbench-bb:latest >/dev/null || exit 1

now() { date +%s%N; }
ms_since() { echo $((($(now) - $1) / 1000000)); }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---- the stacks ----
mkdir -p "$w/gb5" "$w/gb3" "$w/dc5" "$w/dc3"
cp "$w/base.tar" "$w/gb5/base.tar"
cp "$w/base.tar" "$w/gb3/base.tar"
{
	echo 'project "gbb5"'
	echo 'local base = image "base" { from = rootfs { tar = "base.tar" } }'
	for i in 1 2 3 4 5; do echo "service \"s$i\" { image = base, command = \"exec sleep 100000\", stop_timeout = 0 }"; done
} >"$w/gb5/stack.lua"
{
	echo 'version: "2.4"'
	echo 'services:'
	for i in 1 2 3 4 5; do printf '  s%d:\n    image: gbbench-bb:latest\n    command: ["sleep", "100000"]\n    stop_grace_period: 0s\n' $i; done
} >"$w/dc5/docker-compose.yml"
READY='sleep 1; exec nc -ll -p 7 -e true'
cat >"$w/gb3/stack.lua" <<EOF
project "gbb3"
local base = image "base" { from = rootfs { tar = "base.tar" } }
service "a" { image = base, command = "$READY", stop_timeout = 0, health = tcp(7) }
service "b" { image = base, command = "$READY", stop_timeout = 0, health = tcp(7), depends_on = { a = "healthy" } }
service "c" { image = base, command = "$READY", stop_timeout = 0, health = tcp(7), depends_on = { b = "healthy" } }
EOF
hc='    healthcheck: { test: ["CMD-SHELL", "nc -w1 127.0.0.1 7 </dev/null"], interval: 1s, timeout: 1s, retries: 30 }'
{
	echo 'version: "2.4"'
	echo 'services:'
	printf '  a:\n    image: gbbench-bb:latest\n    command: ["sh", "-c", "%s"]\n    stop_grace_period: 0s\n%s\n' "$READY" "$hc"
	printf '  b:\n    image: gbbench-bb:latest\n    command: ["sh", "-c", "%s"]\n    stop_grace_period: 0s\n%s\n    depends_on: { a: { condition: service_healthy } }\n' "$READY" "$hc"
	printf '  c:\n    image: gbbench-bb:latest\n    command: ["sh", "-c", "%s"]\n    stop_grace_period: 0s\n%s\n    depends_on: { b: { condition: service_healthy } }\n' "$READY" "$hc"
} >"$w/dc3/docker-compose.yml"

# ---- 1. no-op up ----
(cd "$w/gb5" && "$GB" up >/dev/null 2>&1) || { echo "graphbuild up failed" >&2; exit 1; }
(cd "$w/dc5" && docker-compose -p dcb5 up -d >/dev/null 2>&1) || { echo "docker-compose up failed" >&2; exit 1; }
gb_noop=$(for i in $(seq "$RUNS"); do t=$(now); (cd "$w/gb5" && "$GB" up >/dev/null 2>&1); ms_since "$t"; done | median)
dc_noop=$(for i in $(seq "$RUNS"); do t=$(now); (cd "$w/dc5" && docker-compose -p dcb5 up -d >/dev/null 2>&1); ms_since "$t"; done | median)
(cd "$w/gb5" && "$GB" down -t 0 >/dev/null 2>&1)
(cd "$w/dc5" && docker-compose -p dcb5 down -t 0 >/dev/null 2>&1)

# ---- 2. a 3-level chain, ready 1 s after start ----
(cd "$w/gb3" && "$GB" build >/dev/null 2>&1)
gb_nowait=$(for i in $(seq "$RUNS"); do
	(cd "$w/gb3" && "$GB" down -t 0 >/dev/null 2>&1)
	t=$(now); (cd "$w/gb3" && "$GB" up --no-wait >/dev/null 2>&1); ms_since "$t"
done | median)
: >"$w/rss"
gb_chain=$(for i in $(seq "$RUNS"); do
	(cd "$w/gb3" && "$GB" down -t 0 >/dev/null 2>&1)
	t=$(now); (cd "$w/gb3" && /usr/bin/time -a -o "$w/rss" -f %M "$GB" up >/dev/null 2>&1); ms_since "$t"
done | median)
(cd "$w/gb3" && "$GB" down -t 0 >/dev/null 2>&1)
rss=$(median <"$w/rss")
dc_chain=$(for i in $(seq "$RUNS"); do
	(cd "$w/dc3" && docker-compose -p dcb3 down -t 0 >/dev/null 2>&1)
	t=$(now)
	(cd "$w/dc3" && docker-compose -p dcb3 up -d >/dev/null 2>&1)
	until [ "$(docker inspect -f '{{.State.Health.Status}}' dcb3_c_1 2>/dev/null)" = healthy ]; do sleep 0.05; done
	ms_since "$t"
done | median)
(cd "$w/dc3" && docker-compose -p dcb3 down -t 0 >/dev/null 2>&1)

bound=$(awk -v s="$gb_nowait" 'BEGIN { printf "%d", 1.15 * (3000 + s) }')
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "| measure ($RUNS runs, medians) | graphbuild | docker-compose 1.29 | ratio | target |"
echo "|---|---|---|---|---|"
echo "| no-op \`up\` of a running 5-service stack | ${gb_noop} ms | ${dc_noop} ms | $(r "$gb_noop" "$dc_noop")x | <= 50 ms and <= 0.1x |"
echo "| 3-level chain, each ready 1 s after start: until all ready | ${gb_chain} ms | ${dc_chain} ms | $(r "$gb_chain" "$dc_chain")x | <= ${bound} ms (1.15 x (3000 + ${gb_nowait} start cost)), below compose |"
echo "| graphbuild peak RSS during that \`up\` | $((rss / 1024)) MB (${rss} KB) | | | <= 20 MB |"
