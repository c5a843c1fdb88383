#!/usr/bin/env bash
# golden.sh - each tests/stacks/NNN-topic/ holds a stack.lua and what
# `graphbuild plan --json` must print: expect.exit (default 0), expect.stderr
# and/or expect.json (exact). Optional `args` adds arguments. Each case runs in
# a fresh copy of its directory, against no engine (plans come from local
# state only), so results never depend on this machine.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
GB=${GB:-$PWD/build/release/graphbuild}
pass=0; fail=0
for d in tests/stacks/*/; do
	name=$(basename "$d")
	tmp=$(mktemp -d); cp -a "$d" "$tmp/$name"
	args=(); [ -f "$d/args" ] && read -r -a args <"$d/args"
	(cd "$tmp/$name" && unset GRAPHBUILD_PATH && DOCKER_HOST=unix:///nonexistent/graphbuild-test.sock NO_COLOR=1 \
		"$GB" plan --json "${args[@]}" >"$tmp/stdout" 2>"$tmp/raw"); rc=$?
	# paths that depend on the checkout or the temp copy are written as $ROOT and $CASE
	sed -e "s|$top|\$ROOT|g" -e "s|$tmp/$name|\$CASE|g" "$tmp/raw" >"$tmp/stderr"
	want=0; [ -f "$d/expect.exit" ] && want=$(cat "$d/expect.exit")
	ok=1; why=
	[ "$rc" = "$want" ] || { ok=0; why="exit $rc, want $want"; }
	if [ -f "$d/expect.stderr" ] && ! diff -u "$d/expect.stderr" "$tmp/stderr" >"$tmp/diff"; then ok=0; why="$why stderr differs"; fi
	if [ -f "$d/expect.json" ] && ! diff -u "$d/expect.json" "$tmp/stdout" >>"$tmp/diff"; then ok=0; why="$why stdout differs"; fi
	if [ "$rc" = 2 ] && [ -e "$tmp/$name/.graphbuild" ]; then ok=0; why="$why .graphbuild written by a failed load"; fi
	if [ $ok = 1 ]; then pass=$((pass+1)); echo "ok - $name"
	else fail=$((fail+1)); echo "not ok - $name: $why"; cat "$tmp/diff" 2>/dev/null; echo "--- stderr:"; cat "$tmp/stderr"; fi
	rm -rf "$tmp"
done
# the Dockerfile front end's golden conversions (tests/dockerfile/run.sh)
while IFS= read -r l; do
	case $l in
	"ok "*) pass=$((pass+1)); echo "$l" ;;
	"not ok "*) fail=$((fail+1)); echo "$l" ;;
	*" passed, "*" failed") ;;
	*) echo "$l" ;;
	esac
done < <(GB_DF_DRIVER=${GB_DF_DRIVER:-$(dirname "$GB")/test_dockerfile} bash tests/dockerfile/run.sh)
echo "$pass passed, $fail failed"
[ $fail = 0 ]
