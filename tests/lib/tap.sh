# tap.sh - tiny test helpers for the shell tests: ok/not ok lines and the
# closing "N passed, M failed" line. Source it, call check/pass/fail, then done_tests.
T_PASS=0; T_FAIL=0; T_N=0
pass() { T_N=$((T_N+1)); T_PASS=$((T_PASS+1)); echo "ok $T_N - $*"; }
fail() { T_N=$((T_N+1)); T_FAIL=$((T_FAIL+1)); echo "not ok $T_N - $*"; return 1; }
# check NAME CMD...: passes when CMD succeeds; returns non-zero when it fails,
# so `check ... || show-diagnostics` works.
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
# checked NAME: passes when the command list run just before it succeeded, for
# conditions joined with && or ||:  [ $rc = 1 ] && grep -q x out; checked "name"
checked() { if [ $? = 0 ]; then pass "$1"; else fail "$1"; fi; }
# skip NAME REASON: a check this engine cannot run; shown, never counted as passed.
T_SKIP=0
skip() { T_SKIP=$((T_SKIP+1)); echo "ok - $1 # skip: $2"; }
done_tests() {
	if [ "$T_SKIP" -gt 0 ]; then echo "$T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
	else echo "$T_PASS passed, $T_FAIL failed"; fi
	[ "$T_FAIL" = 0 ]
}
GB=${GB:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/${GB_CONFIG:-release}/graphbuild}
# keys_of DIR: "name key" per image node of `plan --json`, sorted, without an engine.
keys_of() {
	(cd "$1" && DOCKER_HOST=unix:///nonexistent/gb.sock "$GB" plan --json "${@:2}") |
		python3 -c 'import json,sys; [print(i["name"], i["key"]) for i in sorted(json.load(sys.stdin)["images"], key=lambda i: i["name"])]'
}
# busybox_base DIR: sets bbtar to the suite's busybox rootfs tar
# ($GB_BUSYBOX_TAR), or makes one in DIR; fails when it cannot.
busybox_base() {
	bbtar=${GB_BUSYBOX_TAR:-}
	[ -n "$bbtar" ] && [ -f "$bbtar" ] && return 0
	bbtar=$1/busybox.tar
	bash "$(dirname "${BASH_SOURCE[0]}")/busybox-rootfs.sh" "$bbtar" >/dev/null 2>&1
}
