# engine.sh - a private Docker engine for tests and the README's commands.
# Source it, then:
#   engine_start DIR [BRIDGE [CIDR]]   start (or reuse) dockerd rooted at DIR;
#                                      exports DOCKER_HOST=unix://DIR/docker.sock
#                                      and GB_ENGINE_DIR=DIR
#   engine_stop DIR                    stop it, remove its bridge, clean mounts
# Each engine gets its own socket, data root, exec root, pidfile and bridge
# (default gbtest0 172.31.240.1/24), so several engines and the machine's
# docker0 live side by side. The bridge name and CIDR are remembered in
# DIR/bridge so engine_stop needs only DIR. Needs root.
# Knobs: GB_ENGINE_WAIT (seconds to wait for /_ping, default 60),
# GB_ENGINE_POOL (default-address-pool for user networks, e.g.
# "base=172.31.128.0/17,size=24"; default: dockerd's own),
# GB_STORAGE_DRIVER (dockerd --storage-driver, e.g. vfs; for Podman: vfs or
# overlay; default: the engine's own choice, but vfs when DIR is on overlayfs
# without /dev/fuse, where nothing else works),
# GB_ENGINE=podman (start rootful `podman system service` instead of dockerd:
# private graph root, run root, tmp dir, network config and containers.conf
# under DIR, so it touches no other Podman's state; cgroupfs unless systemd
# runs the machine; the default network gets BRIDGE and CIDR).
# GB_PODMAN_INSECURE (host:port list: plain-HTTP registries Podman may use;
# Docker trusts loopback by itself). GB_ENGINE_KIND is exported as docker or
# podman for the tests. engine_ulimits and engine_run (below) are for tests.

_engine_log() { echo "engine.sh: $*" >&2; }

# _engine_ping SOCK: succeeds when the engine on SOCK answers /_ping.
_engine_ping() {
	[ -S "$1" ] && [ "$(curl -s -m 2 --unix-socket "$1" http://localhost/_ping 2>/dev/null)" = OK ]
}

# _engine_umount_under DIR: unmounts everything mounted at or below DIR,
# deepest first; a busy mount is detached lazily.
_engine_umount_under() {
	local d=$1 m
	[ -d "$d" ] || return 0
	d=$(cd "$d" && pwd -P)
	awk -v d="$d" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do
			umount "$m" 2>/dev/null || umount -R "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
}

# _engine_pid DIR: the pid in DIR/docker.pid (DIR/podman.pid for Podman) if
# that process is alive.
_engine_pid() {
	local p f=$1/docker.pid
	[ "$(cat "$1/kind" 2>/dev/null)" = podman ] && f=$1/podman.pid
	[ -f "$f" ] || return 1
	p=$(cat "$f" 2>/dev/null)
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

# _engine_procs DIR: pids of the engine's processes left under DIR (dockerd,
# the containerd it started in its own session, shims, docker-proxy), found
# by their command line naming DIR, in this mount namespace only: a
# container on the same host (a newcomer check, a docker-in-docker CI job)
# has its own DIR of the same name, and its engine is none of ours.
_engine_procs() {
	local dir=$1 p cmd exe ns mine
	mine=$(readlink /proc/self/ns/mnt 2>/dev/null)
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmd in *"$dir/"*) ;; *) continue ;; esac
		ns=$(readlink "$p/ns/mnt" 2>/dev/null)
		[ -n "$mine" ] && [ -n "$ns" ] && [ "$ns" != "$mine" ] && continue
		exe=${cmd%% *}
		case ${exe##*/} in
		dockerd | containerd | containerd-shim* | runc | docker-proxy) echo "${p#/proc/}" ;;
		esac
	done
}

# _engine_kill_procs DIR: TERM those processes, KILL what is left after 5 s.
_engine_kill_procs() {
	local pids i p left
	pids=$(_engine_procs "$1")
	[ -n "$pids" ] || return 0
	_engine_log "stopping leftover engine processes in $1: $(echo $pids)"
	kill -TERM $pids 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		left=
		for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
		[ -n "$left" ] || return 0
		sleep 0.05
	done
	kill -KILL $left 2>/dev/null
	return 0
}

