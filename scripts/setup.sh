#!/usr/bin/env bash
# setup.sh - installs what graphbuild needs on a fresh Debian machine (as root)
# and builds it: build/release/graphbuild and, with --asan, build/asan/ too.
# Safe to run again: installs only what is missing, rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential pkg-config premake4 lua5.4 liblua5.4-dev libcurl4-openssl-dev
      libcjson-dev libssl-dev libxxhash-dev xxhash libuv1-dev libyaml-dev docker.io docker-registry busybox-static curl
      iproute2 git python3 graphviz openssl groff-base zsh)
# clang: the libFuzzer harnesses (tests/fuzz/run.sh).
pkgs+=(clang)
# What the tests and benchmarks run besides: /usr/bin/time (build.sh's max
# RSS check), iptables (engine.sh's cleanup), util-linux/procps (flock,
# setsid, nsenter, ps), Podman 4.3 with its runtime, monitor, network stack
# and init (the GB_ENGINE=podman runs), docker-compose (bench/up.sh, demo.sh).
pkgs+=(time iptables util-linux procps podman runc conmon netavark aardvark-dns catatonit
       docker-compose)
[ "${GB_SETUP_EXTRA:-}" ] && pkgs+=($GB_SETUP_EXTRA)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

premake4 --file=premake5.lua gmake >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)
# The embedded prelude first: make stats build/gen/prelude.inc before the
# prebuild step rewrites it, so a prelude edit would need a second make.
lua5.4 tools/embed.lua lua/prelude.lua gb_prelude build/gen/prelude.inc
make -s -C build config=release -j"$jobs"
if [ "${1:-}" = --asan ]; then
	make -s -C build config=asan -j"$jobs"
fi
