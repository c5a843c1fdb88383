#!/usr/bin/env bash
# bench/compose.sh - issue 3/7's comparison: `graphbuild -f docker-compose.yml up`
# on the user's own, unchanged compose file and Dockerfiles, side by side with
# Debian's docker-compose 1.29 `up -d --build` (classic builder), one private
# engine for both (/tmp/gbbench-compose, bridge gbbc0). The project is shaped
# like the seeds: db, a migrate, web and worker; three Dockerfiles sharing a
# base stage and a dependency stage (seed layer order: deps list, its install,
# then the code), a 5,000-file source tree and 40 MB that .dockerignore keeps
# out (.git, node_modules, logs). Rows:
#   (a) first `up` from nothing (A_RUNS, order of the tools alternating; every
#       image and the classic builder's cache removed before each);
#   (b) `up` with nothing changed (B_RUNS);
#   (c) `up` after appending a comment to one source file (C_RUNS);
#   (d) `up` after adding a line to the dependency list (D_RUNS);
#   bytes: what each tool sends the engine for (c) and (d), counted by a unix
#       socket relay in front of the engine in one extra, untimed round;
#   parse: `plan` of the compose file minus `plan` of its `graphbuild import`
#       (the same graph from stack.lua): what reading YAML + Dockerfiles costs.
# Each tool's `up` returns once every service runs (no health checks here).
# Medians; the table goes to bench/out/compose.md and stdout.
# usage: bench/compose.sh      (A_RUNS=2 B_RUNS=5 C_RUNS=3 D_RUNS=2 P_RUNS=11)
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
GB=${GB:-$top/build/release/graphbuild}
A_RUNS=${A_RUNS:-2} B_RUNS=${B_RUNS:-5} C_RUNS=${C_RUNS:-3} D_RUNS=${D_RUNS:-2} P_RUNS=${P_RUNS:-11}
ENGINE=/tmp/gbbench-compose
out=$top/bench/out/compose.md
. tests/lib/engine.sh
command -v docker-compose >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1
command -v docker-compose >/dev/null || { echo "need docker-compose" >&2; exit 2; }
[ -x "$GB" ] || { echo "no graphbuild at $GB (build it first)" >&2; exit 2; }

w=$(mktemp -d /tmp/gbbench-compose-work.XXXXXX)
engine_start "$ENGINE" gbbc0 172.31.238.1/24 >/dev/null || exit 1
export DOCKER_API_VERSION=1.41 COMPOSE_API_VERSION=1.41 NO_COLOR=1
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
cleanup() {
	[ -n "${relaypid:-}" ] && kill "$relaypid" 2>/dev/null
	(cd "$w/gbside" 2>/dev/null && "$GB" -f docker-compose.yml down -t 0 >/dev/null 2>&1)
	(cd "$w/dcside" 2>/dev/null && docker-compose down -t 0 >/dev/null 2>&1)
	engine_stop "$ENGINE" >/dev/null 2>&1
	rm -rf "$w"
}
trap cleanup EXIT

bash tests/lib/busybox-rootfs.sh "$w/base.tar" >/dev/null 2>&1 || exit 1
docker import "$w/base.tar" gbcb-bb:latest >/dev/null || exit 1

now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

# ---- the project (one copy per tool: the project name is the directory's) ----
p=$w/proj
mkdir -p "$p"
for role in web worker migrate; do
	cat >"$p/Dockerfile.$role" <<-EOF
		FROM gbcb-bb:latest AS base
		RUN mkdir -p /opt && echo base > /opt/base && sleep 2
		WORKDIR /app
		COPY deps.txt .
		RUN sleep 3 && cp deps.txt /opt/deps.installed

		FROM base
		COPY . .
		ENV ROLE=$role
		CMD ["sh", "-c", "exec sleep 100000"]
	EOF
done
printf 'flask==3.0\nredis==5.0\n' >"$p/deps.txt"
python3 - "$p" <<'PY'
import os, sys
p = sys.argv[1]
for d in range(50):
    os.makedirs(f"{p}/src/pkg{d}", exist_ok=True)
    for f in range(100):
        with open(f"{p}/src/pkg{d}/mod{f}.py", "w") as fh:
            fh.write(f"# module {d}.{f}\n" + "x = 1\n" * 40)
