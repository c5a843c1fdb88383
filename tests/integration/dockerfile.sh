#!/usr/bin/env bash
# dockerfile.sh - the Dockerfile front end against the engine's own classic
# builder (the oracle): for each Dockerfile under tests/dockerfile/oracle-*,
# build it with `DOCKER_BUILDKIT=0 docker build` and with graphbuild (a
# stack.lua made of test_dockerfile --lua's text), then compare the images'
# filesystems (path, type, mode, owner, symlink target, content hash; not
# mtimes) and their config (Env, Cmd, Entrypoint, WorkingDir, User,
# ExposedPorts, Volumes, Labels but graphbuild's, StopSignal, Healthcheck).
# The busybox base is tagged locally as busybox:1.36 (no registry here),
# with the PATH every registry image has (see docs/dockerfile.md).
# Prints "ok N - name" lines and "N passed, M failed"; exit 1 on failure.
set -uo pipefail
. "$(dirname "$0")/../lib/integration.sh" df gbh8 172.31.208.1/24

if [ "${GB_ENGINE_KIND:-docker}" = podman ]; then
	# the oracle is dockerd's classic builder; Podman's /build is Buildah
	skip "the Dockerfile oracle" "Podman has no classic builder"
	done_tests
	exit 0
fi
DRV=${GB_DF_DRIVER:-$(dirname "$GB")/test_dockerfile}
[ -x "$DRV" ] || { fail "no driver at $DRV"; done_tests; exit 1; }
docker import --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$bbtar" busybox:1.36 >/dev/null || { fail "tag the busybox base as busybox:1.36"; done_tests; exit 1; }

# listing IMAGE: one line per file of a container's filesystem.
listing() {
	local c
	c=$(docker create "$1" /bin/true) || return 1
	docker export "$c" | python3 -c '
import sys, tarfile, hashlib
t = tarfile.open(fileobj=sys.stdin.buffer, mode="r|")
rows = []
for m in t:
    h = ""
    if m.isfile():
        h = hashlib.sha256(t.extractfile(m).read()).hexdigest()[:16]
    rows.append("%s %s %o %d:%d %s %s" % (m.name.rstrip("/"), m.type.decode(), m.mode, m.uid, m.gid, m.linkname, h))
print("\n".join(sorted(rows)))'
	docker rm -f "$c" >/dev/null
}

# config IMAGE: the compared config fields, one a line, normalised.
config() {
	docker image inspect --format '{{json .Config}}' "$1" | python3 -c '
import sys, json
c = json.load(sys.stdin)
for k in ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal", "Healthcheck"]:
    v = c.get(k)
    if k == "Labels" and v:
        v = {a: b for a, b in v.items() if not a.startswith("graphbuild")}
    if k == "Env" and v:
        v = sorted(v)  # graphbuild keeps env as a map (docs/dockerfile.md)
    if v in ({}, [], ""):
        v = None
    print(k, json.dumps(v, sort_keys=True))'
}

for d in "$top"/tests/dockerfile/oracle-*/; do
	name=$(basename "$d")
	s=$w/$name
	cp -a "$d" "$s"
	target=
	[ -f "$s/target" ] && target=$(cat "$s/target")
	if ! DOCKER_BUILDKIT=0 docker build -q ${target:+--target "$target"} -t "gbdf-oracle/$name" "$s" >"$w/$name.classic" 2>&1; then
		fail "$name: the classic builder builds it ($(tail -3 "$w/$name.classic"))"
		continue
	fi
	{ echo "project \"gbdf$$$name\""; "$DRV" --lua "$s/Dockerfile" ${target:+--target "$target"} --prefix app; } >"$s/stack.lua" 2>"$w/$name.conv" ||
		{ fail "$name: converts ($(cat "$w/$name.conv"))"; continue; }
	rm -f "$s/Dockerfile.out"
	vols=$(docker volume ls -q | sort)
	if ! (cd "$s" && "$GB" build >"$w/$name.gb" 2>&1); then
		fail "$name: graphbuild builds it ($(tail -5 "$w/$name.gb"))"
		continue
	fi
	# steps on a base with VOLUME get anonymous volumes; none may outlive them
	if [ "$(docker volume ls -q | sort)" = "$vols" ]; then
		pass "$name: the build leaves no volume behind"
	else
		fail "$name: the build leaves no volume behind: $(comm -13 <(echo "$vols") <(docker volume ls -q | sort) | tr '\n' ' ')"
	fi
	ours="gbdf$$$name/app:latest"
	listing "gbdf-oracle/$name" >"$w/$name.fs.classic"
	listing "$ours" >"$w/$name.fs.gb"
	if diff "$w/$name.fs.classic" "$w/$name.fs.gb" >"$w/$name.fs.diff"; then
		pass "$name: same filesystem as the classic builder ($(wc -l <"$w/$name.fs.gb") entries)"
	else
		fail "$name: same filesystem as the classic builder: $(head -20 "$w/$name.fs.diff" | tr '\n' '|')"
	fi
	config "gbdf-oracle/$name" >"$w/$name.cfg.classic"
	config "$ours" >"$w/$name.cfg.gb"
	if diff "$w/$name.cfg.classic" "$w/$name.cfg.gb" >"$w/$name.cfg.diff"; then
		pass "$name: same config as the classic builder"
	else
		fail "$name: same config as the classic builder: $(tr '\n' '|' <"$w/$name.cfg.diff")"
	fi
done

# RUN --network=none (BuildKit's; the classic builder has no such flag, so
# no oracle): the step sees no interface but lo, the next one the default
# network's too.
n=$w/netnone
mkdir -p "$n"
printf 'FROM busybox:1.36\nRUN --network=none ls /sys/class/net > /none.txt\nRUN ls /sys/class/net > /default.txt\n' >"$n/Dockerfile"
{ echo "project \"gbdfnet$$\""; "$DRV" --lua "$n/Dockerfile" --prefix app; } >"$n/stack.lua" 2>"$w/net.conv" &&
	(cd "$n" && "$GB" build >"$w/net.gb" 2>&1)
checked "RUN --network=none builds" || tail -5 "$w/net.gb" "$w/net.conv"
c=$(docker create "gbdfnet$$/app:latest" true 2>/dev/null)
check "RUN --network=none: only lo" [ "$(docker cp "$c:/none.txt" - 2>/dev/null | tar -xO | tr '\n' ' ')" = "lo " ]
check "the next RUN: the default network" grep -qx eth0 <(docker cp "$c:/default.txt" - 2>/dev/null | tar -xO)
[ -n "$c" ] && docker rm -f "$c" >/dev/null
done_tests
