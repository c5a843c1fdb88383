# integration.sh - the start every engine-backed integration test shares.
# Source it with a short name and a bridge for its private engine:
#   . "$(dirname "$0")/../lib/integration.sh" NAME BRIDGE CIDR
# It sources tap.sh and engine.sh; checks $GB (default: the GB_CONFIG build);
# makes the work dir $w (/tmp/gbNAME.XXXXXX); unless DOCKER_HOST names an
# engine (the suite's), starts a private one in $w/engine ($own_engine);
# exports DOCKER_API_VERSION (the docker CLI may be newer than the engine) and
# NO_COLOR; sets $bbtar to the busybox base; and traps EXIT to
# integration_cleanup (stop that engine, remove $w). A test with more to clean
# traps its own function and calls integration_cleanup last.
_it_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$_it_lib/../.." && pwd)
. "$_it_lib/tap.sh"
. "$_it_lib/engine.sh"
GB=${GB:-$top/build/${GB_CONFIG:-release}/graphbuild}
[ -x "$GB" ] || { fail "no graphbuild binary at $GB"; done_tests; exit 1; }
w=$(mktemp -d "/tmp/gb$1.XXXXXX")
own_engine=
if [ -z "${DOCKER_HOST:-}" ]; then
	own_engine=$w/engine
	engine_start "$own_engine" "$2" "$3" >/dev/null || { fail "start a private engine"; rm -rf "$w"; done_tests; exit 1; }
fi
export DOCKER_API_VERSION=1.41 NO_COLOR=1
integration_cleanup() {
	[ -n "$own_engine" ] && engine_stop "$own_engine" >/dev/null 2>&1
	rm -rf "$w"
}
trap integration_cleanup EXIT
busybox_base "$w" || { fail "busybox base"; done_tests; exit 1; }

# Containers on the engine when the test began: counts of containers left
# behind (new_containers) ignore them, so an engine need not be empty.
_it_before=$(docker ps -aq --no-trunc 2>/dev/null | sort)
# new_containers: how many containers exist that were not there at the start.
new_containers() {
	comm -13 <(echo "$_it_before") <(docker ps -aq --no-trunc | sort) | grep -c .
}
