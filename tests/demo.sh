#!/bin/sh
# Demo: run a busybox container with rung. `make demo` builds first; this
# script builds nothing. Needs root and busybox-static (/bin/busybox).
#   RUNG_BIN  runtime to use (default: <repo>/bin/rung; /usr/sbin/runc works too)
#   BUSYBOX   static busybox to copy (default: /bin/busybox)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rung=${RUNG_BIN:-$repo/bin/rung}
rung=$(command -v "$rung" || echo "$rung")
busybox=${BUSYBOX:-/bin/busybox}

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (containers need namespaces and mounts)"
[ -x "$rung" ] || die "$rung not found: run 'make' first"
[ -x "$busybox" ] || die "$busybox not found: apt-get install busybox-static"
case $(file -L "$busybox" 2>/dev/null || echo static) in
*dynamically*) die "$busybox is dynamically linked; the container needs busybox-static" ;;
esac

tmp=$(mktemp -d /tmp/rung-demo.XXXXXX)
chmod 755 "$tmp"
id=rung-demo-$$
cleanup() {
	"$rung" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bundle=$tmp/bundle
rootfs=$bundle/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in sh echo hostname; do ln -s busybox "$rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"

# The shape of `runc spec`, non-tty, running the demo command.
cat >"$bundle/config.json" <<'JSON'
{
  "ociVersion": "1.3.0",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", "hostname; echo pid $$"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "rung-demo",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON

echo "+ $rung run --bundle $bundle $id"
cd "$bundle"
status=0
"$rung" --root "$tmp/state" run --bundle "$bundle" "$id" </dev/null || status=$?
[ "$status" = 0 ] || die "container exited $status"
