#!/usr/bin/env bash
# compose.sh - `graphbuild -f docker-compose.yml up` of the seed-shaped
# fixture tests/compose/seed (db with a healthcheck, a migrate oneshot, web
# and worker sharing one build, .env, env_file, a profile) against a real
# private engine, its images tagged locally (no Docker Hub: the busybox base
# is imported as busybox:1.36). Order and readiness from engine events:
# migrate starts after db is healthy, web starts after migrate exited 0.
# Also: .env does not leak into containers, env_file does; the profile
# service starts only with --profile; down removes everything.
set -uo pipefail
. "$(dirname "$0")/../lib/integration.sh" compose gbh7 172.31.207.1/24
P=gbc$$
s=$w/seed
cleanup() {
	[ -d "$s" ] && (cd "$s" && PROJECT=$P "$GB" -f docker-compose.yml down --volumes -t 0 >/dev/null 2>&1)
	integration_cleanup
}
trap cleanup EXIT
cp -a "$top/tests/compose/seed" "$s"
rm -f "$s/expect.lua"
docker image inspect busybox:1.36 >/dev/null 2>&1 || docker import "$bbtar" busybox:1.36 >/dev/null
docker image inspect busybox:1.36 >/dev/null; checked "busybox:1.36 tagged locally"

t0=$(date +%s)
(cd "$s" && PROJECT=$P "$GB" -f docker-compose.yml up -t 0) >"$w/up.out" 2>&1
checked "up from docker-compose.yml" || cat "$w/up.out"
t1=$(($(date +%s) + 1))
state() { docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$P-$1" 2>/dev/null; }
check "db running" [ "$(state db)" = "running 0" ]
check "web running" [ "$(state web)" = "running 0" ]
check "worker running" [ "$(state worker)" = "running 0" ]
check "migrate ran to completion" [ "$(state migrate)" = "exited 0" ]
check "the profile service is not started" [ -z "$(state debug)" ]
check "web and worker share one image" [ "$(docker inspect -f '{{.Image}}' "$P-web")" = "$(docker inspect -f '{{.Image}}' "$P-worker")" ]

envs=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$P-web")
check "env_file reaches the container" grep -qx 'WORKERS=2' <<<"$envs"
check "quoted env_file value" grep -qx 'GREETING=hello world' <<<"$envs"
check ".env interpolates" grep -qx 'DATABASE_URL=postgresql://postgres:dev@db/app' <<<"$envs"
check ".env does not leak" bash -c "! grep -q SECRET_ONLY_IN_DOTENV <<<\"\$0\"" "$envs"
check "published on the host IP" bash -c "docker port $P-web 8000/tcp | grep -qx '127.0.0.1:18000'"

# order from engine events (nanoseconds)
ev() { docker events --since "$t0" --until "$t1" --filter type=container --filter "container=$P-$1" \
	--filter "event=$2" --format '{{.TimeNano}}' | head -n1; }
db_healthy=$(docker events --since "$t0" --until "$t1" --filter type=container --filter "container=$P-db" \
	--format '{{.TimeNano}} {{.Action}}' | awk '/health_status: healthy/ {print $1; exit}')
db_start=$(ev db start); mig_start=$(ev migrate start); mig_die=$(ev migrate die); web_start=$(ev web start)
if [ -n "$db_start" ] && [ -n "$mig_start" ] && [ -n "$web_start" ]; then
	check "migrate starts after db" [ "$mig_start" -gt "$db_start" ]
	check "web starts after migrate exited" [ -n "$mig_die" ] && [ "$web_start" -gt "$mig_die" ]
	# graphbuild probes itself: the engine reports health only if the image has
	# a HEALTHCHECK; the ready file the probe tests exists before migrate starts
	if [ -n "$db_healthy" ]; then check "migrate starts after db is healthy" [ "$mig_start" -gt "$db_healthy" ]
	else check "db's probe file existed when migrate ran" docker exec "$P-db" test -f /tmp/ready; fi
else
	skip "order from events" "the engine's /events returns no past container events"
fi

started=$(docker inspect -f "{{.State.StartedAt}}" "$P-web")
(cd "$s" && PROJECT=$P "$GB" -f docker-compose.yml up -t 0) >"$w/up2.out" 2>&1
checked "second up" || cat "$w/up2.out"
check "second up recreates nothing" [ "$(docker inspect -f '{{.State.StartedAt}}' "$P-web")" = "$started" ]
(cd "$s" && PROJECT=$P "$GB" -f docker-compose.yml --profile debug up -t 0) >"$w/up3.out" 2>&1
checked "up --profile debug" || cat "$w/up3.out"
check "the profile service runs with --profile" [ "$(state debug)" = "running 0" ]
(cd "$s" && PROJECT=$P "$GB" -f docker-compose.yml --profile debug down --volumes -t 0) >"$w/down.out" 2>&1
checked "down" || cat "$w/down.out"
check "no container left" [ "$(docker ps -aq --filter "name=^$P-" | wc -l)" = 0 ]
done_tests
