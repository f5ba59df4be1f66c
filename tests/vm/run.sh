#!/bin/bash
# tests/vm/run.sh CMD...  -- run CMD as root in a throwaway QEMU guest booted from Debian's kernel, with
# pure cgroup v2 (every controller enabled at the root) and AppArmor on: what rung's cgroup and LSM
# stages need and a hybrid-cgroup host without AppArmor cannot give. Works as `go test -exec`.
#
# The guest sees the host's / read-only over 9p under a tmpfs overlay (so it runs the host's
# busybox, apparmor_parser and Go-built binaries), and the work dir (RUNG_VM_WORKDIR, default the
# repo) read-write at the same path. It mounts cgroup2 at /sys/fs/cgroup (nsdelegate), securityfs,
# devpts, tmpfs /tmp /run /dev/shm, brings lo up, and has a scratch virtio disk (/dev/vda, 4 MiB)
# so io.max has a real device. CMD runs in $PWD with a clean environment (PATH, HOME) plus every
# RUNG_* and GOTRACEBACK/GOMAXPROCS variable of ours and RUNG_GUEST=1; its stdout and stderr are
# ours, and its exit code is ours (255: the guest gave none, console log on stderr).
#
# Needs (Debian): qemu-system-x86, linux-image-amd64, busybox-static, xz-utils, kmod, cpio; apparmor
# for tests that load profiles. Runs with software emulation (TCG) unless RUNG_VM_ACCEL=kvm: the
# machines this was written on expose a /dev/kvm that cannot run a stock kernel. Boot takes ~5-8 s
# under TCG; everything in the guest is 5-50x slower than on the host, so build on the host.
#
# Env: RUNG_VM_ACCEL=tcg|kvm (tcg), RUNG_VM_MEM (2G), RUNG_VM_SMP (2), RUNG_VM_TIMEOUT (s, 1800),
#      RUNG_VM_KVER (newest in /lib/modules that has a /boot/vmlinuz), RUNG_VM_APPEND (extra kernel
#      args), RUNG_VM_DEBUG=1 (guest console on stderr), RUNG_VM_CACHE (kernel + initramfs cache).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 CMD..." >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "tests/vm/run.sh: $*" >&2; exit 2; }

PATH=$PATH:/usr/sbin:/sbin
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (Debian package qemu-system-x86)"
for c in modprobe cpio; do command -v $c >/dev/null || die "$c missing (Debian packages kmod, cpio)"; done
[ -x /bin/busybox ] && /bin/busybox --list | grep -x switch_root >/dev/null || die "static /bin/busybox missing (busybox-static)"
if [ -n "${RUNG_VM_KVER:-}" ]; then KVER=$RUNG_VM_KVER
else KVER=$(for k in $(ls /lib/modules 2>/dev/null); do [ -f "/boot/vmlinuz-$k" ] && echo "$k"; done | sort -V | tail -n1)
fi
[ -n "$KVER" ] && [ -f "/boot/vmlinuz-$KVER" ] || die "no /boot/vmlinuz-* with matching /lib/modules (linux-image-amd64)"

C=${RUNG_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rung-vm}; mkdir -p "$C"
WORK=$(realpath "${RUNG_VM_WORKDIR:-$here/../..}")
ACCEL=${RUNG_VM_ACCEL:-tcg}
# Modules the initramfs loads, for the 9p root, the overlay and the scratch disk.
MODS="virtio_pci virtio_console virtio_blk 9pnet_virtio 9p overlay"

# Kernel: the uncompressed vmlinux, booted through its PVH entry; under TCG that saves the seconds
# the bzImage stub spends decompressing itself. A kernel not compressed with xz boots as it is.
VMLINUX=$C/vmlinux-$KVER
if [ ! -s "$VMLINUX" ]; then
  off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "/boot/vmlinuz-$KVER" | cut -d: -f1 | sed -n 1p)
  if [ -n "$off" ] && command -v xz >/dev/null; then
    # xz stops after its stream, so tail may die of SIGPIPE: that is not a failure.
    { tail -c +$((off + 1)) "/boot/vmlinuz-$KVER" || true; } | xz -dc --single-stream > "$VMLINUX.$$"
    mv "$VMLINUX.$$" "$VMLINUX"
  fi
fi
[ -s "$VMLINUX" ] || VMLINUX=/boot/vmlinuz-$KVER

# initramfs: static busybox, the modules in `modprobe -D` order, and a stage-1 init that switches
# to an overlay of the host's / (9p tag "root") with the per-run control dir (tag "ctl") at /vmh.
INITRD=$C/initrd-$KVER.cpio
if [ ! -s "$INITRD" ] || [ "${BASH_SOURCE[0]}" -nt "$INITRD" ]; then
  R=$(mktemp -d "$C/initrd.XXXX"); mkdir -p "$R"/{bin,dev,proc,sys,lib/modules,newroot}
  cp /bin/busybox "$R/bin/"
  for m in $MODS; do modprobe -S "$KVER" -D "$m"; done | awk '$1=="insmod" && !seen[$2]++ {print $2}' |
    while read -r ko; do cp "$ko" "$R/lib/modules/"; echo "/lib/modules/${ko##*/}" >> "$R/modules"; done
  cat > "$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin; export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
