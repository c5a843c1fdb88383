#!/usr/bin/env bash
# capture.sh - refreshes the docker_reply / docker_stream seed corpora with
# replies captured from a real engine ($DOCKER_HOST, a unix socket; start one
# with tests/lib/engine.sh). Each seed is the harness's input format: its
# selector byte(s), then the reply (see tests/fuzz/docker_reply.c, docker_stream.c).
# Needs a busybox image tar (GB_BUSYBOX_TAR, as the integration tests).
set -euo pipefail
cd "$(dirname "$0")"
sock=${DOCKER_HOST#unix://}
[ -S "$sock" ] || { echo "capture.sh: DOCKER_HOST must name a unix socket" >&2; exit 2; }
api() { curl -sS --unix-socket "$sock" "$@"; }
tar=${GB_BUSYBOX_TAR:-/tmp/gb-busybox.tar}
R=corpus/docker_reply S=corpus/docker_stream
mkdir -p "$R" "$S"
# seed FILE PREFIX < reply: PREFIX in printf's octal escapes
seed() { { printf "$2"; cat; } >"$1"; }

# a progress stream: importing the busybox tar
api -X POST -H 'Content-Type: application/x-tar' --data-binary @"$tar" \
	'http://l/v1.41/images/create?fromSrc=-&repo=gbfuzz&tag=cap' | seed "$S/import" '\000\017'
img=$(api http://l/v1.41/images/gbfuzz:cap/json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
api -X POST 'http://l/v1.41/images/gbfuzz:cap/tag?repo=gbfuzz&tag=two' >/dev/null
api -X POST -H 'Content-Type: application/json' -d '{"Name":"gbfuzznet","Labels":{"graphbuild.project":"fuzz"}}' \
	http://l/v1.41/networks/create >/dev/null
api -X POST -H 'Content-Type: application/json' \
	-d '{"Image":"gbfuzz:cap","Cmd":["sh","-c","echo out; echo err >&2; exit 3"],"Labels":{"graphbuild.project":"fuzz","graphbuild.service":"a"},"HostConfig":{"NetworkMode":"gbfuzznet","PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}]}},"ExposedPorts":{"80/tcp":{}}}' \
	'http://l/v1.41/containers/create?name=gbfuzz-a' | seed "$R/create" '\004'
api -X POST http://l/v1.41/containers/gbfuzz-a/start
api -X POST http://l/v1.41/containers/gbfuzz-a/wait | seed "$R/wait" '\005'
api 'http://l/v1.41/containers/gbfuzz-a/logs?stdout=1&stderr=1' | seed "$S/logs" '\001\002'
api http://l/v1.41/containers/gbfuzz-a/json | seed "$R/container_inspect" '\002'
api 'http://l/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22graphbuild.project%3Dfuzz%22%5D%7D' |
	seed "$R/container_list" '\003'
api "http://l/v1.41/images/$img/json" | seed "$R/image_inspect" '\000'
api 'http://l/v1.41/images/json' | seed "$R/image_list" '\001'
api http://l/v1.41/networks/gbfuzznet | seed "$R/network" '\006'
api http://l/v1.41/volumes | seed "$R/volumes" '\007'
api http://l/version | seed "$R/version" '\010'
api http://l/v1.41/images/nosuchimage/json | seed "$R/error_404" '\100'
api -X POST -H 'Content-Type: application/json' -d '{"Cmd":["sh","-c","echo hi"],"AttachStdout":true,"AttachStderr":true}' \
	http://l/v1.41/containers/gbfuzz-a/exec | seed "$R/exec_create" '\004' || true
# a build stream (stream lines, aux ID) and a push that fails (errorDetail)
ctx=$(mktemp -d); printf 'FROM gbfuzz:cap\nRUN echo built\n' >"$ctx/Dockerfile"
tar -C "$ctx" -cf "$ctx.tar" Dockerfile
api -X POST -H 'Content-Type: application/x-tar' --data-binary @"$ctx.tar" \
	'http://l/v1.41/build?t=gbfuzz:built&rm=1' | seed "$S/build" '\000\017'
rm -rf "$ctx" "$ctx.tar"
api -X POST 'http://l/v1.41/images/gbfuzz:cap/tag?repo=127.0.0.1:9/gbfuzz&tag=x' >/dev/null
api -X POST -H 'X-Registry-Auth: e30=' 'http://l/v1.41/images/127.0.0.1:9/gbfuzz/push?tag=x' | seed "$S/push_error" '\000\017'
api -X DELETE 'http://l/v1.41/images/127.0.0.1:9/gbfuzz:x' >/dev/null
api -X DELETE 'http://l/v1.41/images/gbfuzz:built?force=1' >/dev/null
# clean up everything made here
api -X DELETE 'http://l/v1.41/containers/gbfuzz-a?force=1' >/dev/null
api -X DELETE http://l/v1.41/networks/gbfuzznet >/dev/null
api -X DELETE 'http://l/v1.41/images/gbfuzz:two' >/dev/null
api -X DELETE 'http://l/v1.41/images/gbfuzz:cap?force=1' >/dev/null
echo "capture.sh: seeds in $R and $S"
