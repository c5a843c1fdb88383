#!/usr/bin/env bash
# garbled.sh - a garbled engine reply is not success (DEFECTS 22): against
# tests/lib/garbled-engine.py on 127.0.0.1 (a real handshake, then cut-short
# JSON, JSON of the wrong type, or a 500 whose body is ANSI escapes and
# 100 KB), `ps`, `down`, `gc` and `up` each exit 1 with one error naming the
# call, and an engine's words reach the terminal without control characters
# and cut to 300 bytes (start … end). The garbled engine is what is tested, so it is a fake
# by design; no dockerd is needed. Under the ASan build LeakSanitizer would
# turn a leak on these error paths into another exit code.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/tap.sh"
GB=${GB:-$top/build/${GB_CONFIG:-release}/graphbuild}
w=$(mktemp -d /tmp/gbgarbled.XXXXXX)
fake=
cleanup() {
	[ -n "$fake" ] && kill "$fake" 2>/dev/null && wait "$fake" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT
export NO_COLOR=1
mkdir -p "$w/s"
printf 'x' >"$w/s/base.tar" # never read: the engine fails first
cat >"$w/s/stack.lua" <<'LUA'
project "gbgarbled"
local base = image "base" { from = rootfs { tar = "base.tar" } }
service "s" { image = base, command = "exec sleep 100", volumes = { "data:/d" } }
LUA
start_fake() { # $1: mode; sets DOCKER_HOST
	[ -n "$fake" ] && kill "$fake" 2>/dev/null && wait "$fake" 2>/dev/null
	rm -f "$w/port"
	python3 "$top/tests/lib/garbled-engine.py" "$1" "$w/port" 2>>"$w/fake.log" &
	fake=$!
	for _ in $(seq 100); do [ -s "$w/port" ] && break; sleep 0.05; done
	export DOCKER_HOST=tcp://127.0.0.1:$(cat "$w/port")
}
run() { # $1: command; output in $w/out, rc in $rc
	(cd "$w/s" && timeout 60 "$GB" "$@" >"$w/out" 2>&1)
	rc=$?
}
for mode in malformed wrongtype; do
	start_fake $mode
	for cmd in ps down gc up; do
		run $cmd
		[ $rc = 1 ] && grep -q "engine: malformed reply to [A-Z]* /[a-z]*" "$w/out" &&
			! grep -q "removed network\|removed 0 image\|orphan container of \|no containers of" "$w/out"
		checked "$mode replies: $cmd exits 1 naming the call" || { echo "#   rc=$rc"; sed 's/^/#   /' "$w/out" | head -5; }
	done
done
for mode in ansi ansijson; do
	start_fake $mode
	for cmd in ps gc; do
		run $cmd
		check "$mode error: $cmd exits 1" [ $rc = 1 ]
		check "$mode error: $cmd prints no control characters" [ -z "$(LC_ALL=C tr -d '\n -~\200-\377' <"$w/out")" ]
		long=$(LC_ALL=C awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$w/out")
		[ "$long" -lt 450 ] && grep -q '^graphbuild: .*engine: ?\[31mRED?\]0;title??second line xxx*…xxx* (500)$' "$w/out"
		checked "$mode error: $cmd shows 300 bytes of the body (start … end), says where it cut ($long-byte line)"
	done
done
sed 's/^/# /' "$w/out" | cut -c1-120
done_tests
