#!/usr/bin/env bash
# jail.sh - the context is a jail and no temporary file can be hijacked
# (issue 1b/7, DEFECTS 31, 36, 37, 38, 42): symlinks planted in a context
# (to /etc, to /etc/shadow, dangling) are refused at plan time naming the link
# and its target, with openat2 and with the O_NOFOLLOW walk
# (GRAPHBUILD_NO_OPENAT2=1); a link to an inside directory or file works on a
# real build; a missing Dockerfile says so; links planted at the names
# graphbuild used for its temporary files (statcache.tmp.PID,
# manifests/app.tmp.PID, the rootfs tarball beside $out) are never followed.
# Uses the suite's engine (DOCKER_HOST) or starts its own.
# Prints "ok N - name" lines and "N passed, M failed"; exit 1 on failure.
set -uo pipefail
. "$(dirname "$0")/../lib/integration.sh" jail gbjl0 172.31.230.1/24

P=gbjl$$
noengine=unix:///nonexistent/graphbuild-jail.sock
s=$w/s
mkdir -p "$s/real/sub"
cp "$bbtar" "$s/base.tar"
echo "inside-$$" >"$s/real/a.txt"
echo "sub" >"$s/real/sub/b.txt"
ln -s /etc "$s/etclink"
ln -s /etc/shadow "$s/shadow_link"
ln -s nowhere "$s/dangling"
ln -s real "$s/inlink"
ln -s real/a.txt "$s/filelink"
ln -s "$s/real" "$s/absin"
ln -s ../.. "$s/real/up"
cd "$s"

stack() { # copy-step...
	{ echo "project \"$P\""; echo 'image "app" {'; echo '  from = rootfs { tar = "base.tar" },'
	  for c in "$@"; do echo "  copy $c,"; done; echo '}'; } >"$s/stack.lua"
}
# refused COPY MESSAGE: plan is rc 2 naming the link, with openat2 and without
refused() {
	local copy=$1 want=$2 mode out rc
	stack "$copy"
	for mode in "" 1; do
		out=$(GRAPHBUILD_NO_OPENAT2=$mode DOCKER_HOST=$noengine "$GB" plan 2>&1); rc=$?
		[ $rc = 2 ] && grep <<<"$out" -qF "stack.lua:4: image \"app\": " && grep <<<"$out" -qF "$want"
		checked "copy $copy refused at plan${mode:+ (O_NOFOLLOW walk)}: $want" || echo "$out" | sed "s/^/# rc $rc: /"
	done
}

# 1. links leaving the context are refused at plan time, naming link and target
refused '"etclink/hostname"' "'etclink' is a symlink to '/etc', a path outside the context"
refused '{ "etclink/", to = "/y/" }' "'etclink' is a symlink to '/etc', a path outside the context"
refused '"shadow_link"' "'shadow_link' is a symlink to '/etc/shadow', a path outside the context"
refused '"real/up/"' "'real/up' is a symlink to '../..', a path outside the context"
refused '"dangling"' "'dangling' is a dangling symlink (to 'nowhere')"
refused '"missing"' "copy source 'missing' not found in context"
[ ! -e "$s/.graphbuild" ]; checked "a refused plan writes no state"