engine_start() {
	local dir=$1 br=${2:-gbtest0} cidr=${3:-172.31.240.1/24}
	local sock pid i wait=${GB_ENGINE_WAIT:-60} pool=()
	[ -n "$dir" ] || { _engine_log "usage: engine_start DIR [BRIDGE [CIDR]]"; return 2; }
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd -P) || return 1
	sock=$dir/docker.sock
	if [ ${#sock} -ge 108 ]; then
		_engine_log "socket path $sock is ${#sock} bytes; unix sockets need < 108: use a shorter DIR"
		return 1
	fi
	if _engine_ping "$sock"; then       # already running: reuse it
		export DOCKER_HOST=unix://$sock GB_ENGINE_DIR=$dir
		GB_ENGINE_KIND=$(cat "$dir/kind" 2>/dev/null || echo docker)
		export GB_ENGINE_KIND
		return 0
	fi
	if [ "${GB_ENGINE:-docker}" = podman ]; then
		_podman_start "$dir" "$br" "$cidr"
		return
	fi
	case ${GB_ENGINE:-docker} in
	docker) ;;
	*) _engine_log "GB_ENGINE=$GB_ENGINE: expected docker or podman"; return 2 ;;
	esac
	if ! command -v dockerd >/dev/null 2>&1; then
		_engine_log "installing docker.io"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >&2 || return 1
	fi

	# Leftovers of a run that was killed: a live dockerd that does not answer
	# (wedged) is stopped; a stale pidfile, socket, mounts and bridge go.
	if pid=$(_engine_pid "$dir"); then
		_engine_log "dockerd $pid in $dir does not answer; stopping it"
		engine_stop "$dir"
	fi
	_engine_kill_procs "$dir"
	rm -f "$dir/docker.pid" "$sock" "$dir/exec/containerd/containerd.pid"
	_engine_umount_under "$dir/exec"
	_engine_umount_under "$dir/data"
	if [ -f "$dir/bridge" ]; then
		read -r i _ <"$dir/bridge"
		[ -n "$i" ] && ip link del "$i" 2>/dev/null
	fi
	if ip link show "$br" >/dev/null 2>&1; then
		# Not ours (DIR/bridge did not name it): maybe another engine's.
		_engine_log "bridge $br exists and is not $dir's: pass another BRIDGE name" \
			"(or 'ip link del $br' if it is a leftover)"
		return 1
	fi

	ip link add "$br" type bridge &&
		ip addr add "$cidr" dev "$br" &&
		ip link set "$br" up || { _engine_log "cannot create bridge $br ($cidr)"; return 1; }
	echo "$br $cidr" >"$dir/bridge"

	[ -n "${GB_ENGINE_POOL:-}" ] && pool=(--default-address-pool "$GB_ENGINE_POOL")
	i=$(_docker_driver "$dir")
	[ -n "$i" ] && pool+=(--storage-driver "$i")
	echo docker >"$dir/kind"
	# setsid: the engine (and the containerd it manages) gets its own session,
	# so the test's Ctrl-C does not reach it half-way through a shutdown.
	setsid dockerd --host "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" \
		--pidfile "$dir/docker.pid" --bridge "$br" "${pool[@]}" \
		>"$dir/dockerd.log" 2>&1 </dev/null &
	pid=$!
	# Poll the API: synchronising on the engine answering, bounded.
	for ((i = 0; i < wait * 20; i++)); do
		_engine_ping "$sock" && break
		if ! kill -0 "$pid" 2>/dev/null; then
			_engine_log "dockerd exited; last lines of $dir/dockerd.log:"
			tail -n 20 "$dir/dockerd.log" >&2
			ip link del "$br" 2>/dev/null
			return 1
		fi
		sleep 0.05
	done
	if ! _engine_ping "$sock"; then
		_engine_log "dockerd did not answer on $sock within ${wait}s (log: $dir/dockerd.log)"
		engine_stop "$dir"
		return 1
	fi
	export DOCKER_HOST=unix://$sock GB_ENGINE_DIR=$dir GB_ENGINE_KIND=docker
}