for name, n in (("node_modules", 20), (".git/objects", 20)):
    os.makedirs(f"{p}/{name}", exist_ok=True)
    for i in range(n):
        with open(f"{p}/{name}/blob{i}", "wb") as fh:
            fh.write(os.urandom(1 << 20))
with open(f"{p}/build.log", "w") as fh:
    fh.write("log\n" * 1000)
PY
printf '.git\nnode_modules\n*.log\n' >"$p/.dockerignore"
cat >"$p/docker-compose.yml" <<'EOF'
version: "2.4"
services:
  db:
    image: gbcb-bb:latest
    command: ["sleep", "100000"]
    stop_grace_period: 0s
  migrate:
    build: { context: ., dockerfile: Dockerfile.migrate }
    depends_on: [db]
    stop_grace_period: 0s
  web:
    build: { context: ., dockerfile: Dockerfile.web }
    depends_on: [db, migrate]
    stop_grace_period: 0s
  worker:
    build: { context: ., dockerfile: Dockerfile.worker }
    depends_on: [db]
    stop_grace_period: 0s
EOF
cp -a "$p" "$w/gbside"
cp -a "$p" "$w/dcside"

gb_up() { (cd "$w/gbside" && "$GB" -f docker-compose.yml up --progress plain >>"$w/gb.log" 2>&1); }
dc_up() { (cd "$w/dcside" && docker-compose up -d --build >>"$w/dc.log" 2>&1); }
timed() { # FN: ms, or "fail"
	local t0 rc
	t0=$(now); "$1"; rc=$?
	[ $rc = 0 ] && echo $((($(now) - t0) / 1000000)) || echo fail
}
# wipe: both stacks down, every image but the base gone, the builder cache too.
wipe() {
	(cd "$w/gbside" && "$GB" -f docker-compose.yml down -t 0 >/dev/null 2>&1)
	(cd "$w/dcside" && docker-compose down -t 0 >/dev/null 2>&1)
	local base id _
	base=$(docker image inspect -f '{{.Id}}' gbcb-bb:latest)
	for _ in 1 2 3; do # a parent refuses removal while a child lists it: go again
		for id in $(docker images -aq --no-trunc | sort -u); do
			[ "$id" = "$base" ] || docker rmi -f "$id" >/dev/null 2>&1
		done
	done
	docker builder prune -af >/dev/null 2>&1
	rm -rf "$w/gbside/.graphbuild"
}

declare -A t
for ((i = 0; i < A_RUNS; i++)); do
	if [ $((i % 2)) = 0 ]; then order="gb dc"; else order="dc gb"; fi
	for tool in $order; do wipe; t[a_$tool]+="$(timed ${tool}_up) "; done
done
# (b)-(d) with both stacks up
gb_up; dc_up
for ((i = 0; i < B_RUNS; i++)); do for tool in gb dc; do t[b_$tool]+="$(timed ${tool}_up) "; done; done
# edit_round ROW RUNS FILE: RUNS times, for each tool, append a line to its
# copy of FILE and time the `up` that follows.
edit_round() {
	local row=$1 runs=$2 file=$3 i tool d
	for ((i = 0; i < runs; i++)); do
		for tool in gb dc; do
			[ $tool = gb ] && d=$w/gbside || d=$w/dcside
			echo "# edit $row $i" >>"$d/$file"
			t[${row}_$tool]+="$(timed ${tool}_up) "
		done
	done
}
edit_round c "$C_RUNS" src/pkg7/mod3.py
edit_round d "$D_RUNS" deps.txt

# ---- bytes sent to the engine, one untimed round of (c) and (d) each ----
cat >"$w/count.py" <<'PY'
import os, socket, sys, threading
real, mine, countfile = sys.argv[1:4]
lock = threading.Lock(); total = [0]
def pump(a, b, count):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            if count:
                with lock: total[0] += len(d)
            b.sendall(d)
    except OSError: pass
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
def conn(c):
    u = socket.socket(socket.AF_UNIX); u.connect(real)
    threading.Thread(target=pump, args=(u, c, False), daemon=True).start()
    pump(c, u, True)