# 1b. inputs (read, rootfs inputs and tar) stay beneath the stack directory too
echo "motd-$$" >"$s/real/motd"
ln -s /etc/hostname "$s/hostlink"
inputs_refused() { # LUA-LINE MESSAGE
	printf 'project "%s"\n%s\n' "$P" "$1" >"$s/stack.lua"
	out=$(DOCKER_HOST=$noengine "$GB" plan 2>&1); rc=$?
	[ $rc = 2 ] && grep <<<"$out" -qF "stack.lua:2: " && grep <<<"$out" -qF "$2"
	checked "$1 refused: $2" || echo "$out" | sed "s/^/# rc $rc: /"
}
inputs_refused 'local t = read "hostlink"' "read: 'hostlink': 'hostlink' is a symlink to '/etc/hostname', a path outside the context"
inputs_refused 'local t = read "/etc/hostname"' "read: '/etc/hostname' is outside . (read and rootfs inputs stay beneath it)"
inputs_refused 'local t = read "../x"' "read: '../x' is outside ."
inputs_refused 'local t = read "dangling"' "read: 'dangling': 'dangling' is a dangling symlink (to 'nowhere')"
inputs_refused 'rootfs { command = "true", inputs = { "etclink/passwd" } }' "'inputs' item 'etclink/passwd': 'etclink' is a symlink to '/etc', a path outside the context"
ln -s "$bbtar" "$s/outside.tar"
inputs_refused 'image "i" { from = rootfs { tar = "outside.tar" } }' "'tar' 'outside.tar': 'outside.tar' is a symlink to '$bbtar', a path outside the context"
inputs_refused 'image "i" { from = rootfs { tar = "../base.tar" } }' "'tar' '../base.tar' is outside . (read and rootfs inputs stay beneath it)"
inputs_refused 'image "i" { from = rootfs { tar = "etclink/passwd" } }' "'tar' 'etclink/passwd': 'etclink' is a symlink to '/etc', a path outside the context"
rm -f "$s/outside.tar"
printf 'project "%s"\nassert(read "inlink/motd" == "motd-%s\\n")\n' "$P" "$$" >"$s/stack.lua"
out=$(DOCKER_HOST=$noengine "$GB" plan 2>&1); rc=$?
[ $rc = 0 ]; checked "read through an inside link works" || echo "$out" | sed "s/^/# rc $rc: /"

# 2. a missing Dockerfile says it is the Dockerfile
printf 'project "%s"\nimage "app" { dockerfile = "Dockerfile" }\n' "$P" >"$s/stack.lua"
out=$(DOCKER_HOST=$noengine "$GB" plan 2>&1); rc=$?
[ $rc = 2 ] && grep <<<"$out" -qF "image \"app\": dockerfile 'Dockerfile' not found in context" &&
	! grep <<<"$out" -q "copy source"
checked "a missing Dockerfile is named as the Dockerfile" || echo "$out" | sed 's/^/# /'

# 3. links that stay inside (relative, absolute, to a directory, to a file) work on a real build
stack '{ "inlink/", to = "/in/" }' '{ "filelink", to = "/f.txt" }' '{ "absin/sub/b.txt", to = "/b.txt" }'
out=$("$GB" build --progress plain 2>&1); rc=$?
[ $rc = 0 ]; checked "a stack copying through inside links builds" || echo "$out" | tail -15 | sed 's/^/# /'
got=$(engine_run "$P/app" cat /in/a.txt /f.txt /b.txt /in/sub/b.txt 2>&1 | tr '\n' ' ')
[ "$got" = "inside-$$ inside-$$ sub sub " ]; checked "the image holds the inside files" || echo "# got: $got"
got=$(engine_run "$P/app" readlink /in/up 2>&1)
[ "$got" = "../.." ]; checked "a link inside a copied directory stays a link" || echo "# got: $got"

