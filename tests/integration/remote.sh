#!/usr/bin/env bash
# remote.sh - a remote engine (issue "Remote engines"): a private dockerd in
# its own network namespace, listening on a unix socket and on tcp:// with
# TLS (a CA, server and client certificates made here with openssl). From
# this machine the engine's address is not one of ours and its containers'
# addresses are unreachable, as with an engine on another machine. Against it
# with DOCKER_HOST=tcp://IP:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH: plan
# (names the exec fallback of tcp/http probes), build, up (a tcp-probed and an
# http-probed service, a dependent waiting on both healthy), ps, logs, a
# failing probe, gc, down; every command over unix:// too; the default port; one
# clear error without TLS, with a wrong CA, with a foreign client
# certificate; the remote/local decision (own address and loopback through a
# forwarder, GRAPHBUILD_PROBES). Prints probe latencies ("# " lines).
# Everything lives under /tmp/gbremote, network namespace gbremote, bridge
# gbrm0 (172.31.248.1/24) inside it, veth gbrm-h/gbrm-n (198.18.248.1/30 and
# .2, a benchmarking range); leftovers of a killed run are removed first.
# Needs root. Prints "ok N - name" and "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/tap.sh"
. "$here/../lib/engine.sh" # _engine_ping, _engine_kill_procs, _engine_umount_under
GB=${GB:-$top/build/${GB_CONFIG:-release}/graphbuild}
[ -x "$GB" ] || { fail "no graphbuild binary at $GB"; done_tests; exit 1; }

if [ "${GB_ENGINE:-docker}" = podman ]; then
	# One visible skip, nothing counted as passed.
	skip "remote engine over tcp:// with TLS" "Podman 4.3's system service has no TLS listener (docs/remote.md, Podman)"
	done_tests
	exit 0
fi
sdrv=()
d=$(_docker_driver /tmp/gbremote) # engine.sh: GB_STORAGE_DRIVER, or vfs where only it works
[ -n "$d" ] && sdrv=(--storage-driver "$d")

root=/tmp/gbremote
ns=gbremote
br=gbrm0 brcidr=172.31.248.1/24
vh=gbrm-h vn=gbrm-n hostip=198.18.248.1 engip=198.18.248.2
port=2376
sock=$root/docker.sock
export NO_COLOR=1
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH GRAPHBUILD_PROBES