while read -r ko; do insmod "$ko" 2>/dev/null || echo "vm: insmod $ko failed"; done < /modules
o=trans=virtio,version=9p2000.L,msize=512000
mkdir /lower /rw; mount -t 9p -o $o,ro,cache=loose root /lower
mount -t tmpfs -o mode=755 rw /rw; mkdir /rw/u /rw/w
mount -t overlay -o lowerdir=/lower,upperdir=/rw/u,workdir=/rw/w overlay /newroot
mkdir -p /newroot/vmh; mount -t 9p -o $o ctl /newroot/vmh
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /bin/busybox sh /vmh/init2
EOF
  chmod +x "$R/init"
  (cd "$R" && find . | cpio -o -H newc --quiet) > "$R.cpio" && mv "$R.cpio" "$INITRD"; rm -rf "$R"
fi

# Per-run control dir: stage-2 init, the command's environment, its exit code, the console log.
CTL=$(mktemp -d "${TMPDIR:-/tmp}/rung-vm.XXXXXX"); trap 'rm -rf "$CTL"' EXIT
q() { local a; for a; do printf " '%s'" "${a//\'/\'\\\'\'}"; done; }
envs=(HOME=/root TERM=dumb RUNG_GUEST=1 PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
while IFS= read -r -d '' kv; do
  case $kv in RUNG_VM_*|RUNG_GUEST=*) ;; RUNG_*=*|GOTRACEBACK=*|GOMAXPROCS=*) envs+=("$kv") ;; esac
done < <(env -0)
truncate -s 4M "$CTL/disk.img"
{ echo "WORK=$(q "$WORK" | cut -c2-) CWD=$(q "$PWD" | cut -c2-)"
  echo "run() { cd \"\$CWD\" && exec /bin/busybox env -i$(q "${envs[@]}")$(q "$@"); }"
  cat <<'EOF'
B=/bin/busybox
$B mkdir -p /dev/pts /dev/shm
$B mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
for d in /dev/shm /tmp /run; do $B mount -t tmpfs -o mode=1777 tmpfs $d; done
$B mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $($B cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
$B mount -t securityfs securityfs /sys/kernel/security
$B ip link set lo up; $B hostname rung-vm
$B mkdir -p "$WORK"; $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap work "$WORK"
out=/dev/null err=/dev/null
for p in /sys/class/virtio-ports/*; do read -r n < $p/name; eval "$n=/dev/${p##*/}"; done
(run) < /dev/null > $out 2> $err
echo $? > /vmh/rc
$B sync; $B poweroff -f
EOF
} > "$CTL/init2"

mkfifo "$CTL/out" "$CTL/err"; cat "$CTL/out" & cat "$CTL/err" >&2 &
if [ "${RUNG_VM_DEBUG:-}" = 1 ]; then mkfifo "$CTL/console.log"; cat "$CTL/console.log" >&2 & fi
CPU=max; [ "$ACCEL" = kvm ] && CPU=host
rc=0
timeout --foreground "${RUNG_VM_TIMEOUT:-1800}" qemu-system-x86_64 -nodefaults -no-user-config -display none \
  -no-reboot -M pc -accel "$ACCEL" -cpu "$CPU" -smp "${RUNG_VM_SMP:-2}" -m "${RUNG_VM_MEM:-2G}" \
  -kernel "$VMLINUX" -initrd "$INITRD" \
  -append "console=ttyS0 quiet panic=-1 pci=noacpi mitigations=off apparmor=1 security=apparmor ${RUNG_VM_APPEND:-}" \
  -serial "file:$CTL/console.log" \
  -virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$WORK",mount_tag=work,security_model=passthrough,multidevs=remap \
  -virtfs local,path="$CTL",mount_tag=ctl,security_model=none \
  -drive file="$CTL/disk.img",if=virtio,format=raw,cache=unsafe \
  -device virtio-serial-pci \
  -chardev file,id=o,path="$CTL/out" -device virtserialport,chardev=o,name=out \
  -chardev file,id=e,path="$CTL/err" -device virtserialport,chardev=e,name=err \
  </dev/null || rc=$?
[ $rc = 0 ] || echo "tests/vm/run.sh: qemu exited with $rc$([ $rc = 124 ] && echo " (RUNG_VM_TIMEOUT ${RUNG_VM_TIMEOUT:-1800}s)")" >&2
for f in out err console.log; do [ -p "$CTL/$f" ] && : <>"$CTL/$f"; done; wait  # unblock the readers
[ -s "$CTL/rc" ] && exit "$(cat "$CTL/rc")"
echo "tests/vm/run.sh: no exit code from the guest; console log:" >&2
[ -f "$CTL/console.log" ] && cat "$CTL/console.log" >&2
exit 255