# 4. links planted at the state's temp names are never followed (42)
echo "victim-1" >"$w/victim"
bash -c 'ln -s "$1" .graphbuild/statcache.tmp.$$; exec "$2" plan' _ "$w/victim" "$GB" >/dev/null 2>&1
echo changed >>"$s/real/a.txt" # so the stat cache is written again
bash -c 'ln -s "$1" .graphbuild/statcache.tmp.$$; exec "$2" plan' _ "$w/victim" "$GB" >"$w/plan.out" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(cat "$w/victim")" = victim-1 ] && [ -f .graphbuild/statcache ] && [ ! -L .graphbuild/statcache ]
checked "plan does not write through a link planted at statcache.tmp.PID" || { echo "# rc $rc, victim: $(cat "$w/victim")"; sed 's/^/# /' "$w/plan.out"; }
rm -f .graphbuild/statcache.tmp.*
bash -c 'ln -s "$1" .graphbuild/manifests/app.tmp.$$; exec "$2" build --progress plain' _ "$w/victim" "$GB" >"$w/build.out" 2>&1; rc=$?
[ $rc = 0 ] && [ "$(cat "$w/victim")" = victim-1 ] && [ -f .graphbuild/manifests/app ] && [ ! -L .graphbuild/manifests/app ]
checked "build does not write through a link planted at manifests/app.tmp.PID" || { echo "# rc $rc, victim: $(cat "$w/victim")"; tail -5 "$w/build.out" | sed 's/^/# /'; }
rm -f .graphbuild/manifests/*.tmp.* .graphbuild/statcache.tmp.*

# 5. the rootfs command's tarball: a link planted beside $out is not followed
#    (the command stands in for another local user watching the temp dir),
#    and nothing is left in TMPDIR afterwards (38)
mkdir -p "$w/tmp"
cat >"$s/stack.lua" <<EOF
project "$P"
image "rf" {
  from = rootfs { command = "ln -s $w/victim \"\$out.tar\"; tar -xf $bbtar -C \"\$out\"; echo $$ > \"\$out/marker\"" },
  cmd = { "cat", "/marker" },
}
EOF
out=$(TMPDIR=$w/tmp "$GB" build --progress plain 2>&1); rc=$?
[ $rc = 0 ] && [ "$(cat "$w/victim")" = victim-1 ]
checked "the rootfs tarball is not written through a link planted at \$out.tar" || { echo "# rc $rc, victim size $(wc -c <"$w/victim")"; echo "$out" | tail -5 | sed 's/^/# /'; }
[ "$(engine_run "$P/rf" 2>&1)" = "$$" ]; checked "the rootfs command's image is built"
[ -z "$(ls -A "$w/tmp")" ]; checked "no temporary file is left in TMPDIR" || ls -la "$w/tmp" | sed 's/^/# /'

# 6. registry scheme messages (46): https:// to a server speaking plain HTTP
#    says so; an explicit http:// to a non-loopback host warns of clear text
#    (with no engine, plan makes no lookup: nothing is sent to 192.0.2.1)
printf 'project "%s"\nimage "never" { from = rootfs { tar = "base.tar" }, env = { N = "%s-%s" } }\n' "$P" "$$" "$RANDOM" >"$s/stack.lua"
python3 "$top/tests/lib/plain-http.py" "$w/port" >/dev/null 2>&1 & hp=$!
for _ in $(seq 100); do [ -s "$w/port" ] && break; sleep 0.1; done
out=$(timeout 60 "$GB" plan --cache "https://127.0.0.1:$(cat "$w/port")/x" 2>&1); rc=$?
kill $hp 2>/dev/null; wait $hp 2>/dev/null
[ $rc = 0 ] && grep <<<"$out" -qF "this registry speaks plain HTTP; graphbuild uses it only on loopback (or with \`http://\` and a warning)" &&
	! grep <<<"$out" -q "wrong version number"
checked "a plain-HTTP registry reached over https:// is named as plain HTTP" || echo "$out" | sed 's/^/# /'
out=$(DOCKER_HOST=$noengine timeout 60 "$GB" plan --cache http://192.0.2.1:5000/x 2>&1); rc=$?
[ $rc = 0 ] && [ "$(echo "$out" | grep -c "clear text")" = 1 ] &&
	grep <<<"$out" -qF "cache http://192.0.2.1:5000/x: plain http:// to a non-loopback registry: lookups and transfers go in clear text"
checked "http:// to a non-loopback registry warns once of clear text" || echo "$out" | sed 's/^/# /'

docker rmi -f "$P/app" "$P/rf" >/dev/null 2>&1
done_tests
