#!/usr/bin/env bash
# A real Docker 29-style engine for the tests: dockerd 28.5 with the containerd image store
# ({"features":{"containerd-snapshotter":true}}) on a system containerd 2.1, both from the Debian
# sid chroot that ../shared/fixtures/sidroot-lib.sh makes ($SIDROOT, default /var/tmp/sidroot).
# The host's own packages are never touched; the engines run in a private mount namespace.
#
# usage: sid-dockerd.sh prepare
#          make the chroot once (debootstrap + docker.io docker-cli containerd runc
#          ca-certificates); prints "sidroot ready in N s"
#        sid-dockerd.sh commit HOST WORK
#          dockerd 28.5 with the overlay2 GRAPH DRIVER (containerd image store off) on the fresh
#          host tree HOST (HOST/var/lib/docker, HOST/etc/docker/daemon.json): `docker load` WORK/image.tar
#          (tagged dfx/commit:1), run container c1 with `sh -c "$(cat WORK/script.sh)"`, then
#          write WORK/diff.txt, WORK/layers.json (the committed image's RootFS.Layers),
#          WORK/saved.tar (`docker save` of the commit), WORK/exported.tar (`docker export c1`),
#          WORK/version.txt; stop the engines and leave HOST for the caller
#        sid-dockerd.sh load ARCHIVE...
#          start containerd + dockerd on FRESH, EMPTY data roots (never the fixture's),
#          `docker load` each archive and print one line per image it loaded:
#          "ARCHIVE<TAB>ID<TAB>NAME" (NAME is "-" for an untagged image); then stop them and
#          remove the data roots
# Exit status 3: the chroot is missing or cannot be made (the caller reports it loudly).
# Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/../../shared/fixtures/sidroot-lib.sh
[ -r "$lib" ] || { echo "sid-dockerd: $lib not found" >&2; exit 3; }
# Only what a load needs (the lib's default list also builds images: buildx, podman, ...).
SID_PKGS=${SID_PKGS:-"docker.io docker-cli containerd runc ca-certificates"}
# shellcheck source=/dev/null
. "$lib"

# the chroot has what a load needs
have_engines() {
  [ -x "$SIDROOT/usr/sbin/dockerd" ] && [ -x "$SIDROOT/usr/bin/containerd" ] && [ -x "$SIDROOT/usr/bin/docker" ]
}

cmd=${1:-}; shift || true
case "$cmd" in
prepare)
  start=$(date +%s)
  # any failure (debootstrap, apt) under set -e: status 3, said loudly
  prepared() {
    local rc=$?
    sid_cleanup
    if [ "$rc" -ne 0 ]; then echo "sid-dockerd: could not make the sid chroot at $SIDROOT (status $rc)" >&2; exit 3; fi
  }
  trap prepared EXIT
  if have_engines; then
    sid_enter   # cached: whatever package list made it, the engines are there
  else
    sid_ensure
  fi
  sid dpkg-query -W -f '${Package} ${Version}\n' docker.io docker-cli containerd runc
  echo "sidroot ready in $(($(date +%s) - start)) s"
  ;;
load)
  [ $# -gt 0 ] || { echo "usage: $0 load ARCHIVE..." >&2; exit 2; }
  if ! have_engines; then
    echo "sid-dockerd: no prepared sid chroot at $SIDROOT (run: $0 prepare)" >&2; exit 3
  fi
  host=$(mktemp -d /var/tmp/sidload.XXXXXX)
  cleanup() { sid_cleanup; rm -rf "$host"; }
  trap cleanup EXIT
  # the chroot as prepared (no package run here: another list's marker is left alone)
  sid_enter
  sid_docker_up "$host"
  # the archives, read-only, at /mnt/N.tar inside the chroot
  mkdir -p "$host/load"
  n=0
  for a in "$@"; do
    n=$((n + 1)); : > "$host/load/$n.tar"
  done
  sid_bind "$host/load" /mnt
  n=0
  for a in "$@"; do
    n=$((n + 1)); sidns mount --bind -o ro "$a" "$SIDROOT/mnt/$n.tar"
    out=$(sid docker load -i "/mnt/$n.tar" 2>&1) || { echo "$a: docker load failed: $out" >&2; exit 1; }
    while IFS= read -r line; do
      case "$line" in
      "Loaded image ID: "*)
        printf '%s\t%s\t-\n' "$a" "${line#Loaded image ID: }" ;;
      "Loaded image: "*)
        name=${line#Loaded image: }
        printf '%s\t%s\t%s\n' "$a" "$(sid docker image inspect --format '{{.Id}}' "$name")" "$name" ;;
      esac
    done <<< "$out"
  done
  sid docker version --format 'engine {{.Server.Version}}' >&2 || true
  ;;
commit)
  [ $# -eq 2 ] || { echo "usage: $0 commit HOST WORK" >&2; exit 2; }
  if ! have_engines; then
    echo "sid-dockerd: no prepared sid chroot at $SIDROOT (run: $0 prepare)" >&2; exit 3
  fi
  host=$1; work=$2
  trap sid_cleanup EXIT
  sid_enter
  mkdir -p "$host/etc/docker"
  printf '{"storage-driver":"overlay2","features":{"containerd-snapshotter":false}}\n' > "$host/etc/docker/daemon.json"
  sid_bind "$work" /dfx-work
  sid_docker_up "$host"
  sid docker load -i /dfx-work/image.tar >&2
  sid docker run --name c1 --network none dfx/commit:1 /bin/sh -c "$(cat "$work/script.sh")" >&2
  sid docker diff c1 > "$work/diff.txt"
  sid docker commit c1 dfx/committed:1 >&2
  sid docker image inspect --format '{{json .RootFS.Layers}}' dfx/committed:1 > "$work/layers.json"
  sid docker save -o /dfx-work/saved.tar dfx/committed:1
  sid docker export -o /dfx-work/exported.tar c1
  sid docker version --format '{{.Server.Version}}' > "$work/version.txt"
  sid docker info --format '{{.Driver}}' > "$work/driver.txt"
  sid_docker_down
  ;;
*)
  echo "usage: $0 prepare | load ARCHIVE... | commit HOST WORK" >&2; exit 2 ;;
esac
