#!/usr/bin/env bash
# build.sh - `graphbuild build` against a real private engine (issue 2/5):
# incremental builds (nothing rebuilt, only the changed image from its first
# changed step, .dockerignore'd edits ignored), the image's exact files, cache
# mounts, secrets absent from every layer, a failing run, Ctrl-C, reuse from a
# second directory and project, and bad input (vanished copy source, 100 MB of
# output, no engine, an unpullable reference). Uses the suite's engine
# (DOCKER_HOST) or starts its own; GB_BUSYBOX_TAR or makes the busybox base.
# Prints "ok N - name" lines and "N passed, M failed"; exit 1 on failure.
set -uo pipefail
. "$(dirname "$0")/../lib/integration.sh" build gbbt0 172.31.239.1/24

# A unique project per run: images are shared by key (that is the point), but
# tags and volumes stay apart from other tests.
P=gbbt$$
ncontainers() { docker ps -aq | wc -l; }
creates_between() { # T0 T1: container create events in [T0, T1]
	docker events --since "$1" --until "$2" --filter type=container --filter event=create --format '{{.ID}}' | wc -l
}

s=$w/s
mkdir -p "$s/src/sub" "$s/docs"
cp "$bbtar" "$s/base.tar"
echo "requests==1" >"$s/src/req.txt"
echo "print('hi')" >"$s/src/main.py"
echo "sub" >"$s/src/sub/mod.py"
ln -s main.py "$s/src/link.py"
echo "ignored" >"$s/src/notes.log"
echo "**/*.log" >"$s/.dockerignore"
echo "s3cr3t-$$-value" >"$s/token.txt"
cat >"$s/stack.lua" <<EOF
project "$P"
local bb = rootfs { tar = "base.tar" }
secret "tok" { file = "token.txt" }
local base = image "base" {
  from = bb,
  env = { LANG = "C", GBTEST = "$$" },  -- fresh keys per run on a shared engine
  run "echo base > /etc/base-marker",
}
local deps = image "deps" {
  from = base,
  workdir "/app",
  copy "src/req.txt",
  run { "n=\$(cat /cache/count 2>/dev/null || echo 0); echo \$((n+1)) > /cache/count; echo cache-count=\$((n+1))", cache = { "/cache" } },
}
image "app" {
  from = deps,
  run "echo pre-step",
  copy { "src/", to = "/app/src/" },
  run { "wc -c < /run/secrets/tok > /app/toklen", secrets = { tok = "/run/secrets/tok" } },
  cmd = { "cat", "/app/toklen" },
}
image "tool" {
  from = base,
  run "echo tool > /tool",
}
EOF
cd "$s"

# 1. first build builds everything
out=$("$GB" build --progress plain 2>&1); rc=$?
n1=$(echo "$out" | sed -n 's/.*cache-count=\([0-9]*\).*/\1/p')
[ $rc = 0 ] && echo "$out" | grep -q '^\[app\] built' && echo "$out" | grep -q '^\[tool\] built' &&
	echo "$out" | grep -q '^\[deps\] built' && pass "first build builds all" ||
	{ fail "first build builds all (rc $rc)"; echo "$out" | tail -20 | sed 's/^/# /'; }
[ "$(ncontainers)" = 0 ] && pass "no container left after a build" || fail "no container left after a build"

# 2. second build: nothing, and not one container created
t0=$(date +%s.%N)
out=$("$GB" build --progress plain 2>&1); rc=$?
t1=$(date +%s.%N)
[ $rc = 0 ] && echo "$out" | grep -q "nothing to build" && pass "second build builds nothing" ||
	{ fail "second build builds nothing"; echo "$out" | sed 's/^/# /'; }
[ "$(creates_between "$t0" "$t1")" = 0 ] && pass "second build creates no container" || fail "second build creates no container"

# 3. an edit of a file app selects rebuilds app only, from its first changed step
echo "print('changed')" >"$s/src/main.py"
out=$("$GB" build --progress plain 2>&1); rc=$?
if [ $rc = 0 ] && echo "$out" | grep -q '^\[app\] built' && ! echo "$out" | grep -qE '^\[(base|deps|tool)\] built' &&
	echo "$out" | grep -q '^\[app step 1/3\] cached: run "echo pre-step"' && ! echo "$out" | grep -q '^\[app step 1/3\] pre-step' &&
	echo "$out" | grep -q '^\[app step 2/3\] copy'; then
	pass "edit rebuilds only app, from its first changed step"
