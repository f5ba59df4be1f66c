package cgroupfs

import (
	"errors"
	"strings"
	"testing"
)

const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const pureV2 = `24 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

const inContainer = `601 600 0:30 /../../machine/c1 /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw
602 600 0:30 / /run/cg rw - cgroup2 cgroup2 rw
`

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name, table string
		want        Mount
		err         error
	}{
		{"hybrid", hybrid, Mount{Path: "/sys/fs/cgroup/unified", Root: "/"}, nil},
		{"pure v2", pureV2, Mount{Path: "/sys/fs/cgroup", Root: "/"}, nil},
		{"full hierarchy preferred", inContainer, Mount{Path: "/run/cg", Root: "/"}, nil},
		{"only a subtree", strings.SplitN(inContainer, "\n", 2)[0] + "\n", Mount{Path: "/sys/fs/cgroup", Root: "/../../machine/c1"}, nil},
		{"none", "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", Mount{}, ErrNoCgroup2},
	} {
		got, err := ParseMountinfo(strings.NewReader(tc.table))
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestCgroupLine(t *testing.T) {
	root := Mount{Path: "/sys/fs/cgroup/unified", Root: "/"}
	sub := Mount{Path: "/sys/fs/cgroup", Root: "/machine"}
	for _, tc := range []struct {
		m         Mount
		data      string
		want, err string
	}{
		{root, "9:name=systemd:/\n1:cpu:/\n0::/rung/c1\n", "/sys/fs/cgroup/unified/rung/c1", ""},
		{root, "0::/\n", "/sys/fs/cgroup/unified", ""},
		{sub, "0::/machine/c1\n", "/sys/fs/cgroup/c1", ""},
		{sub, "0::/other/c1\n", "", ""},
		{root, "0::/../x\n", "", ""},
		{root, "1:cpu:/\n", "", "no cgroup v2 membership"},
	} {
		got, err := tc.m.cgroupLine(tc.data, 42)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("cgroupLine(%q) under %+v = %q, %v; want %q, %q", tc.data, tc.m, got, err, tc.want, tc.err)
		}
	}
}

func TestMountDir(t *testing.T) {
	m := Mount{Path: "/sys/fs/cgroup/unified", Root: "/"}
	if got := m.Dir("/a/b"); got != "/sys/fs/cgroup/unified/a/b" {
		t.Errorf("Dir = %s", got)
	}
	if got := m.Dir("../../etc"); got != "/sys/fs/cgroup/unified/etc" {
		t.Errorf("Dir keeps paths below the mount, got %s", got)
	}
	for _, bad := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/unifiedx/a", "/etc", "/sys/fs/cgroup/unified/a/../b"} {
		if err := m.Check(bad); err == nil {
			t.Errorf("Check(%s) passed", bad)
		}
	}
}
