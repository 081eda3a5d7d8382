#!/bin/sh
# Builds the container image's root filesystem from BINARY, in two trees:
# DIR/system, owned by root — the binary as /usr/local/bin/lictor, exactly
# the shared libraries it loads (from `ldd`, at their paths, with the
# dynamic loader), the system's CA roots, a passwd and group naming the
# unprivileged user 65532 (`lictor`), /tmp — and DIR/user, given to that
# user by the Dockerfile's COPY --chown: /data. Nothing else: no shell,
# no package manager.
#
#   deploy/container/rootfs.sh target/release/lictor /rootfs
set -eu

binary=$1
out=$2
dir=$out/system

mkdir -p "$dir/usr/local/bin" "$dir/etc/ssl/certs" "$dir/tmp" "$out/user/data"
cp "$binary" "$dir/usr/local/bin/lictor"
chmod 0755 "$dir/usr/local/bin/lictor"

# The loader and every library the binary links, resolved through symlinks.
ldd "$binary" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | while read -r lib; do
  mkdir -p "$dir$(dirname "$lib")"
  cp -L "$lib" "$dir$lib"
done

cp -L /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"

printf 'root:x:0:0:root:/root:/sbin/nologin\nlictor:x:65532:65532:lictor:/data:/sbin/nologin\n' > "$dir/etc/passwd"
printf 'root:x:0:\nlictor:x:65532:\n' > "$dir/etc/group"
chmod 0750 "$out/user/data"
chmod 1777 "$dir/tmp"