else
	fail "edit rebuilds only app, from its first changed step"; echo "$out" | sed 's/^/# /'
fi

# 4. an edit of an ignored file rebuilds nothing
echo "more" >>"$s/src/notes.log"
out=$("$GB" build --progress plain 2>&1)
echo "$out" | grep -q "nothing to build" && pass ".dockerignore'd edit rebuilds nothing" || fail ".dockerignore'd edit rebuilds nothing"

# 5. the image runs and has exactly the expected files
files=$(docker run --rm "$P/app" find /app | sort | tr '\n' ' ')
want="/app /app/src /app/src/link.py /app/src/main.py /app/src/req.txt /app/src/sub /app/src/sub/mod.py /app/toklen "
[ "$files" = "$want" ] && pass "image has exactly the expected files" || { fail "image has exactly the expected files"; echo "# got: $files"; }
[ "$(docker run --rm "$P/app" cat /app/src/main.py)" = "print('changed')" ] && pass "image has the edited content" || fail "image has the edited content"
[ "$(docker run --rm "$P/app" readlink /app/src/link.py)" = main.py ] && pass "symlinks are copied as symlinks" || fail "symlinks are copied as symlinks"
[ "$(docker run --rm "$P/app")" = "$(wc -c <"$s/token.txt")" ] && pass "image runs its cmd (secret was readable in the step)" || fail "image runs its cmd (secret was readable in the step)"

# 6. cache mount persists into the next build, absent from the image
out=$("$GB" build --rebuild=deps --progress plain 2>&1)
[ -n "$n1" ] && echo "$out" | grep -q "cache-count=$((n1 + 1))" && pass "cache mount survives into the next build" || { fail "cache mount survives into the next build"; echo "$out" | grep cache-count | sed 's/^/# /'; }
docker run --rm "$P/deps" sh -c 'test ! -e /cache/count' && pass "cache contents absent from the image" || fail "cache contents absent from the image"

# 7. the secret's content is in no layer
mkdir -p "$w/save" && docker save "$P/app" | tar -C "$w/save" -xf - &&
	for l in "$w"/save/*/layer.tar; do tar -xOf "$l" 2>/dev/null; done >"$w/layers.bin"
if [ -s "$w/layers.bin" ] && ! grep -q "s3cr3t-$$-value" "$w/layers.bin" && ! grep -rq "s3cr3t-$$-value" "$w/save"; then
	pass "secret content appears in no layer"
else
	fail "secret content appears in no layer"
fi

# 8. a failing run: exit 1, file:line and output, no container left
f=$w/fail; mkdir -p "$f"; cp "$bbtar" "$f/base.tar"
cat >"$f/stack.lua" <<EOF
project "${P}f"
image "bad" {
  from = rootfs { tar = "base.tar" },
  run "echo before-failure; echo to-stderr >&2; exit 3",
}
EOF
out=$(cd "$f" && "$GB" build --progress plain 2>&1); rc=$?
[ $rc = 1 ] && pass "failing run exits 1" || fail "failing run exits 1 (got $rc)"
echo "$out" | grep -q 'stack.lua:4: step 1/1 failed: run .*(exit 3)' && echo "$out" | grep -q '| before-failure' &&
	echo "$out" | grep -q '| to-stderr' && pass "failure names file:line, exit code and output" ||
	{ fail "failure names file:line, exit code and output"; echo "$out" | sed 's/^/# /'; }
[ "$(ncontainers)" = 0 ] && pass "failed run leaves no container" || fail "failed run leaves no container"

# 9. Ctrl-C during a long run
c=$w/int; mkdir -p "$c"; cp "$bbtar" "$c/base.tar"
cat >"$c/stack.lua" <<EOF
project "${P}i"
image "slow" {
  from = rootfs { tar = "base.tar" },
  run "echo started-$$; sleep 60",
}
EOF
(cd "$c" && exec "$GB" build --progress plain >"$w/int.log" 2>&1) &
pid=$!
for _ in $(seq 100); do grep -q "started-$$" "$w/int.log" 2>/dev/null && break; sleep 0.1; done
kill -INT $pid; wait $pid; rc=$?
[ $rc = 130 ] && pass "Ctrl-C exits 130" || { fail "Ctrl-C exits 130 (got $rc)"; sed 's/^/# /' "$w/int.log"; }
[ "$(ncontainers)" = 0 ] && pass "Ctrl-C leaves no container" || fail "Ctrl-C leaves no container"
sed -i 's/sleep 60/true/' "$c/stack.lua"
(cd "$c" && "$GB" build --progress quiet >/dev/null 2>&1) && pass "next build after Ctrl-C works" || fail "next build after Ctrl-C works"

# 10. the same stack elsewhere, another project: every image reused
cp -a "$s" "$w/copy" && sed -i "s/^project .*/project \"${P}c\"/" "$w/copy/stack.lua" && rm -rf "$w/copy/.graphbuild"
out=$(cd "$w/copy" && "$GB" build --progress plain 2>&1)
echo "$out" | grep -q "nothing to build" && pass "a copy with another project reuses every image" || { fail "a copy with another project reuses every image"; echo "$out" | tail -5 | sed 's/^/# /'; }
docker image inspect "${P}c/app:latest" >/dev/null 2>&1 && docker image inspect "${P}c/base:latest" >/dev/null 2>&1 &&
	pass "the reusing project gets its own <project>/<name>:latest tags" || fail "the reusing project gets its own <project>/<name>:latest tags"