# stop_all: the engine, its containerd and shims, the forwarder, mounts, the
# namespace (its bridge and iptables rules go with it) and the veth pair.
stop_all() {
	local p i
	if [ -f "$root/fwd.pid" ]; then
		p=$(cat "$root/fwd.pid" 2>/dev/null)
		[ -n "$p" ] && kill "$p" 2>/dev/null
		rm -f "$root/fwd.pid"
	fi
	if [ -f "$root/docker.pid" ] && p=$(cat "$root/docker.pid" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
		kill -TERM "$p" 2>/dev/null
		for ((i = 0; i < 400; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	fi
	[ -d "$root" ] && _engine_kill_procs "$root"
	rm -f "$root/docker.pid" "$sock" "$root/exec/containerd/containerd.pid"
	_engine_umount_under "$root/exec"
	_engine_umount_under "$root/data"
	ip netns del "$ns" 2>/dev/null
	ip link del "$vh" 2>/dev/null
	return 0
}
dc() { DOCKER_HOST=unix://$sock docker "$@"; } # the engine, for checks
cleanup() {
	for d in "$root"/s*; do
		[ -f "$d/stack.lua" ] && (cd "$d" && DOCKER_HOST=unix://$sock timeout 60 "$GB" down --volumes -t 0 >/dev/null 2>&1)
	done
	stop_all
	rm -rf "$root"
}

# 0. leftovers of an earlier run, then certificates, network, engine
stop_all
rm -rf "$root"
mkdir -p "$root/certs" || { fail "mkdir $root"; done_tests; exit 1; }
trap cleanup EXIT

# this machine's own address (for the local/remote decision), if it has one
own=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[ -n "$own" ] || own=$(hostname -I 2>/dev/null | awk '{ print $1 }')

certs() { # DIR: a CA, a server certificate for the engine's addresses, a client certificate
	local c=$1 san="IP:$engip,IP:127.0.0.1,DNS:localhost"
	[ -n "$own" ] && san="$san,IP:$own"
	(
		set -e
		cd "$c"
		openssl genrsa -out ca-key.pem 2048
		openssl req -x509 -new -key ca-key.pem -days 2 -subj /CN=gbremote-ca -out ca.pem
		openssl genrsa -out server-key.pem 2048
		openssl req -new -key server-key.pem -subj /CN=gbremote-engine -out server.csr
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
			-extfile server.ext -out server-cert.pem
		openssl genrsa -out key.pem 2048
		openssl req -new -key key.pem -subj /CN=gbremote-client -out client.csr
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
			-extfile client.ext -out cert.pem
		chmod 600 ca-key.pem server-key.pem key.pem
	) >"$root/certs.log" 2>&1
}
check "certificates: a CA, the engine's (SAN $engip${own:+, $own}), a client's" certs "$root/certs"
cd "$root"
# a wrong CA, and a client certificate the engine's CA did not sign
mkdir -p badca badclient
(cd badca && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -subj /CN=other-ca -days 1 -out ca.pem &&
	cp ../certs/cert.pem ../certs/key.pem .) >/dev/null 2>&1
(cd badclient && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -subj /CN=intruder -days 1 -out cert.pem &&
	cp ../certs/ca.pem .) >/dev/null 2>&1

netup() {
	ip netns add "$ns" &&
		ip link add "$vh" type veth peer name "$vn" &&
		ip link set "$vn" netns "$ns" &&
		ip addr add "$hostip/30" dev "$vh" && ip link set "$vh" up &&
		ip -n "$ns" addr add "$engip/30" dev "$vn" && ip -n "$ns" link set "$vn" up &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" link add "$br" type bridge &&
		ip -n "$ns" addr add "$brcidr" dev "$br" && ip -n "$ns" link set "$br" up
}
check "network namespace $ns, veth $hostip <-> $engip, bridge $br" netup

# nsenter, not `ip netns exec`: that one remounts /sys, and dockerd then
# finds no cgroups. setsid: our Ctrl-C does not reach it.
c=$root/certs
setsid nsenter --net=/run/netns/$ns dockerd --host "unix://$sock" --host "tcp://$engip:$port" \
	--tlsverify --tlscacert "$c/ca.pem" --tlscert "$c/server-cert.pem" --tlskey "$c/server-key.pem" \
	--data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/docker.pid" --bridge "$br" "${sdrv[@]}" \
	>"$root/dockerd.log" 2>&1 </dev/null &
epid=$!
for ((i = 0; i < ${GB_ENGINE_WAIT:-60} * 20; i++)); do
	_engine_ping "$sock" && break
	kill -0 "$epid" 2>/dev/null || break
	sleep 0.05
done
if ! _engine_ping "$sock"; then
	fail "dockerd answers on $sock"
	tail -n 20 "$root/dockerd.log" | sed 's/^/#   /'
	done_tests
	exit 1
fi
pass "dockerd answers on $sock"
check "dockerd answers on tcp://$engip:$port with TLS (curl)" \
	test "$(curl -s -m 10 --cacert "$c/ca.pem" --cert "$c/cert.pem" --key "$c/key.pem" "https://$engip:$port/_ping")" = OK

busybox_base "$root" || { fail "busybox base"; done_tests; exit 1; }

P=gbrm$$
s=$root/s1
mkdir -p "$s/app"
cp "$bbtar" "$s/base.tar"
echo "hello from $P" >"$s/app/index.html"
# db listens after 1 s; web serves /health after 0.5 s; both say when (the
# kernel's uptime, shared with the engine here) on stdout; app says when it
# starts. The copy step makes build upload an archive over TLS.
cat >"$s/stack.lua" <<EOF
project "$P"
local base = image "base" { from = rootfs { tar = "base.tar" } }
local app = image "app" { from = base, copy { "app/", to = "/www/" } }
local function say(ev) return "echo " .. ev .. " \$(cut -d' ' -f1 /proc/uptime); " end
service "db" {
  image = base, stop_timeout = 0,
  command = say("start") .. "sleep 1; " .. say("ready") .. "exec nc -ll -p 5432 -e true",
  health = tcp { port = 5432, interval = "300s" }, -- a poller that waited out intervals would hit the 180 s bound
}
service "web" {
  image = app, stop_timeout = 0,
  command = say("start") .. "sleep 0.5; mkdir -p /www && echo ok > /www/health; " .. say("ready") .. "exec httpd -f -p 8000 -h /www",
  health = http { port = 8000, path = "/health", interval = "300s" },
}
service "app" {
  image = base, stop_timeout = 0,
  command = say("start") .. "exec sleep 1000",
  depends_on = { db = "healthy", web = "healthy" },
}
EOF
cd "$s"
tls() { DOCKER_HOST=tcp://$engip:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$c timeout 180 "$GB" "$@"; }
unx() { DOCKER_HOST=unix://$sock timeout 180 "$GB" "$@"; }
ids() { dc ps -a --no-trunc --filter "label=graphbuild.project=$P" --format '{{.Names}} {{.ID}}' | sort; }
q() { "$@" >/dev/null 2>&1; }
uptime_of() { dc logs "$P-$1" 2>/dev/null | awk -v e="$2" '$1 == e { print $2; exit }'; }

# 1. plan over TLS: builds, creates, and the probes' fallback named
tls plan >"$root/plan1.out" 2>&1
rc=$?
check "plan over tcp+TLS exits 0" [ $rc = 0 ]
[ $rc = 0 ] || sed 's/^/#   /' "$root/plan1.out"
check "plan: base and app build" grep -q "build *app" "$root/plan1.out"
check "plan names the exec fallback for tcp: 'probe tcp 5432 runs as exec inside the container: the engine is remote'" \
	grep -q "probe tcp 5432 runs as exec inside the container: the engine is remote" "$root/plan1.out"
check "plan names the exec fallback for http" \
	grep -q "probe http :8000/health runs as exec inside the container: the engine is remote" "$root/plan1.out"
tls plan --json >"$root/plan1.json" 2>/dev/null
check "plan --json: the fallback is a note (not a reason) of db and web, not of app" python3 -c '
import json,sys; p=json.load(open(sys.argv[1])); d={s["name"]: s for s in p["services"]}
assert d["db"]["action"]=="create" and not any("runs as exec" in r for r in d["db"]["reasons"]) and any("runs as exec inside the container" in r for r in d["db"].get("notes", [])), d["db"]
assert any("http :8000/health runs as exec" in r for r in d["web"].get("notes", [])), d["web"]
assert d["app"]["reasons"]==[] and "notes" not in d["app"], d["app"]' "$root/plan1.json"

# 2. build over TLS (import, archive upload, commit)
tls build --progress plain >"$root/build.out" 2>&1
rc=$?
check "build over tcp+TLS exits 0" [ $rc = 0 ]
[ $rc = 0 ] || tail -n 20 "$root/build.out" | sed 's/^/#   /'
check "the engine has $P/app:latest" q dc image inspect "$P/app:latest" -f '{{.Id}}'

# 3. up over TLS: probes run inside the containers, app after both are healthy
t0=$(date +%s%N)
tls up --progress plain >"$root/up1.out" 2>&1
rc=$?
up_ms=$((($(date +%s%N) - t0) / 1000000))
check "up over tcp+TLS exits 0 (${up_ms} ms)" [ $rc = 0 ]
[ $rc = 0 ] || sed 's/^/#   /' "$root/up1.out"
check "db and web became healthy" [ "$(grep -c '^\[\(db\|web\)\] healthy' "$root/up1.out")" = 2 ]
line() { grep -n "$1" "$root/up1.out" | head -n1 | cut -d: -f1; }
[ -n "$(line '^\[app\] creating')" ] && [ "$(line '^\[app\] creating')" -gt "$(line '^\[db\] healthy')" ] &&
	[ "$(line '^\[app\] creating')" -gt "$(line '^\[web\] healthy')" ]
checked "app is created after db and web are healthy"
dbr=$(uptime_of db ready) webr=$(uptime_of web ready) appst=$(uptime_of app start)
check "app started after db and web were ready (uptime $dbr, $webr -> $appst)" awk -v a="$appst" -v b="$dbr" -v w="$webr" \
	'BEGIN { exit !(a != "" && b != "" && w != "" && a + 0 >= b + 0 && a + 0 >= w + 0) }'
lat=$(awk -v a="$appst" -v b="$dbr" -v w="$webr" 'BEGIN { r = b + 0 > w + 0 ? b : w; printf "%.3f", a - r }')
echo "# readiness (the later of db, web) -> app running: ${lat}s (exec probe over TLS + app create/start)"
# (the latency is printed, measured in bench/; the check is that readiness is
# seen by polling faster than the 300 s probe interval: up ended, exit 0,
# within its 180 s bound, and app ran)
check "a dependent runs before one probe interval after readiness (up ended within the 180 s bound)" [ $rc = 0 -a -n "$appst" ]
# the same from the engine's own network namespace, probes direct: the
# price of the fallback (the containers it makes are the same: same labels)
inside() { nsenter --net=/run/netns/$ns env DOCKER_HOST=unix://$sock "$@"; }
tls down -t 0 >/dev/null 2>&1
inside GRAPHBUILD_PROBES=direct timeout 180 "$GB" up --progress plain >"$root/up-direct.out" 2>&1
check "up from the engine's namespace with direct probes exits 0" [ $? = 0 ]
dbr=$(uptime_of db ready) webr=$(uptime_of web ready) appst=$(uptime_of app start)
latd=$(awk -v a="$appst" -v b="$dbr" -v w="$webr" 'BEGIN { r = b + 0 > w + 0 ? b : w; printf "%.3f", a - r }')
echo "# readiness -> app running, same engine and stack: exec probes over tcp+TLS ${lat}s, direct probes ${latd}s"
check "containers run on the engine (db, web, app)" [ "$(dc ps -q --filter "label=graphbuild.project=$P" | wc -l)" = 3 ]

# 4. ps, logs, the no-op up
tls ps --json >"$root/ps.json" 2>"$root/ps.err"
check "ps --json over TLS: db and web healthy, app running" python3 -c '
import json,sys; a=json.load(open(sys.argv[1])); d={r["service"]: r for r in a}
assert set(d)=={"db","web","app"}, d
assert d["db"]["health"]=="healthy" and d["web"]["health"]=="healthy", d
assert all(r["state"]=="running" for r in a), a' "$root/ps.json"
tls logs web >"$root/logs.out" 2>&1
check "logs over TLS: web's lines, prefixed" grep -q '^web *| ready' "$root/logs.out"
before=$(ids)
tls up >"$root/up2.out" 2>&1
check "second up over TLS: up to date, nothing recreated" [ "$(cat "$root/up2.out")" = "up to date" -a "$(ids)" = "$before" ]
tls plan --json >"$root/plan2.json" 2>/dev/null
check "plan after up: every service keep (the fallback note stays a reason)" python3 -c '
import json,sys; p=json.load(open(sys.argv[1])); assert all(s["action"]=="keep" for s in p["services"]), p' "$root/plan2.json"

# 5. unix:// for every command; the engine there is local: probes go direct
unx plan >"$root/plan-unix.out" 2>&1
[ $? = 0 ] && ! grep -q "runs as exec" "$root/plan-unix.out"
checked "plan over unix:// exits 0, no fallback note (the engine is local)"
unx build --progress plain >/dev/null 2>&1
check "build over unix:// exits 0 (all reused)" [ $? = 0 ]
unx ps --json >"$root/ps-unix.json" 2>/dev/null
check "ps over unix:// lists the three services" python3 -c '
import json,sys; assert len(json.load(open(sys.argv[1])))==3' "$root/ps-unix.json"
check "logs over unix:// exits 0" q unx logs db
check "up over unix:// is a no-op" [ "$(unx up 2>&1)" = "up to date" ]
check "graph over unix:// exits 0" q unx graph

# 6. probe latency: one probe attempt per service in `ps` (db, web), each way
pslat() { # ARGS...: best of 5 runs of ps, in ms
	local best= i t
	for i in 1 2 3 4 5; do
		t=$(date +%s%N)
		"$@" ps >/dev/null 2>&1
		t=$((($(date +%s%N) - t) / 1000000))
		[ -z "$best" ] || [ "$t" -lt "$best" ] && best=$t
	done
	echo "$best"
}
l_direct=$(pslat inside env GRAPHBUILD_PROBES=direct "$GB")
l_exec_unix=$(pslat inside env GRAPHBUILD_PROBES=exec "$GB")
l_exec_tls=$(pslat env DOCKER_HOST=tcp://$engip:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$c "$GB")
echo "# ps with 2 probe attempts (best of 5): direct over unix ${l_direct} ms, exec over unix ${l_exec_unix} ms, exec over tcp+TLS ${l_exec_tls} ms"
inside env GRAPHBUILD_PROBES=direct "$GB" ps --json >"$root/ps-direct.json" 2>/dev/null
check "from the engine's own network, direct probes see the same (db, web healthy)" python3 -c '
import json,sys; d={r["service"]: r for r in json.load(open(sys.argv[1]))}
assert d["db"]["health"]=="healthy" and d["web"]["health"]=="healthy", d' "$root/ps-direct.json"

# 7. failing probes run inside the container: the verdict says what it saw
f=$root/s2
mkdir -p "$f"
cp "$bbtar" "$f/base.tar"
cat >"$f/stack.lua" <<EOF
project "${P}f"
local base = image "base" { from = rootfs { tar = "base.tar" } }
service "deaf" {
  image = base, stop_timeout = 0, command = "echo deaf here; exec sleep 1000",
  health = tcp { port = 5433, interval = "100ms", retries = 3, start_period = "0s" },
}
service "lost" {
  image = base, stop_timeout = 0, command = "mkdir -p /www && exec httpd -f -p 8000 -h /www",
  health = http { port = 8000, path = "/nothing", interval = "100ms", retries = 3, start_period = "0s" },
}
EOF
(cd "$f" && tls up --progress plain >"$root/fail.out" 2>&1)
rc=$?
check "failing probes: up exits 1" [ $rc = 1 ]
check "tcp inside the container: 'nothing listens on it inside the container'" \
	grep -q "service deaf is unhealthy: tcp 5433 probe failed: tcp 5433: nothing listens on it inside the container" "$root/fail.out"
check "http inside the container: the status it saw" \
	grep -q "service lost is unhealthy: http :8000/nothing probe failed: http status 404, expected" "$root/fail.out"
check "the failing service's last lines are shown" grep -q "| deaf here" "$root/fail.out"
(cd "$f" && tls down -t 0 >/dev/null 2>&1)

# 8. errors: no TLS, a wrong CA, a foreign client certificate, a bad knob
err1() { # FILE: exit 1 and exactly one line on stderr
	[ "$(wc -l <"$1")" = 1 ]
}
DOCKER_HOST=tcp://$engip:$port timeout 60 "$GB" ps >/dev/null 2>"$root/e1.err"
rc=$?
sed 's/^/#   /' "$root/e1.err"
[ $rc = 1 ] && err1 "$root/e1.err" && grep -q "expects TLS.*DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH" "$root/e1.err"
checked "without DOCKER_TLS_VERIFY: exit 1, one line saying the engine expects TLS"
DOCKER_HOST=tcp://$engip:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$root/badca timeout 60 "$GB" ps >/dev/null 2>"$root/e2.err"
rc=$?
sed 's/^/#   /' "$root/e2.err"
[ $rc = 1 ] && err1 "$root/e2.err" && grep -q "does not verify against $root/badca/ca.pem" "$root/e2.err"
checked "a wrong CA: exit 1, one line naming the CA file"
DOCKER_HOST=tcp://$engip:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$root/badclient timeout 60 "$GB" ps >/dev/null 2>"$root/e3.err"
rc=$?
sed 's/^/#   /' "$root/e3.err"
[ $rc = 1 ] && err1 "$root/e3.err" && grep -q "client certificate $root/badclient/cert.pem" "$root/e3.err"
checked "a client certificate the engine's CA did not sign: exit 1, one line naming it"
DOCKER_HOST=tcp://$engip:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$root/nowhere timeout 60 "$GB" ps >/dev/null 2>"$root/e4.err"
rc=$?
[ $rc = 1 ] && err1 "$root/e4.err" && grep -q "$root/nowhere/" "$root/e4.err"
checked "DOCKER_CERT_PATH without the files: exit 1, one line naming the file"
check "tcp:// without a port: 2376 with TLS, as Docker" \
	q env DOCKER_HOST=tcp://$engip DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$c timeout 60 "$GB" ps
GRAPHBUILD_PROBES=sometimes tls plan >/dev/null 2>"$root/e5.err"
rc=$?
[ $rc = 1 ] && grep -q 'GRAPHBUILD_PROBES: expected exec, direct or auto (it is "sometimes")' "$root/e5.err"
checked "GRAPHBUILD_PROBES=sometimes: exit 1, named"

# 9. the decision: an address of this machine or loopback is local, whatever
# the transport; GRAPHBUILD_PROBES overrides (a forwarder stands in for an
# engine listening on this machine)
cat >"$root/fwd.py" <<'EOF'
import asyncio, sys
async def pipe(r, w):
    try:
        while (b := await r.read(65536)):
            w.write(b); await w.drain()
    except Exception: pass
    finally: w.close()
async def conn(r, w):
    try: ur, uw = await asyncio.open_connection(sys.argv[1], int(sys.argv[2]))
    except Exception: w.close(); return
    await asyncio.gather(pipe(r, uw), pipe(ur, w))
async def main():
    s = await asyncio.start_server(conn, "0.0.0.0", 0)
    open(sys.argv[3], "w").write("%d\n" % s.sockets[0].getsockname()[1])
    async with s: await s.serve_forever()
asyncio.run(main())
EOF
python3 "$root/fwd.py" "$engip" "$port" "$root/fwd.port" >/dev/null 2>&1 &
echo $! >"$root/fwd.pid"
for ((i = 0; i < 100; i++)); do [ -s "$root/fwd.port" ] && break; sleep 0.05; done
fport=$(cat "$root/fwd.port" 2>/dev/null)
via() { # HOST [ENV...]: the plan's services, "exec" or "direct" for db
	env DOCKER_HOST=tcp://$1:$fport DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$c "${@:2}" timeout 60 "$GB" plan --json 2>/dev/null |
		python3 -c 'import json,sys; d={s["name"]: s for s in json.load(sys.stdin)["services"]}
print("exec" if any("runs as exec" in r for r in d["db"].get("notes", [])) else "direct")'
}
check "tcp://127.0.0.1 (loopback): direct" [ "$(via 127.0.0.1)" = direct ]
check "tcp://localhost: direct" [ "$(via localhost)" = direct ]
if [ -n "$own" ]; then
	check "tcp://$own (this machine's address): direct" [ "$(via "$own")" = direct ]
	check "tcp://$own with GRAPHBUILD_PROBES=exec: exec" [ "$(via "$own" GRAPHBUILD_PROBES=exec)" = exec ]
fi
check "tcp://$engip (not an address of this machine): exec" \
	[ "$(tls plan 2>/dev/null | grep -c 'runs as exec inside the container: the engine is remote')" = 2 ]
check "tcp://$engip with GRAPHBUILD_PROBES=direct: direct" \
	[ "$(GRAPHBUILD_PROBES=direct tls plan 2>/dev/null | grep -c 'runs as exec')" = 0 ]
check "unix:// with GRAPHBUILD_PROBES=exec: exec" \
	[ "$(GRAPHBUILD_PROBES=exec unx plan 2>/dev/null | grep -c 'runs as exec inside the container: GRAPHBUILD_PROBES=exec')" = 2 ]

# 10. gc and down over TLS
check "gc over tcp+TLS exits 0" q tls gc
tls down --volumes -t 0 >"$root/down.out" 2>&1
check "down over tcp+TLS exits 0" [ $? = 0 ]
check "down: no container of the project left" [ -z "$(ids)" ]
check "down: no network of the project left" [ -z "$(dc network ls -q --filter "name=${P}_default")" ]

cd /
done_tests
