#!/usr/bin/env bash
# compose-keys.sh - for every compose fixture tests/compose/NAME/ (its
# compose file, an optional test.env of VAR=VALUE exported first):
#   1. `graphbuild import` writes exactly expect.lua (the golden conversion);
#   2. `plan --json` through `-f COMPOSE` and through the imported stack.lua
#      are identical (same text => same keys);
#   3. import refuses to overwrite stack.lua without --force.
# Against no engine, in a fresh copy of the fixture.
set -uo pipefail
cd "$(dirname "$0")/../.."
GB=${GB:-$PWD/build/release/graphbuild}
pass=0; fail=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "not ok - $1"; }
for d in tests/compose/*/; do
	name=$(basename "$d")
	f=
	for c in compose.yaml compose.yml docker-compose.yml docker-compose.yaml; do
		[ -f "$d/$c" ] && { f=$c; break; }
	done
	[ "$f" ] || continue
	tmp=$(mktemp -d); cp -a "$d" "$tmp/$name"; rm -f "$tmp/$name/expect.lua"
	(
		cd "$tmp/$name" || exit 1
		unset GRAPHBUILD_PATH COMPOSE_PROFILES COMPOSE_PROJECT_NAME
		export DOCKER_HOST=unix:///nonexistent/graphbuild-test.sock NO_COLOR=1
		if [ -f test.env ]; then set -a; . ./test.env; set +a; fi
		"$GB" -f "$f" plan --json >../direct.json 2>../direct.err || { echo "plan -f $f failed:"; cat ../direct.err; exit 1; }
		"$GB" -f "$f" --base busybox:1.36=mirror.local/bb:1 plan --json >../direct-base.json 2>../direct.err ||
			{ echo "plan -f $f --base failed:"; cat ../direct.err; exit 1; }
		rm -rf .graphbuild
		"$GB" import -f "$f" 2>../import.err || { echo "import failed:"; cat ../import.err; exit 1; }
		"$GB" plan --json >../imported.json 2>../imported.err || { echo "plan of stack.lua failed:"; cat ../imported.err; exit 1; }
		"$GB" --base busybox:1.36=mirror.local/bb:1 plan --json >../imported-base.json 2>../imported.err ||
			{ echo "plan --base of stack.lua failed:"; cat ../imported.err; exit 1; }
		if "$GB" import -f "$f" 2>/dev/null; then echo "import overwrote stack.lua without --force"; exit 1; fi
		"$GB" import -f "$f" --force 2>/dev/null || { echo "import --force failed"; exit 1; }
	) >"$tmp/log" 2>&1
	if [ $? != 0 ]; then no "$name: $(cat "$tmp/log")"; rm -rf "$tmp"; continue; fi
	if diff -u "$tmp/direct.json" "$tmp/imported.json" >"$tmp/diff"; then ok "$name: same plan through -f $f and through import"
	else no "$name: plans differ"; cat "$tmp/diff"; fi
	# --base: the same substitution both ways, and shown
	if diff -u "$tmp/direct-base.json" "$tmp/imported-base.json" >"$tmp/diff" &&
		grep -q '"name": "mirror.local/bb:1", .*"base_for": "busybox:1.36 (--base)"' "$tmp/direct-base.json" &&
		! grep -q '"name": "busybox:1.36"' "$tmp/direct-base.json"; then
		ok "$name: --base busybox:1.36=... substitutes through -f $f and through import alike"
	else no "$name: --base"; cat "$tmp/diff" "$tmp/direct-base.json"; fi
	if [ -f "$d/expect.lua" ] && diff -u "$d/expect.lua" "$tmp/$name/stack.lua" >"$tmp/diff"; then ok "$name: import writes expect.lua"
	else no "$name: import output differs from expect.lua"; cat "$tmp/diff" 2>/dev/null; fi
	rm -rf "$tmp"
done
echo "$pass passed, $fail failed"
[ $fail = 0 ] && [ $pass -gt 0 ]
