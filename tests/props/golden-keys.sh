#!/usr/bin/env bash
# golden-keys.sh - the keys `graphbuild plan --json` prints for fixed stacks
# (tests/keys/*/ and the demo, examples/demo) must not change: a refactor
# that changes a key would rebuild every user's images. Each case is planned
# in a fresh copy against no engine; its "name key" lines are compared with
# tests/keys/NAME.keys. A deliberate key change (KEY_FORMAT, docs/keys.md)
# regenerates them: GB_KEYS_UPDATE=1 bash tests/props/golden-keys.sh.
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
GB=${GB:-$top/build/release/graphbuild}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
cases=("$top"/tests/keys/*/ "$top/examples/demo/")
for d in "${cases[@]}"; do
	name=$(basename "$d"); want=$top/tests/keys/$name.keys
	rm -rf "$w/c"; mkdir -p "$w/c"; cp -a "$d" "$w/c/$name"
	# the demo's modules come from the checkout's stacks/ (GRAPHBUILD_PATH unset)
	[ "$name" = demo ] && cp -a "$top/stacks" "$w/c/stacks"
	(cd "$w/c/$name" && unset GRAPHBUILD_PATH && DOCKER_HOST=unix:///nonexistent/graphbuild-test.sock NO_COLOR=1 \
		"$GB" plan --json) >"$w/json" 2>"$w/err" || { fail "$name: plan --json fails: $(head -3 "$w/err")"; continue; }
	sed -n 's/.*"name": "\([^"]*\)", "kind": "[a-z]*", "key": "\([0-9a-f]*\)".*/\1 \2/p' "$w/json" >"$w/got"
	if [ "${GB_KEYS_UPDATE:-}" = 1 ]; then cp "$w/got" "$want"; fi
	check "$name: at least one key" test -s "$w/got"
	if diff -u "$want" "$w/got" >"$w/diff" 2>&1; then check "$name: keys as recorded in tests/keys/$name.keys" true
	else fail "$name: keys differ from tests/keys/$name.keys"; sed 's/^/#   /' "$w/diff"; fi
done
done_tests
