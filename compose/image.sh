#!/usr/bin/env bash
# Builds the node image FROM scratch, so no registry is needed: stages
# .stage/rootfs with the ferrodfs binary, the shared libraries `ldd` lists for
# it (glibc, libgcc_s, ...), a static busybox (the node script's shell and the
# health checks' wget) and ferrodfs-node, then `docker build`s it.
#   compose/image.sh [TAG]        (FERRODFS_BIN: the binary; BUSYBOX: a static busybox)
set -euo pipefail
# shellcheck source=compose/lib.sh source-path=SCRIPTDIR/..
. "$(dirname "$0")/lib.sh"
tag="${1:-$FERRODFS_IMAGE}"
build_binary

stage="$compose_dir/.stage"
rootfs="$stage/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,usr/local/bin,etc/ferrodfs,fastdfs,tmp,run}
chmod 1777 "$rootfs/tmp"

# The binary without its debug info (the release profile keeps line tables).
objcopy --strip-debug "$ferrodfs_bin" "$rootfs/usr/local/bin/ferrodfs"
install -m 0755 "$compose_dir/ferrodfs-node" "$rootfs/usr/local/bin/ferrodfs-node"

# Every library the dynamic loader will ask for, at the same path as here.
ldd "$ferrodfs_bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' |
    while read -r lib; do
        cp -L --parents "$lib" "$rootfs"
    done

# A static busybox: $BUSYBOX, or Debian's busybox-static package, unpacked
# (not installed) into the stage.
busybox="${BUSYBOX:-}"
if [[ -z "$busybox" ]]; then
    busybox="$stage/busybox"
    if [[ ! -x "$busybox" ]]; then
        tmp="$(mktemp -d)"
        (cd "$tmp" && { apt-get download busybox-static >/dev/null 2>&1 ||
            { apt-get update -qq && apt-get download busybox-static >/dev/null 2>&1; }; } &&
            dpkg-deb -x busybox-static_*.deb x) ||
            { echo "image.sh: need a static busybox: set BUSYBOX=/path or allow 'apt-get download busybox-static'" >&2; exit 1; }
        cp "$tmp/x/bin/busybox" "$busybox"
        rm -rf "$tmp"
    fi
fi
! ldd "$busybox" >/dev/null 2>&1 ||
    { echo "image.sh: $busybox is not a static binary" >&2; exit 1; }
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [[ "$applet" == busybox || -e "$rootfs/bin/$applet" ]] || ln -s busybox "$rootfs/bin/$applet"
done

docker build -q -t "$tag" -f "$compose_dir/Dockerfile" "$stage" >/dev/null
echo "image $tag: $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}')" >&2
