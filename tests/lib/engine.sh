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
# "base=172.31.128.0/17,size=24"; default: dockerd's own).

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

# _engine_pid DIR: the pid in DIR/docker.pid if that process is alive.
_engine_pid() {
	local p
	[ -f "$1/docker.pid" ] || return 1
	p=$(cat "$1/docker.pid" 2>/dev/null)
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

# _engine_procs DIR: pids of the engine's processes left under DIR (dockerd,
# the containerd it started in its own session, shims, docker-proxy), found
# by their command line naming DIR.
_engine_procs() {
	local dir=$1 p cmd exe
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmd in *"$dir/"*) ;; *) continue ;; esac
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
		return 0
	fi
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
	export DOCKER_HOST=unix://$sock GB_ENGINE_DIR=$dir
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
