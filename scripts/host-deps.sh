#!/bin/sh
# Installs the Debian packages that berth's build, demo, tests and benchmarks use: the build tools;
# nftables, which bridge networks need at run time; btrfs-progs for the btrfs driver's loop-device
# test file system; skopeo, podman and umoci for the interop tests; docker-registry, apache2-utils
# (htpasswd) and openssl for the registry tests, which start their own registries; tmux for the
# interactive terminal tests; runc, crun and the CNI plugins for the benchmarks.
# Idempotent; needs root (as .ci/run is). Using berth needs the build tools, and nftables for bridges.
set -eu
pkgs="busybox-static cmake g++ make python3 runc crun btrfs-progs nftables containernetworking-plugins skopeo podman umoci docker-registry apache2-utils openssl tmux"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then echo "host-deps: run as root to install:$missing" >&2; exit 1; fi
  echo "host-deps: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >/dev/null
fi
