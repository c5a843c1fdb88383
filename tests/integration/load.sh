#!/usr/bin/env bash
# load.sh - bad input stops at load against a real engine (issue 1/7, DEFECTS
# 19, 23, 25, 33): nothing reaches the engine and nothing is lost. A
# .graphbuild that is a file: plan works from no state with a warning, build
# and up say what is wrong and touch nothing; -f /dev/null makes no state in
# /dev; names Docker would refuse as tags, a missing bind source and two
# services on one host port are exit 2 at the line, before any image or
# container is made. Uses the suite's engine (DOCKER_HOST) or starts its own;
# GB_BUSYBOX_TAR or makes the busybox base. Prints "ok N - name" lines and
# "N passed, M failed"; exit 1 on failure.
set -uo pipefail
. "$(dirname "$0")/../lib/integration.sh" load gbld0 172.31.226.1/24

P=gbld$$
nimages() { docker images -q | sort -u | wc -l; }
ncontainers() { docker ps -aq | wc -l; }

s=$w/s
mkdir -p "$s"
cp "$bbtar" "$s/base.tar"
cat >"$s/stack.lua" <<EOF
project "$P"
local bb = rootfs { tar = "base.tar" }
local app = image "app" { from = bb, env = { GBTEST = "$$" }, run "echo hi > /hi" }
service "web" { image = app, command = "exec sleep 1000", stop_timeout = 0 }
EOF
cd "$s"

# 1. .graphbuild is a file
echo "not a directory" >"$s/.graphbuild"
out=$("$GB" plan 2>&1); rc=$?
[ $rc = 0 ] && grep <<<"$out" -q "\.graphbuild is not a directory" && grep <<<"$out" -q "planning from no state" &&
	grep <<<"$out" -q "build *app"
checked ".graphbuild a file: plan works from no state, with a warning" || echo "$out" | sed 's/^/#   /'
i0=$(nimages); c0=$(ncontainers)
out=$("$GB" build 2>&1); rc=$?
[ $rc = 1 ] && grep <<<"$out" -q "\.graphbuild is not a directory (graphbuild keeps its state there: remove or rename it)"
checked ".graphbuild a file: build exits 1 saying what is wrong" || echo "$out" | sed 's/^/#   /'
out=$("$GB" up 2>&1); rc=$?
[ $rc = 1 ] && grep <<<"$out" -q "\.graphbuild is not a directory"
checked ".graphbuild a file: up exits 1 saying what is wrong" || echo "$out" | sed 's/^/#   /'
[ "$(nimages)" = "$i0" ] && [ "$(ncontainers)" = "$c0" ] && [ "$(cat "$s/.graphbuild")" = "not a directory" ]
checked ".graphbuild a file: no image or container made, the file left as it was"
rm -f "$s/.graphbuild"
out=$("$GB" build 2>&1); rc=$?
[ $rc = 0 ] && [ -d "$s/.graphbuild" ]; checked "once it is removed, build works" || echo "$out" | tail -5 | sed 's/^/#   /'

# 2. -f of a non-regular file
out=$("$GB" -f /dev/null build 2>&1); rc=$?
[ $rc = 2 ] && [ "$out" = "graphbuild: cannot read /dev/null: not a regular file" ] && [ ! -e /dev/.graphbuild ]
checked "-f /dev/null: exit 2, one message, no /dev/.graphbuild" || echo "$out" | sed 's/^/#   /'

# 3. bad input the engine would refuse only later: exit 2, nothing made
i0=$(nimages); c0=$(ncontainers)
bad() { # NAME EXPECTED-MESSAGE: stack.lua (already written) fails build and up at load
	local o1 o2 r1 r2
	o1=$("$GB" build 2>&1); r1=$?
	o2=$("$GB" up 2>&1); r2=$?
	[ $r1 = 2 ] && [ $r2 = 2 ] && grep <<<"$o1" -qF "$2" && grep <<<"$o2" -qF "$2" &&
		[ "$(nimages)" = "$i0" ] && [ "$(ncontainers)" = "$c0" ]
	checked "$1: build and up exit 2 at the line, nothing made" || echo "$o1 / $o2" | sed 's/^/#   /'
}
cp stack.lua stack.good
sed -i "s/^local app = image \"app\"/local app = image \"a..pp\"/" stack.lua
bad "image name a..pp" 'stack.lua:3: image "a..pp": bad name'
cp stack.good stack.lua; sed -i "s/^project \"$P\"/project \"$P-\"/" stack.lua
bad "project $P-" "stack.lua:1: project \"$P-\": bad name"
cp stack.good stack.lua
echo "service \"vol\" { image = app, volumes = { \"./nope:/data\" } }" >>stack.lua
bad "missing bind source" "stack.lua:5: service \"vol\": bad volume './nope:/data': the host path './nope' does not exist"
cp stack.good stack.lua
port=$((20000 + $$ % 10000))
sed -i "s|stop_timeout = 0 }|stop_timeout = 0, ports = { \"$port:80\" } }|" stack.lua
echo "service \"web2\" { image = app, ports = { \"$port:81\" } }" >>stack.lua
bad "one host port in two services" "stack.lua:5: service \"web2\": port '$port:81' publishes host port $port/tcp, as service \"web\" does at stack.lua:4"
cp stack.good stack.lua
"$GB" down -t 0 >/dev/null 2>&1
docker images --format '{{.Repository}}:{{.Tag}}' | grep "^$P/" | xargs -r docker rmi >/dev/null 2>&1

done_tests
