#!/usr/bin/env bash
# config.sh - what the stack says ends up in the engine, checked with
# `docker inspect` against a real private engine: the image config (cmd,
# entrypoint, env, workdir, user, expose, labels), a run step's own env, a
# `user` step, `read` as an input; the container settings (entrypoint,
# command, user, workdir, labels, restart policy, a published port on one
# address, a read-only bind mount); `logs -f` following a service across its
# recreate; `--recreate-deps`; `up --rebuild`.
# Uses the suite's engine (DOCKER_HOST) or starts its own; GB_BUSYBOX_TAR or
# makes the busybox base. Prints "ok N - name" and "N passed, M failed".
set -uo pipefail
. "$(dirname "$0")/../lib/integration.sh" cfg gbcf0 172.31.237.1/24
logpid=
cleanup() {
	[ -n "$logpid" ] && kill "$logpid" 2>/dev/null
	[ -f "$w/s/stack.lua" ] && (cd "$w/s" && "$GB" down --volumes -t 0 >/dev/null 2>&1)
	integration_cleanup
}
trap cleanup EXIT

P=gbcf$$
s=$w/s
mkdir -p "$s/ro"
cp "$bbtar" "$s/base.tar"
echo "from-read-$$" >"$s/motd"
echo "host file" >"$s/ro/f"
port=$((30000 + $$ % 20000))
stack() { # $1: the probe service's MARK env value
	cat >"$s/stack.lua" <<EOF
project "$P"
local motd = read "motd"
local base = image "base" { from = rootfs { tar = "base.tar" }, env = { GBTEST = "$$" } }
local app = image "app" {
  from = base,
  run { "echo \"step sees STEPVAR=\$STEPVAR\" > /step-env", env = { STEPVAR = "only-here" } },
  run ("echo '" .. motd:gsub("\\n", "") .. "' > /motd"),
  user "nobody",
  run "id -u > /tmp/uid",
  env = { APPENV = "yes" },
  workdir = "/srv",
  user = "root",
  entrypoint = { "/bin/sh", "-c" },
  cmd = { "echo from-cmd" },
  expose = { 8080, 9090 },
  labels = { team = "core", tier = "1" },
}
service "web" {
  image = app,
  entrypoint = { "/bin/httpd" },
  command = { "-f", "-p", "80", "-h", "/" },
  ports = { "127.0.0.1:$port:80" },
  volumes = { "./ro:/data:ro" },
  restart = "on-failure",
  user = "root",
  workdir = "/data",
  labels = { owner = "me" },
  stop_timeout = 0,
  health = tcp(80),
}
service "talker" {
  image = base,
  env = { MARK = "$1" },
  command = "echo talker says \$MARK; exec sleep 1000",
  depends_on = { "web" },
  stop_timeout = 0,
}
EOF
}
stack one
cd "$s"
insp() { docker inspect -f "$1" "$2" 2>/dev/null; }
img=$P/app

# 1. the image config
"$GB" build --progress plain >"$w/b1.out" 2>&1
check "build exits 0" [ $? = 0 ] || sed 's/^/#   /' "$w/b1.out"
check "cmd" [ "$(insp '{{json .Config.Cmd}}' "$img")" = '["echo from-cmd"]' ]
check "entrypoint" [ "$(insp '{{json .Config.Entrypoint}}' "$img")" = '["/bin/sh","-c"]' ]
env_json=$(insp '{{json .Config.Env}}' "$img")
case $env_json in *'"APPENV=yes"'*'"GBTEST='$$'"'* | *'"GBTEST='$$'"'*'"APPENV=yes"'*) pass "env holds APPENV and the parent's GBTEST" ;; *) fail "env holds APPENV and the parent's GBTEST: $env_json" ;; esac
case $env_json in *STEPVAR*) fail "a run step's env is not in the image config: $env_json" ;; *) pass "a run step's env is not in the image config" ;; esac
check "workdir" [ "$(insp '{{.Config.WorkingDir}}' "$img")" = /srv ]
check "user (the key wins over the user step)" [ "$(insp '{{.Config.User}}' "$img")" = root ]
check "expose" [ "$(insp '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' "$img")" = "8080/tcp 9090/tcp " ]
check "labels, with graphbuild.key and graphbuild.node" [ "$(insp '{{index .Config.Labels "team"}} {{index .Config.Labels "tier"}} {{index .Config.Labels "graphbuild.node"}} {{len (index .Config.Labels "graphbuild.key")}}' "$img")" = "core 1 app 32" ]
check "a run step sees its own env" [ "$(engine_run --entrypoint cat "$img" /step-env)" = "step sees STEPVAR=only-here" ]
check "a user step: later steps run as that user" [ "$(engine_run --entrypoint cat "$img" /tmp/uid)" = 65534 ]
check "read: the file's text reached the step" [ "$(engine_run --entrypoint cat "$img" /motd)" = "from-read-$$" ]
check "the image runs its entrypoint + cmd" [ "$(engine_run "$img")" = from-cmd ]
echo "changed-$$" >"$s/motd"
"$GB" plan >"$w/plan1.out" 2>&1
grep -q "build *app" "$w/plan1.out" && ! grep -q "build *base" "$w/plan1.out"
checked "read: editing the file rebuilds the image that used it, not its parent" || sed 's/^/#   /' "$w/plan1.out"
echo "from-read-$$" >"$s/motd"