# the copy never built anything, yet its next plan explains an edit against
# what it reused (the manifests were recorded), not "never built"
f=main.py
echo "# edited in the copy" >>"$w/copy/src/$f"
(cd "$w/copy" && NO_COLOR=1 "$GB" plan >"$w/copyplan.txt" 2>&1)
grep -q "file src/$f changed" "$w/copyplan.txt" && ! grep -q "never built" "$w/copyplan.txt" &&
	pass "a reusing checkout's plan names the edited file" || { fail "a reusing checkout's plan names the edited file"; sed 's/^/# /' "$w/copyplan.txt"; }

# 11. a copy source that vanishes between plan and build
v=$w/van; mkdir -p "$v"; cp "$bbtar" "$v/base.tar"; echo x >"$v/gone.txt"
cat >"$v/stack.lua" <<EOF
project "${P}v"
local first = image "first" {
  from = rootfs { tar = "base.tar" },
  run "echo first-$$; sleep 2",
}
image "second" {
  from = first,
  copy "gone.txt",
}
EOF
(cd "$v" && exec "$GB" build --progress plain >"$w/van.log" 2>&1) &
pid=$!
for _ in $(seq 100); do grep -q "first-$$" "$w/van.log" 2>/dev/null && break; sleep 0.1; done
rm -f "$v/gone.txt"; wait $pid; rc=$?
[ $rc = 1 ] && grep -q 'stack.lua:8: copy source gone.txt vanished since plan' "$w/van.log" &&
	pass "vanished copy source: clear error" || { fail "vanished copy source: clear error (rc $rc)"; sed 's/^/# /' "$w/van.log"; }
[ "$(ncontainers)" = 0 ] && pass "vanished source leaves no container" || fail "vanished source leaves no container"