# _engine_iptables_clean BRIDGE: drops the rules dockerd added for BRIDGE
# (it leaves them behind on exit; they would pile up across restarts).
_engine_iptables_clean() {
	local br=$1 t rule
	command -v iptables >/dev/null 2>&1 || return 0
	for t in nat filter; do
		iptables -t "$t" -S 2>/dev/null | grep -E -- "-[io] $br( |\$)" |
			while read -r rule; do
				# shellcheck disable=SC2086 # the rule is a word list
				iptables -t "$t" ${rule/#-A /-D } 2>/dev/null
			done
	done
}

engine_stop() {
	local dir=$1 pid i br nets n
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd -P)
	if [ "$(cat "$dir/kind" 2>/dev/null)" = podman ]; then
		_podman_stop "$dir"
		return 0
	fi
	# The bridges of user networks (br-<id12>) outlive dockerd: note them.
	nets=$(curl -s -m 2 --unix-socket "$dir/docker.sock" http://localhost/networks 2>/dev/null |
		grep -o '"Id":"[0-9a-f]\{12\}' | cut -c7-)
	if pid=$(_engine_pid "$dir"); then
		kill -TERM "$pid" 2>/dev/null
		# dockerd stops its containers (up to ~15 s) and its containerd.
		for ((i = 0; i < 600; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null; then
			_engine_log "dockerd $pid ignored TERM for 30s; killing its process group"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
			for ((i = 0; i < 100; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.05
			done
		fi
	fi
	_engine_kill_procs "$dir"  # containerd and shims of a killed dockerd
	rm -f "$dir/docker.pid" "$dir/docker.sock"
	_engine_umount_under "$dir/exec"
	_engine_umount_under "$dir/data"
	if [ -f "$dir/bridge" ]; then
		read -r br _ <"$dir/bridge"
		if [ -n "$br" ]; then
			ip link del "$br" 2>/dev/null
			_engine_iptables_clean "$br"
		fi
		rm -f "$dir/bridge"
	fi
	for n in $nets; do
		ip link show "br-$n" >/dev/null 2>&1 || continue
		ip link del "br-$n" 2>/dev/null
		_engine_iptables_clean "br-$n"
	done
	if [ "${DOCKER_HOST:-}" = "unix://$dir/docker.sock" ]; then
		unset DOCKER_HOST GB_ENGINE_DIR
	fi
	return 0
}

# ---- for the tests: containers run as docker run would, exit codes from /wait ----
# engine_ulimits: docker CLI flags for nofile/nproc at our hard limits, as
# graphbuild sends them (rootful Podman's 1048576 cannot be set where its
# runtime lacks CAP_SYS_RESOURCE, DEFECTS 48).
engine_ulimits() {
	local n p
	n=$(ulimit -Hn); p=$(ulimit -Hu)
	{ [ "$n" = unlimited ] || [ "$n" -gt 1048576 ]; } && n=1048576
	{ [ "$p" = unlimited ] || [ "$p" -gt 32768 ]; } && p=32768
	echo "--ulimit nofile=$n:$n --ulimit nproc=$p:$p"
}
# engine_run IMAGE [CMD...]: runs a container as `docker run --rm` would, but
# takes the exit code from the Engine API's /wait (`docker run` exits 0
# against Podman 4.3 whatever the command did). Its stdout and stderr go to
# ours; returns its exit code (125 if it could not run).
engine_run() {
	local id rc
	id=$(docker create $(engine_ulimits) "$@") || return 125
	if ! docker start "$id" >/dev/null; then
		docker rm -f "$id" >/dev/null 2>&1
		return 125
	fi
	rc=$(docker wait "$id")
	docker logs "$id"
	docker rm -f "$id" >/dev/null 2>&1
	return "${rc:-125}"
}

# ---- Podman ---------------------------------------------------------------
# Rootful `podman system service` with everything under DIR: containers.conf,
# storage.conf and registries.conf (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF,
# CONTAINERS_REGISTRIES_CONF point at them), the graph root DIR/storage, the
# run root DIR/run, libpod's tmp dir DIR/tmp and the network config DIR/net.
# The default network "podman" is written there with BRIDGE and CIDR, so the
# machine's podman0 / 10.88.0.0/16 are not touched.

# _podman DIR ARGS...: the podman command for the engine in DIR.
_podman() {
	local dir=$1; shift
	CONTAINERS_CONF=$dir/containers.conf CONTAINERS_STORAGE_CONF=$dir/storage.conf \
		CONTAINERS_REGISTRIES_CONF=$dir/registries.conf \
		podman --root "$dir/storage" --runroot "$dir/run" --tmpdir "$dir/tmp" \
		--storage-driver "$(cat "$dir/driver")" --cgroup-manager "$(cat "$dir/cgroup")" "$@"
}

# _docker_driver DIR: the --storage-driver for a dockerd rooted at DIR, or
# nothing for dockerd's own choice. GB_STORAGE_DRIVER wins. On overlayfs (a
# docker-in-docker CI runner, the newcomer container) overlay2 cannot work,
# and dockerd 20.10 would then pick fuse-overlayfs when Podman's packages
# installed it, which fails without /dev/fuse: vfs is what works there.
_docker_driver() {
	local d=$1
	if [ -n "${GB_STORAGE_DRIVER:-}" ]; then
		echo "$GB_STORAGE_DRIVER"
		return
	fi
	while [ ! -e "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done # DIR may not exist yet
	case $(stat -f -c %T "$d" 2>/dev/null) in
	overlayfs | fuseblk | fuse) [ -c /dev/fuse ] || echo vfs ;;
	esac
}

# _podman_driver DIR: the storage driver to use (GB_STORAGE_DRIVER wins; on
# overlayfs, as inside a container started by Docker, only vfs works).
_podman_driver() {
	if [ -n "${GB_STORAGE_DRIVER:-}" ]; then
		case $GB_STORAGE_DRIVER in overlay2) echo overlay ;; *) echo "$GB_STORAGE_DRIVER" ;; esac
		return
	fi
	case $(stat -f -c %T "$1" 2>/dev/null) in
	overlayfs | fuseblk | fuse) echo vfs ;;
	*)
		if grep -qw overlay /proc/filesystems 2>/dev/null; then echo overlay; else echo vfs; fi ;;
	esac
}

