package main

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/tests/testutil"
)

// machine names the host a run's figures came from.
func machine() string {
	var b strings.Builder
	model, procs, hyper := "unknown cpu", 0, false
	if ci, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(ci), "\n") {
			k, v, _ := strings.Cut(line, ":")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case k == "processor":
				procs++
			case k == "model name" && model == "unknown cpu":
				model = v
			case k == "flags" && strings.Contains(" "+v+" ", " hypervisor "):
				hyper = true
			}
		}
	}
	kernel, _ := testutil.KernelRelease()
	virt := ""
	if hyper {
		virt = ", virtualised"
	}
	fmt.Fprintf(&b, "cpu: %s, nproc %d (%d in /proc/cpuinfo)%s\n", model, goruntime.NumCPU(), procs, virt)
	fmt.Fprintf(&b, "kernel: %s, memory %.1f GiB, cgroups %s\n", kernel, meminfo("MemTotal")/1024/1024, cgroupLayout())
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "load average at start: %s", strings.TrimSpace(string(load)))
	return b.String()
}

func cgroupLayout() string {
	var fs unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &fs) != nil {
		return "unknown"
	}
	if fs.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2 (unified)"
	}
	if unix.Statfs("/sys/fs/cgroup/unified", &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		ctl, _ := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
		c := strings.TrimSpace(string(ctl))
		if c == "" {
			c = "none"
		}
		return "hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified, controllers: " + c + ")"
	}
	return "v1"
}

// fsType names the file system a path is on, as far as it matters here.
func fsType(path string) string {
	var fs unix.Statfs_t
	if unix.Statfs(path, &fs) != nil {
		return "unknown fs"
	}
	switch fs.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("fs magic %#x", fs.Type)
}