# 2. the container settings
"$GB" up --progress plain >"$w/up1.out" 2>&1
check "up exits 0" [ $? = 0 ] || sed 's/^/#   /' "$w/up1.out"
c=$P-web
check "service entrypoint and command" [ "$(insp '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$c")" = '["/bin/httpd"] ["-f","-p","80","-h","/"]' ]
check "service user and workdir" [ "$(insp '{{.Config.User}} {{.Config.WorkingDir}}' "$c")" = "root /data" ]
check "service labels, with the project's" [ "$(insp '{{index .Config.Labels "owner"}} {{index .Config.Labels "graphbuild.project"}}' "$c")" = "me $P" ]
check "restart policy" [ "$(insp '{{.HostConfig.RestartPolicy.Name}}' "$c")" = on-failure ]
check "port published on 127.0.0.1 only" [ "$(insp '{{(index (index .HostConfig.PortBindings "80/tcp") 0).HostIp}}:{{(index (index .HostConfig.PortBindings "80/tcp") 0).HostPort}}' "$c")" = "127.0.0.1:$port" ]
check "the published port answers" curl -sf -o /dev/null "http://127.0.0.1:$port/data/f"
check ":ro bind mount is read-only" [ "$(insp '{{range .Mounts}}{{.Destination}}={{.RW}}{{end}}' "$c")" = /data=false ]
! docker exec "$c" sh -c 'echo x > /data/new' 2>/dev/null && [ ! -e "$s/ro/new" ]
checked ":ro bind mount: the container cannot write"
check "the bind mount shows the host file" [ "$(docker exec "$c" cat /data/f)" = "host file" ]

# 3. logs -f follows a service across its recreate
"$GB" logs -f talker >"$w/logs.out" 2>&1 &
logpid=$!
for _ in $(seq 200); do grep -q "talker says one" "$w/logs.out" && break; sleep 0.05; done
check "logs -f shows the running container's output" grep -q "talker says one" "$w/logs.out"
stack two
"$GB" up >"$w/up2.out" 2>&1
check "env change: up exits 0" [ $? = 0 ]
for _ in $(seq 200); do grep -q "talker says two" "$w/logs.out" && break; sleep 0.05; done
check "logs -f follows the new container after the recreate" grep -q "talker says two" "$w/logs.out" || sed 's/^/#   /' "$w/logs.out"
kill "$logpid" 2>/dev/null; wait "$logpid" 2>/dev/null; logpid=

# 4. --recreate-deps: web recreated (its image rebuilt) recreates talker too
web0=$(insp '{{.Id}}' "$P-web"); tk0=$(insp '{{.Id}}' "$P-talker")
"$GB" up --rebuild=app >"$w/up3.out" 2>&1
check "up --rebuild=app exits 0" [ $? = 0 ] || sed 's/^/#   /' "$w/up3.out"
grep -q '\[app\] built' "$w/up3.out" && [ "$(insp '{{.Id}}' "$P-web")" != "$web0" ] && [ "$(insp '{{.Id}}' "$P-talker")" = "$tk0" ]
checked "up --rebuild=app rebuilds app and recreates web, not its dependent talker" || sed 's/^/#   /' "$w/up3.out"
web1=$(insp '{{.Id}}' "$P-web")
"$GB" up --rebuild=app --recreate-deps >"$w/up4.out" 2>&1
check "up --rebuild=app --recreate-deps exits 0" [ $? = 0 ]
[ "$(insp '{{.Id}}' "$P-web")" != "$web1" ] && [ "$(insp '{{.Id}}' "$P-talker")" != "$tk0" ]
checked "--recreate-deps: the dependent talker is recreated too"
"$GB" up >"$w/up5.out" 2>&1
check "then up is a no-op" [ "$(cat "$w/up5.out")" = "up to date" ]

cd /
done_tests
