# registry.sh - Debian's docker-registry on a free loopback port, for tests
# and benchmarks. Source it, then:
#   registry_init DIR     choose the port, write DIR/registry.yml (storage
#                         under DIR/registry); sets REG=127.0.0.1:PORT
#   registry_start        serve it (again, after registry_stop: same port and
#                         storage) and wait until /v2/ answers; sets regpid;
#                         on failure prints the log as "# " lines, returns 1
#   registry_stop         stop it (the storage stays)
regpid=
registry_init() {
	_reg_dir=$1
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	REG=127.0.0.1:$port
	mkdir -p "$_reg_dir/registry"
	cat >"$_reg_dir/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $_reg_dir/registry
  delete:
    enabled: true
http:
  addr: $REG
YML
}
registry_start() {
	local _
	/usr/bin/docker-registry serve "$_reg_dir/registry.yml" >>"$_reg_dir/registry.log" 2>&1 &
	regpid=$!
	for _ in $(seq 200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -m 1 "http://$REG/v2/")" = 200 ] && return 0
		kill -0 "$regpid" 2>/dev/null || break
		sleep 0.05
	done
	echo "# docker-registry did not answer; log:"; sed 's/^/# /' "$_reg_dir/registry.log"
	return 1
}
registry_stop() {
	[ -n "$regpid" ] && kill "$regpid" 2>/dev/null && wait "$regpid" 2>/dev/null
	regpid=
}
