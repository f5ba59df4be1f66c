package cgroupfs

import (
	"slices"
	"testing"
)

const hybridMountinfo = `23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/elogind rw,relatime - cgroup cgroup rw,name=elogind
50 23 0:32 /ctr /mnt/memory rw,relatime - cgroup cgroup rw,memory
`

func TestParseMountinfo(t *testing.T) {
	h, err := ParseMountinfo([]byte(hybridMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range h.Hierarchies {
		got = append(got, x.Path)
	}
	want := []string{"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/devices",
		"/sys/fs/cgroup/memory", "/sys/fs/cgroup/net_cls,net_prio", "/sys/fs/cgroup/systemd"}
	if !slices.Equal(got, want) {
		t.Errorf("hierarchies %q, want %q (one per hierarchy, name=elogind left alone, the bind mount of memory skipped)", got, want)
	}
	if h.Unified == nil || h.Unified.Path != "/sys/fs/cgroup/unified" {
		t.Errorf("unified = %+v", h.Unified)
	}
	c := h.Paths("/rung/ctr")
	if c["cpu"] != "/sys/fs/cgroup/cpu,cpuacct/rung/ctr" || c["cpuacct"] != c["cpu"] || c["name=systemd"] != "/sys/fs/cgroup/systemd/rung/ctr" {
		t.Errorf("Paths = %v", c)
	}
	if len(c.Dirs()) != 6 {
		t.Errorf("Dirs = %v, want one per hierarchy", c.Dirs())
	}
	if c.ProcsDir() != "/sys/fs/cgroup/memory/rung/ctr" {
		t.Errorf("ProcsDir = %s", c.ProcsDir())
	}
	if h.Mounted("pids") || !h.Mounted("net_prio") || !h.Mounted("name=systemd") || h.Mounted("name=elogind") {
		t.Error("Mounted is wrong")
	}
	pc := h.parseProcCgroup("12:name=systemd:/user.slice\n5:cpu,cpuacct:/rung/ctr\n3:memory:/../escaped\n0::/init.scope\n")
	if pc["cpu"] != "/sys/fs/cgroup/cpu,cpuacct/rung/ctr" || pc["name=systemd"] != "/sys/fs/cgroup/systemd/user.slice" || pc["memory"] != "" {
		t.Errorf("parseProcCgroup = %v", pc)
	}
}

func TestParseMountinfoNamespaced(t *testing.T) {
	// Only the bind mount of a sub-cgroup: paths in /proc/PID/cgroup are
	// relative to its root.
	h, err := ParseMountinfo([]byte("50 23 0:32 /ctr /mnt/memory rw - cgroup cgroup rw,memory\n51 23 0:33 / /mnt/devices rw - cgroup cgroup rw,devices\n"))
	if err != nil {
		t.Fatal(err)
	}
	pc := h.parseProcCgroup("3:memory:/ctr/sub\n4:memory:/other\n")
	if pc["memory"] != "" {
		t.Errorf("a cgroup outside the mount's root maps to %q", pc["memory"])
	}
	pc = h.parseProcCgroup("3:memory:/ctr/sub\n")
	if pc["memory"] != "/mnt/memory/sub" {
		t.Errorf("parseProcCgroup = %v", pc)
	}
	if h.Unified != nil {
		t.Errorf("unified = %+v on a host without cgroup2", h.Unified)
	}
	if _, err := ParseMountinfo([]byte("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")); err != ErrNoCgroupV1 {
		t.Errorf("pure v2 host: %v", err)
	}
}
