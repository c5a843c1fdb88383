#!/bin/bash
# busybox-rootfs.sh OUT.tar - a base image rootfs from Debian's busybox-static:
# bin/busybox, a symlink per applet in bin/, /bin/sh, /usr/bin, /etc/passwd
# (root, nobody), /etc/group, /tmp (1777), /root. Deterministic: sorted
# entries, mtime 0, owner 0:0, so the same busybox yields the same bytes.
# Import with: POST /images/create?fromSrc=-  (or `docker import OUT.tar`).
set -eu
out=${1:?usage: busybox-rootfs.sh OUT.tar}
bb=/bin/busybox
if ! [ -x "$bb" ] || ! dpkg -s busybox-static >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >&2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r=$tmp/root
mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root" "$r/usr/bin" "$r/usr/sbin" "$r/sbin" \
	"$r/var" "$r/home" "$r/proc" "$r/sys" "$r/dev"
cp "$bb" "$r/bin/busybox"
chmod 755 "$r/bin/busybox"
for a in $("$bb" --list | LC_ALL=C sort -u); do
	[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
done
[ -e "$r/bin/sh" ] || ln -s busybox "$r/bin/sh"
cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$r/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
chmod 644 "$r/etc/passwd" "$r/etc/group"
chmod 755 "$r" "$r/bin" "$r/etc" "$r/usr" "$r/usr/bin" "$r/usr/sbin" "$r/sbin" \
	"$r/var" "$r/home" "$r/proc" "$r/sys" "$r/dev"
chmod 700 "$r/root"
chmod 1777 "$r/tmp"
# umask-independent modes above; fixed metadata below.
tar -C "$r" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
	--format=gnu -cf "$out.tmp" .
mv "$out.tmp" "$out"
