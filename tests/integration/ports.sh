#!/usr/bin/env bash
# ports.sh - published ports reach the engine as the stack wrote them (the
# spec harness in tests/fuzz/ found "[::1]:HOST:CONTAINER" mangled into
# container port 1 published on every address): an IPv6 loopback binding
# answers on [::1]:HOST and nowhere else, an IPv4 one likewise.
# Uses the suite's engine (DOCKER_HOST) or starts its own; GB_BUSYBOX_TAR or
# makes the busybox base. Prints "ok N - name" and "N passed, M failed".
set -uo pipefail
. "$(dirname "$0")/../lib/integration.sh" pv gbpv0 172.31.203.1/24
cleanup() {
	[ -f "$w/s/stack.lua" ] && (cd "$w/s" && "$GB" down -t 0 >/dev/null 2>&1)
	integration_cleanup
}
trap cleanup EXIT
P=gbpv$$
# free ports: ask the kernel for two, then let them go
read -r p6 p4 < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
# A host (or CI container) without an IPv6 loopback cannot publish on [::1]:
# then only the IPv4 binding is checked, and the IPv6 checks say why not.
v6=1
python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null || v6=0
if [ $v6 = 1 ]; then spec="\"[::1]:$p6:80\", \"127.0.0.1:$p4:80/tcp\""
	want="{'80/tcp':[{'HostIp':'::1','HostPort':'$p6'},{'HostIp':'127.0.0.1','HostPort':'$p4'}]}"
else spec="\"127.0.0.1:$p4:80/tcp\""
	want="{'80/tcp':[{'HostIp':'127.0.0.1','HostPort':'$p4'}]}"
fi
mkdir -p "$w/s" && cp "$bbtar" "$w/s/base.tar" && cd "$w/s" || exit 1
cat >stack.lua <<LUA
project "$P"
local bb = image "bb" { from = rootfs { tar = "base.tar" }, env = { GBTEST = "$$" } }
service "web" {
  image = bb,
  command = { "httpd", "-f", "-p", "80", "-h", "/" },
  ports = { $spec },
}
LUA
out=$(timeout 300 "$GB" up 2>&1); rc=$?
[ $rc = 0 ] && pass "up with loopback ports ($spec)" || { fail "up with loopback ports ($spec) (rc $rc)"; echo "$out" | tail -5 | sed 's/^/# /'; }
ports=$(docker inspect -f '{{json .HostConfig.PortBindings}}' "$P-web" 2>&1)
echo "# PortBindings: $ports"
echo "$ports" | python3 -c "import json,sys; b=json.load(sys.stdin); sys.exit(0 if b==$want else 1)"
checked "the engine got container port 80 bound as written ($spec), nothing else"
if [ $v6 = 1 ] && [ "${GB_ENGINE:-docker}" = podman ]; then
	skip "the service answers on [::1]:$p6" "Podman 4.3 records an IPv6 host address but forwards it only on an IPv6 network (docs/remote.md)"
elif [ $v6 = 1 ]; then
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -g "http://[::1]:$p6/etc/hostname")
	check "the service answers on [::1]:$p6" test "$code" = 200
else
	skip "the service answers on [::1]:$p6" "this host has no IPv6 loopback (::1 cannot be bound)"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "http://127.0.0.1:$p4/etc/hostname")
check "the service answers on 127.0.0.1:$p4" test "$code" = 200
done_tests