# _podman_cgroup: systemd only when systemd runs the machine (a bare
# container has no systemd: cgroupfs).
_podman_cgroup() {
	if [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
		echo systemd
	else
		echo cgroupfs
	fi
}

# _podman_helpers DIR: the helper directories of DIR's containers.conf
# (written to DIR/helpers). Podman's own, except that where /proc/sys is
# read-only (a container started by Docker without --privileged: the
# newcomer's and many CI runners' case) netavark cannot set the sysctls of its
# bridge ("Sysctl error: Read-only file system") and every container on a
# network fails to start; DIR/bin/netavark then runs the real one in a mount
# namespace of its own with /proc/sys writable (CAP_SYS_ADMIN, which dockerd
# in that container needs anyway), leaving the container's view unchanged.
_podman_helpers() {
	local dir=$1 d real= list=
	for d in /usr/local/libexec/podman /usr/local/lib/podman /usr/libexec/podman /usr/lib/podman; do
		list="$list${list:+, }\"$d\""
		[ -z "$real" ] && [ -x "$d/netavark" ] && real=$d/netavark
	done
	rm -rf "$dir/bin"
	if [ -n "$real" ] && ! [ -w /proc/sys/net/ipv4/ip_forward ]; then
		mkdir -p "$dir/bin" || return 1
		cat >"$dir/bin/netavark" <<-SH || return 1
			#!/bin/sh
			# written by tests/lib/engine.sh: /proc/sys is read-only here
			exec unshare --mount sh -c 'mount -o remount,bind,rw /proc/sys && exec "\$0" "\$@"' "$real" "\$@"
		SH
		chmod 0755 "$dir/bin/netavark"
		list="\"$dir/bin\", $list"
		_engine_log "/proc/sys is read-only: netavark runs with its own writable /proc/sys ($dir/bin/netavark)"
	fi
	echo "$list" >"$dir/helpers"
}

_podman_start() {
	local dir=$1 br=$2 cidr=$3 sock=$1/docker.sock pid i wait=${GB_ENGINE_WAIT:-60}
	local net gw base size pools=
	if ! command -v podman >/dev/null 2>&1; then
		_engine_log "installing podman"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman catatonit >&2 || return 1
	fi
	# Leftovers of a run that was killed.
	[ -f "$dir/kind" ] && [ "$(cat "$dir/kind")" = podman ] && _podman_stop "$dir"
	if ip link show "$br" >/dev/null 2>&1; then
		_engine_log "bridge $br exists and is not $dir's: pass another BRIDGE name" \
			"(or 'ip link del $br' if it is a leftover)"
		return 1
	fi
	mkdir -p "$dir/storage" "$dir/run" "$dir/tmp" "$dir/net" || return 1
	echo podman >"$dir/kind"
	_podman_driver "$dir" >"$dir/driver"
	_podman_cgroup >"$dir/cgroup"
	echo "$br $cidr" >"$dir/bridge"
	gw=${cidr%/*}
	net=$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_interface(sys.argv[1]).network)' "$cidr") || return 1
	if [ -n "${GB_ENGINE_POOL:-}" ]; then
		base=$(echo "$GB_ENGINE_POOL" | sed -n 's/.*base=\([^,]*\).*/\1/p')
		size=$(echo "$GB_ENGINE_POOL" | sed -n 's/.*size=\([0-9]*\).*/\1/p')
		pools="default_subnet_pools = [{\"base\" = \"$base\", \"size\" = ${size:-24}}]"
	fi
	_podman_helpers "$dir" || return 1
	cat >"$dir/containers.conf" <<-CONF
		[containers]
		log_driver = "k8s-file"
		[network]
		network_backend = "netavark"
		network_config_dir = "$dir/net"
		default_network = "podman"
		default_subnet = "$net"
		$pools
		[engine]
		cgroup_manager = "$(cat "$dir/cgroup")"
		events_logger = "file"
		events_logfile_path = "$dir/events.log"
		tmp_dir = "$dir/tmp"
		volume_path = "$dir/storage/volumes"
		static_dir = "$dir/storage/libpod"
		helper_binaries_dir = [$(cat "$dir/helpers")]
	CONF
	cat >"$dir/storage.conf" <<-CONF
		[storage]
		driver = "$(cat "$dir/driver")"
		graphroot = "$dir/storage"
		runroot = "$dir/run"
	CONF
	# Test registries on loopback are plain HTTP (Podman, unlike Docker, does
	# not treat loopback as insecure): GB_PODMAN_INSECURE lists host:port.
	{
		echo 'unqualified-search-registries = ["docker.io"]'
		for i in ${GB_PODMAN_INSECURE:-}; do
			printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$i"
		done
	} >"$dir/registries.conf"
	cat >"$dir/net/podman.json" <<-JSON
		{"name": "podman", "id": "$(printf '%s' "$dir" | sha256sum | cut -c1-64)",
		 "driver": "bridge", "network_interface": "$br",
		 "created": "2026-01-01T00:00:00Z",
		 "subnets": [{"subnet": "$net", "gateway": "$gw"}],
		 "ipv6_enabled": false, "internal": false, "dns_enabled": false,
		 "ipam_options": {"driver": "host-local"}}
	JSON
	rm -f "$sock"
	# TMPDIR: the service's temp files (image import/push copies) stay under
	# DIR, never in the caller's TMPDIR (faults.sh checks its own is empty).
	setsid env CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf" \
		CONTAINERS_REGISTRIES_CONF="$dir/registries.conf" TMPDIR="$dir/tmp" \
		podman --root "$dir/storage" --runroot "$dir/run" --tmpdir "$dir/tmp" \
		--storage-driver "$(cat "$dir/driver")" --cgroup-manager "$(cat "$dir/cgroup")" \
		system service --time=0 "unix://$sock" >"$dir/podman.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/podman.pid"
	for ((i = 0; i < wait * 20; i++)); do
		_engine_ping "$sock" && break
		if ! kill -0 "$pid" 2>/dev/null; then
			_engine_log "podman system service exited; last lines of $dir/podman.log:"
			tail -n 20 "$dir/podman.log" >&2
			return 1
		fi
		sleep 0.05
	done
	if ! _engine_ping "$sock"; then
		_engine_log "podman did not answer on $sock within ${wait}s (log: $dir/podman.log)"
		_podman_stop "$dir"
		return 1
	fi
	export DOCKER_HOST=unix://$sock GB_ENGINE_DIR=$dir GB_ENGINE_KIND=podman
}

# _podman_procs DIR: conmon, the runtime, catatonit and the service itself
# left under DIR, found by their command line naming DIR.
_podman_procs() {
	local dir=$1 p cmd exe
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmd in *"$dir/"*) ;; *) continue ;; esac
		exe=${cmd%% *}
		case ${exe##*/} in
		podman | conmon | runc | crun | catatonit | netavark | aardvark-dns) echo "${p#/proc/}" ;;
		esac
	done
}