# 12. 100 MB of output in constant memory
m=$w/big; mkdir -p "$m"; cp "$bbtar" "$m/base.tar"
cat >"$m/stack.lua" <<EOF
project "${P}m"
image "loud" {
  from = rootfs { tar = "base.tar" },
  run "yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-$$ | head -c 100000000",
}
EOF
# (ASan's quarantine would hold freed buffers: keep it small for this check)
rss=$(cd "$m" && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" \
	/usr/bin/time -f %M "$GB" build --progress plain 2>&1 >/dev/null | tail -1)
[ -n "$rss" ] && [ "$rss" -lt $([ "${GB_CONFIG:-release}" = asan ] && echo 150000 || echo 80000) ] && pass "100 MB of output: max RSS ${rss} KB" || fail "100 MB of output: max RSS ${rss:-?} KB"

# 13. engine unreachable
out=$(cd "$s" && DOCKER_HOST=unix:///nonexistent/docker.sock "$GB" build 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "cannot reach the Docker engine" && pass "unreachable engine: exit 1, clear message" ||
	{ fail "unreachable engine: exit 1, clear message (rc $rc)"; echo "$out" | sed 's/^/# /'; }

# 14. a reference that cannot be pulled
u=$w/pull; mkdir -p "$u"
cat >"$u/stack.lua" <<EOF
project "${P}u"
image "x" {
  from = "127.0.0.1:9/nosuch/image:1",
  run "true",
}
EOF
out=$(cd "$u" && "$GB" build --progress plain 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "cannot pull 127.0.0.1:9/nosuch/image:1" && pass "unpullable reference: exit 1, clear message" ||
	{ fail "unpullable reference: exit 1, clear message (rc $rc)"; echo "$out" | sed 's/^/# /'; }

# 15. -j: six independent 2 s steps in parallel
j=$w/par; mkdir -p "$j"; cp "$bbtar" "$j/base.tar"
{
	echo "project \"${P}j\""
	echo "local bb = rootfs { tar = \"base.tar\" }"
	for i in 1 2 3 4 5 6; do echo "image \"p$i\" { from = bb, run \"echo $i-$$; sleep 2\" }"; done
} >"$j/stack.lua"
(cd "$j" && "$GB" build p1 --progress quiet >/dev/null 2>&1) # the base, and a warm engine
s0=$(date +%s%N); (cd "$j" && "$GB" build --rebuild=p1 p1 --progress quiet >/dev/null 2>&1); s1=$(date +%s%N)
(cd "$j" && "$GB" build -j 6 --progress quiet >/dev/null 2>&1); s2=$(date +%s%N)
one=$(((s1 - s0) / 1000000)); six=$(((s2 - s1) / 1000000))
echo "# one sleep-2 image: ${one} ms; five more with -j 6: ${six} ms"
[ "$six" -lt $((one * 2)) ] && pass "-j 6 runs independent images in parallel" || fail "-j 6 runs independent images in parallel"

# 16. gc --keep 1: per node the newest build stays with its step images; an
#     older build goes; one a container uses stays; another project's current
#     image of the same node name stays (its <project>/app:latest tag).
g=$w/gc; mkdir -p "$g/src"; cp "$bbtar" "$g/base.tar"
gcstack() { # $1: project
	cat >"$g/stack.lua" <<EOF
project "$1"
local base = image "base" { from = rootfs { tar = "base.tar" }, env = { GBTEST = "gc$$" } }
image "app" { from = base, copy "src/", run "cat /src/v > /out" }
EOF
}
gckey() { (cd "$g" && "$GB" plan --json 2>/dev/null) | python3 -c 'import json,sys; print([i["key"] for i in json.load(sys.stdin)["images"] if i["name"]=="app"][0])'; }
has() { docker image inspect "graphbuild-cache:$1" >/dev/null 2>&1; }
gcstack "${P}o"; echo other >"$g/src/v"
(cd "$g" && "$GB" build --progress quiet >/dev/null 2>&1); kother=$(gckey)
gcstack "${P}g"
for v in 1 2 3; do
	echo "v$v" >"$g/src/v"
	(cd "$g" && "$GB" build --progress quiet >/dev/null 2>&1)
	eval "k$v=\$(gckey)"
done
cid=$(docker create "graphbuild-cache:$k1" true)
out=$(cd "$g" && "$GB" gc --keep 1 2>&1); rc=$?
echo "$out" | sed 's/^/#   /'
[ $rc = 0 ] && has "$k3" && ! has "$k2"
checked "gc --keep 1: the newest build stays, the one before goes"
has "$k1"; checked "gc: an image a container uses stays"
has "$kother"; checked "gc: another project's current image of the same node name stays"
out=$(cd "$g" && "$GB" build --progress plain 2>&1)
echo "$out" | grep -q "nothing to build"; checked "gc: the current stack still builds nothing"
sed -i 's|cat /src/v > /out|cat /src/v > /out2|' "$g/stack.lua"
out=$(cd "$g" && "$GB" build --progress plain 2>&1)
echo "$out" | grep -q "cached: copy"; checked "gc: the kept build's step images still serve as cache" || echo "$out" | sed 's/^/#   /'
docker rm "$cid" >/dev/null 2>&1

# 17. a rootfs command that fails (debootstrap failing, or missing): exit 1,
#     the stack line, the command, its exit code and its output tail
r=$w/rootfs; mkdir -p "$r"
cat >"$r/stack.lua" <<EOF
project "${P}r"
local debian = require "stacks.debian"
image "a" { from = rootfs { command = "echo fetching $$; echo 'E: no such suite' >&2; exit 4" } }
image "b" { from = debian.rootfs { suite = "bookworm" } }
EOF
n0=$(ncontainers)
mkdir -p "$r/tmp"
out=$(cd "$r" && PATH=/usr/bin:/bin TMPDIR=$r/tmp "$GB" build --progress plain 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "stack.lua:3: rootfs command failed (exit 4)" && echo "$out" | grep -q "| E: no such suite"
checked "failing rootfs command: exit 1, its line, exit code and output tail" || echo "$out" | sed 's/^/#   /'
echo "$out" | grep -q "stack.lua:4: rootfs command failed (exit 127)" && echo "$out" | grep -q "| debootstrap is not installed: apt-get install debootstrap"
checked "debootstrap missing: the caller's line and how to install it"
[ "$(ncontainers)" = "$n0" ] && [ -z "$(ls -A "$r/tmp")" ]
checked "failing rootfs: no container and no leftover \$out directory"

# 18. multi-stage: copy out of another image (its files, a symlink as a
#     symlink, nothing else of it); adoption mode: a Dockerfile built through
#     the engine with only the non-ignored files as context, args applied
m=$w/ms; mkdir -p "$m/src" "$m/legacy"; cp "$bbtar" "$m/base.tar"
echo "hello $$" >"$m/src/a.txt"
echo "in context" >"$m/legacy/kept.txt"
echo "ignored" >"$m/legacy/skip.log"
echo "*.log" >"$m/legacy/.dockerignore" # the context's own .dockerignore
cat >"$m/stack.lua" <<EOF
project "${P}m"
local base = image "base" { from = rootfs { tar = "base.tar" }, env = { GBTEST = "ms$$" } }
local builder = image "builder" {
  from = base, workdir "/w", copy "src/",
  run "mkdir -p /out && cat src/a.txt src/a.txt > /out/double.txt && ln -s double.txt /out/link && echo junk > /junk",
}
image "slim" { from = base, copy { from = builder, "/out", to = "/app" }, cmd = { "cat", "/app/link" } }
image "legacy" { context = "legacy", dockerfile = "Dockerfile", args = { WHO = "graphbuild-$$" } }
image "whole" { dockerfile = "Dockerfile.whole" } -- the stack's directory, .graphbuild/ and all, is the context
EOF
cat >"$m/Dockerfile.whole" <<EOF
FROM ${P}m/base:latest
COPY . /ctx/
EOF
cat >"$m/legacy/Dockerfile" <<EOF
FROM ${P}m/base:latest
ARG WHO=nobody
COPY . /legacy/
RUN echo "built for \$WHO" > /who
CMD ["cat", "/who"]
EOF
(cd "$m" && "$GB" build base --progress quiet >/dev/null 2>&1) # the Dockerfile's FROM
out=$(cd "$m" && "$GB" build --progress plain 2>&1); rc=$?
[ $rc = 0 ]; checked "multi-stage and adoption stack builds" || echo "$out" | tail -20 | sed 's/^/#   /'
[ "$(docker run --rm "${P}m/slim")" = "$(printf 'hello %s\nhello %s' $$ $$)" ]
checked "copy { from = builder }: the file arrives (read through the copied symlink)"
[ "$(docker run --rm "${P}m/slim" readlink /app/link)" = double.txt ] && ! docker run --rm "${P}m/slim" test -e /junk
checked "copy { from = builder }: the symlink stays a symlink, nothing else of builder comes along"
[ "$(docker run --rm "${P}m/legacy")" = "built for graphbuild-$$" ]; checked "dockerfile =: built by the engine with args"
[ "$(docker run --rm "${P}m/legacy" ls -A /legacy | tr '\n' ' ')" = ".dockerignore Dockerfile kept.txt " ]
checked "dockerfile =: the context holds only the non-ignored files"
[ -n "$(docker run --rm "${P}m/whole" ls /ctx/src)" ] && ! docker run --rm "${P}m/whole" test -e /ctx/.graphbuild
checked "dockerfile = with the stack's directory as context: built, without graphbuild's .graphbuild/ state"
out=$(cd "$m" && "$GB" build --progress plain 2>&1)
echo "$out" | grep -q "nothing to build"; checked "multi-stage and adoption: a second build builds nothing"
echo "changed $$" >"$m/src/a.txt"
out=$(cd "$m" && "$GB" plan 2>&1)
echo "$out" | grep -q "build *builder" && echo "$out" | grep -q "build *slim" && echo "$out" | grep -q "reuse *legacy" &&
	echo "$out" | grep -q "build *whole"
checked "an edit in builder's files rebuilds builder, the image copying from it and whole (its context), not legacy" || echo "$out" | sed 's/^/#   /'

done_tests