def report():
    while True:
        threading.Event().wait(0.2)
        with lock: v = total[0]
        with open(countfile + ".tmp", "w") as f: f.write(f"{v}\n")
        os.replace(countfile + ".tmp", countfile)
s = socket.socket(socket.AF_UNIX); s.bind(mine); s.listen(64)
threading.Thread(target=report, daemon=True).start()
while True:
    c, _ = s.accept(); threading.Thread(target=conn, args=(c,), daemon=True).start()
PY
python3 "$w/count.py" "${DOCKER_HOST#unix://}" "$w/count.sock" "$w/count" &
relaypid=$!
for _ in $(seq 100); do [ -S "$w/count.sock" ] && break; sleep 0.05; done # bound only
counted() { # TOOL: bytes sent while its up runs
	local before after
	sleep 0.3; before=$(cat "$w/count")
	DOCKER_HOST=unix://$w/count.sock ${1}_up
	sleep 0.3; after=$(cat "$w/count")
	echo $((after - before))
}
for tool in gb dc; do
	[ $tool = gb ] && d=$w/gbside || d=$w/dcside
	echo "# edit counted" >>"$d/src/pkg7/mod3.py"
	t[cb_$tool]=$(counted $tool)
	echo "pkgcounted==1" >>"$d/deps.txt"
	t[db_$tool]=$(counted $tool)
done
kill "$relaypid" 2>/dev/null; relaypid=

# ---- parse cost: the compose file vs the stack.lua graphbuild import writes ----
(cd "$w/gbside" && "$GB" import -f docker-compose.yml -o stack.lua --force >/dev/null 2>&1)
for ((i = 0; i < P_RUNS; i++)); do
	t0=$(now); (cd "$w/gbside" && "$GB" -f docker-compose.yml plan >/dev/null 2>&1); t[p_compose]+="$(((($(now) - t0)) / 1000)) "
	t0=$(now); (cd "$w/gbside" && "$GB" -f stack.lua plan >/dev/null 2>&1); t[p_lua]+="$(((($(now) - t0)) / 1000)) "
done

med() { echo "${t[$1]}" | tr ' ' '\n' | grep -v '^$' | median; }
mkdir -p "$(dirname "$out")"
{
	echo "| row | graphbuild -f docker-compose.yml | docker-compose 1.29 | ratio | target |"
	echo "|---|---|---|---|---|"
	for r in a b c d; do
		g=$(med ${r}_gb) c=$(med ${r}_dc)
		case $r in a) name="(a) first \`up\` from nothing"; tg="not slower" ;; b) name="(b) no change"; tg="≤ 0.05× and ≤ 50 ms" ;;
		c) name="(c) one source file edited"; tg="≤ 0.4×" ;; d) name="(d) dependency list edited"; tg="not slower" ;; esac
		echo "| $name | $g ms | $c ms | $(ratio "$g" "$c")× | $tg |"
	done
	echo "| bytes sent to the engine, (c) | ${t[cb_gb]} | ${t[cb_dc]} | $(ratio "${t[cb_gb]}" "${t[cb_dc]}")× | fewer |"
	echo "| bytes sent to the engine, (d) | ${t[db_gb]} | ${t[db_dc]} | $(ratio "${t[db_gb]}" "${t[db_dc]}")× | fewer |"
	pc=$(med p_compose) pl=$(med p_lua)
	echo
	echo "plan of the compose file: $((pc / 1000)).$(((pc % 1000) / 100)) ms; of its imported stack.lua: $((pl / 1000)).$(((pl % 1000) / 100)) ms (medians of $P_RUNS); parse cost $(((pc - pl) / 1000)).$((((pc - pl) % 1000 + 1000) % 1000 / 100)) ms (target ≤ 5 ms)"
	echo
	echo "raw (ms): $(for k in a_gb a_dc b_gb b_dc c_gb c_dc d_gb d_dc; do printf '%s=[%s] ' "$k" "${t[$k]% }"; done)"
} | tee "$out"
