#!/usr/bin/env bash
# tests/dockerfile/run.sh - golden conversions: for each tests/dockerfile/NAME/
# with an expect.lua (or expect.err), the Lua text test_dockerfile --lua
# prints for NAME/Dockerfile (run in NAME/, with the arguments in NAME/args)
# must equal it exactly; expect.err holds the error line (exit 2).
# GB_UPDATE_GOLDEN=1 rewrites the expectations from the current output.
set -uo pipefail
cd "$(dirname "$0")"
DRV=${GB_DF_DRIVER:-$PWD/../../build/${GB_CONFIG:-release}/test_dockerfile}
pass=0; fail=0
for d in */; do
	name=${d%/}
	[ -f "$d/expect.lua" ] || [ -f "$d/expect.err" ] || [ -n "${GB_UPDATE_GOLDEN:-}" ] || continue
	args=(); [ -f "$d/args" ] && read -r -a args <"$d/args"
	[ -f "$d/target" ] && args+=(--target "$(cat "$d/target")")
	out=$(cd "$d" && "$DRV" --lua Dockerfile "${args[@]}" 2>/tmp/gbdf-golden.$$); rc=$?
	err=$(cat /tmp/gbdf-golden.$$); rm -f /tmp/gbdf-golden.$$
	if [ -n "${GB_UPDATE_GOLDEN:-}" ]; then
		if [ $rc = 0 ]; then printf '%s\n' "$out" >"$d/expect.lua"; rm -f "$d/expect.err"
		else printf '%s\n' "$err" >"$d/expect.err"; rm -f "$d/expect.lua"; fi
	fi
	if [ -f "$d/expect.lua" ] && [ $rc = 0 ] && [ "$out" = "$(cat "$d/expect.lua")" ]; then
		pass=$((pass+1)); echo "ok - dockerfile/$name"
	elif [ -f "$d/expect.err" ] && [ $rc = 2 ] && [ "$err" = "$(cat "$d/expect.err")" ]; then
		pass=$((pass+1)); echo "ok - dockerfile/$name"
	else
		fail=$((fail+1)); echo "not ok - dockerfile/$name (exit $rc)"
		diff <(cat "$d"/expect.* 2>/dev/null) <(printf '%s\n' "$out$err") | head -20
	fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
