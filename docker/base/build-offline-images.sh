#!/usr/bin/env bash
# Builds the base images track-run's tests and example use, offline (no registry to pull from):
#   track-run/python:3-bookworm  Debian bookworm minbase + python3 with its standard library, via debootstrap + docker import
#   track-run/busybox:1          busybox-static in a scratch image
# Each is built only when missing (pass --force to rebuild). Needs root, docker, debootstrap, busybox-static.
set -euo pipefail
force=0
[ "${1:-}" = "--force" ] && force=1
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

have() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "$force" = 1 ] || ! have track-run/busybox:1; then
  work=$(mktemp -d)
  mkdir -p "$work/bin" "$work/tmp" "$work/etc"
  cp /bin/busybox "$work/bin/busybox"
  for applet in sh echo cat ls sleep head tail sha256sum wc env true false mkdir rm cp mv dd seq tr cut grep sed awk yes kill; do
    ln -s busybox "$work/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$work/etc/passwd"
  tar --numeric-owner --mtime='2000-01-01 00:00:00Z' --sort=name -C "$work" -c . \
    | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - track-run/busybox:1 >/dev/null
  rm -rf "$work"
  echo "built track-run/busybox:1"
fi

if [ "$force" = 1 ] || ! have track-run/python:3-bookworm; then
  work=$(mktemp -d)
  debootstrap --variant=minbase --include=python3-minimal,libpython3.11-stdlib bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  # Smaller and steadier: no apt lists or caches, python3 as `python` too.
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb
  ln -sf python3 "$work/rootfs/usr/bin/python"
  tar --numeric-owner -C "$work/rootfs" -c . \
    | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8' \
      -c 'CMD ["python3"]' - track-run/python:3-bookworm >/dev/null
  rm -rf "$work"
  echo "built track-run/python:3-bookworm"
fi