_podman_stop() {
	local dir=$1 pid p i left nets n br
	# The containers live on in conmon after the service goes: stop them,
	# then the service, then whatever still names DIR.
	if [ -f "$dir/driver" ]; then
		nets=$(_podman "$dir" network ls --format '{{.NetworkInterface}}' 2>/dev/null)
		timeout 60 env -u DOCKER_HOST bash -c '. "$0"; _podman "$1" rm -a -f -t 2 >/dev/null 2>&1' \
			"${BASH_SOURCE[0]}" "$dir" || true
		timeout 30 env -u DOCKER_HOST bash -c '. "$0"; _podman "$1" pod rm -a -f >/dev/null 2>&1' \
			"${BASH_SOURCE[0]}" "$dir" || true
	fi
	pid=$(cat "$dir/podman.pid" 2>/dev/null)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$pid" 2>/dev/null
	fi
	left=$(_podman_procs "$dir")
	if [ -n "$left" ]; then
		kill -TERM $left 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			p=
			for n in $left; do kill -0 "$n" 2>/dev/null && p="$p $n"; done
			[ -n "$p" ] || break
			sleep 0.05
		done
		[ -n "$p" ] && kill -KILL $p 2>/dev/null
	fi
	rm -f "$dir/podman.pid" "$dir/docker.sock"
	_engine_umount_under "$dir/storage"
	_engine_umount_under "$dir/run"
	_engine_umount_under "$dir/tmp"
	if [ -f "$dir/bridge" ]; then
		read -r br _ <"$dir/bridge"
		nets="$nets $br"
	fi
	for n in $nets; do
		[ -n "$n" ] && ip link show "$n" >/dev/null 2>&1 && ip link del "$n" 2>/dev/null
	done
	rm -f "$dir/bridge"
	if [ "${DOCKER_HOST:-}" = "unix://$dir/docker.sock" ]; then
		unset DOCKER_HOST GB_ENGINE_DIR GB_ENGINE_KIND
	fi
	return 0
}
