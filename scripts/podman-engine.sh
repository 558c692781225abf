#!/usr/bin/env bash
# A Docker-compatible container engine for jobhub's docker driver tests: podman serving the Docker
# Engine API on a unix socket, with a local busybox image (no registry needed).
#
#   scripts/podman-engine.sh          set up (once) and start the engine; prints the DOCKER_HOST value
#   scripts/podman-engine.sh stop     stop the engine this script started
#
# Idempotent and fast when the engine already answers. Never fails: where it cannot set things up
# (not root, no apt, no podman) it says why on stderr, prints nothing on stdout and exits 0, and the
# docker tests skip. Needs root for apt-get and for rootful podman.
set -uo pipefail

SOCK="${JOBHUB_PODMAN_SOCK:-/tmp/podman.sock}"
STATE="${JOBHUB_PODMAN_STATE:-/var/tmp/jobhub-podman}"
IMAGE="localhost/busybox:latest"
CONF="$STATE/containers.conf"
PIDFILE="$STATE/service.pid"

note() { echo "podman-engine: $*" >&2; }
answers() { curl -sf --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }

if [ "${1:-}" = "stop" ]; then
  if [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; then note "stopped"; fi
  rm -f "$PIDFILE"
  exit 0
fi

if answers && podman image exists "$IMAGE" 2>/dev/null; then
  echo "unix://$SOCK"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  note "not root: no engine set up (docker tests will skip)"
  exit 0
fi

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! [ -x /bin/busybox ] || ! command -v curl >/dev/null; then
  if ! command -v apt-get >/dev/null; then
    note "podman, runc or busybox-static missing and no apt-get: no engine (docker tests will skip)"
    exit 0
  fi
  note "installing podman runc busybox-static"
  if ! (DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc busybox-static curl >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc busybox-static curl >/dev/null 2>&1; }); then
    note "apt-get install failed: no engine (docker tests will skip)"
    exit 0
  fi
fi

mkdir -p "$STATE"
# crun and the default ulimits fail in sandboxes like CI's; runc with small ulimits works.
cat >"$CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$CONF"

if ! podman image exists "$IMAGE" 2>/dev/null; then
  note "making $IMAGE from busybox-static"
  root="$STATE/rootfs"
  rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp" "$root/www"
  cp /bin/busybox "$root/bin/busybox"
  for cmd in sh echo sleep cat nc httpd ls wget true false env printf test mkdir; do
    ln -sf busybox "$root/bin/$cmd"
  done
  if ! tar -C "$root" -cf "$STATE/rootfs.tar" . || ! podman import "$STATE/rootfs.tar" "$IMAGE" >/dev/null; then
    note "podman import failed: no engine (docker tests will skip)"
    exit 0
  fi
fi

if ! answers; then
  rm -f "$SOCK"
  # Its own session: the engine outlives this script (the tests use it), and `stop` ends it by pid.
  setsid podman system service --time=0 "unix://$SOCK" >"$STATE/service.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    answers && break
    sleep 0.2
  done
fi
if ! answers; then
  note "podman system service does not answer on $SOCK (see $STATE/service.log): docker tests will skip"
  exit 0
fi
echo "unix://$SOCK"
