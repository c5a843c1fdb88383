#!/usr/bin/env bash
# demo.sh - the main job on a fresh Debian machine: installs what is missing,
# builds graphbuild, starts a private Docker engine if none answers, and brings
# up examples/demo (Postgres, Redis, a oneshot migration, an HTTP API, a queue
# worker). Run it again after editing examples/demo/backend/: only `app` is
# rebuilt and only its services are recreated.
#   bash scripts/demo.sh [--set port=8080] [graphbuild up flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

GB_SETUP_EXTRA=debootstrap bash scripts/setup.sh
. tests/lib/engine.sh

if [ -z "${DOCKER_HOST:-}" ] && ! curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
	echo "demo: no Docker engine answers on /var/run/docker.sock; starting a private one in /var/lib/graphbuild-demo" >&2
	engine_start /var/lib/graphbuild-demo gbdemo0 172.31.241.1/24
	echo "demo: export DOCKER_HOST=$DOCKER_HOST to use it (graphbuild, docker -H)" >&2
fi

port=8000
for a in "$@"; do case $a in port=*) port=${a#port=} ;; esac; done
"$top/build/release/graphbuild" -C examples/demo up "$@"
cat <<MSG

The demo is up: http://localhost:$port  (api -> redis -> worker -> postgres)
  curl -s -XPOST localhost:$port/jobs -d '{"text":"hello graphbuild"}'
  sleep 0.5; curl -s localhost:$port/jobs/1
Then edit examples/demo/backend/api.py and run:
  build/release/graphbuild -C examples/demo plan     # says which file changed
  bash scripts/demo.sh                               # rebuilds only app, recreates only its services
Stop it: build/release/graphbuild -C examples/demo down
MSG
