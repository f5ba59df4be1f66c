//go:build linux

package rootfs

import (
	"os"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	cases := []struct {
		name string
		opts []string
		want MountOptions
	}{
		{"empty", nil, MountOptions{}},
		{"runc dev tmpfs", []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			MountOptions{Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"}},
		{"devpts", []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			MountOptions{Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"}},
		{"rbind ro", []string{"rbind", "ro"},
			MountOptions{Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY}},
		{"bind then rw clears ro", []string{"bind", "ro", "rw"},
			MountOptions{Flags: unix.MS_BIND, Cleared: unix.MS_RDONLY}},
		{"rw then ro", []string{"rw", "ro"},
			MountOptions{Flags: unix.MS_RDONLY}},
		{"cleared flags", []string{"bind", "suid", "dev", "exec"},
			MountOptions{Flags: unix.MS_BIND, Cleared: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}},
		{"atime modes replace each other", []string{"noatime", "relatime"},
			MountOptions{Flags: unix.MS_RELATIME}},
		{"propagation in order", []string{"rbind", "rslave", "shared", "private", "unbindable", "rprivate", "rshared", "slave", "runbindable"},
			MountOptions{Flags: unix.MS_BIND | unix.MS_REC, Propagation: []uintptr{
				unix.MS_SLAVE | unix.MS_REC, unix.MS_SHARED, unix.MS_PRIVATE, unix.MS_UNBINDABLE,
				unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED | unix.MS_REC, unix.MS_SLAVE, unix.MS_UNBINDABLE | unix.MS_REC}}},
		{"recursive attrs", []string{"rbind", "rro", "rnosuid", "rdev"},
			MountOptions{Flags: unix.MS_BIND | unix.MS_REC,
				RecAttrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, RecAttrClr: unix.MOUNT_ATTR_NODEV}},
		{"recursive atime needs __ATIME in clr", []string{"rnoatime"},
			MountOptions{RecAttrSet: unix.MOUNT_ATTR_NOATIME, RecAttrClr: unix.MOUNT_ATTR__ATIME}},
		{"rrw after rro", []string{"rro", "rrw"},
			MountOptions{RecAttrClr: unix.MOUNT_ATTR_RDONLY}},
		{"extensions", []string{"tmpcopyup", "idmap", "ridmap"},
			MountOptions{CopyUp: true, IDMap: true, RecIDMap: true}},
		{"misc flags", []string{"sync", "dirsync", "remount", "nosymfollow", "lazytime", "defaults", "silent", "mand"},
			MountOptions{Flags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_REMOUNT | unix.MS_NOSYMFOLLOW | unix.MS_LAZYTIME | unix.MS_SILENT | unix.MS_MANDLOCK}},
		{"unknown is data", []string{"lowerdir=/a:/b", "context=\"x,y\"", "ro"},
			MountOptions{Flags: unix.MS_RDONLY, Data: "lowerdir=/a:/b,context=\"x,y\""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ParseMountOptions(c.opts)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("ParseMountOptions(%q)\n got  %+v\n want %+v", c.opts, got, c.want)
			}
		})
	}
}

func TestRootPropagation(t *testing.T) {
	for in, want := range map[string]uintptr{
		"":         unix.MS_SLAVE | unix.MS_REC,
		"rslave":   unix.MS_SLAVE | unix.MS_REC,
		"shared":   unix.MS_SHARED,
		"rprivate": unix.MS_PRIVATE | unix.MS_REC,
		"private":  unix.MS_PRIVATE,
	} {
		got, err := RootPropagation(in)
		if err != nil || got != want {
			t.Errorf("RootPropagation(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	if _, err := RootPropagation("bogus"); err == nil {
		t.Error("RootPropagation(bogus) did not fail")
	}
}

func TestStatfsToMountFlags(t *testing.T) {
	got := statfsToMountFlags(unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC | unix.ST_RELATIME | 0x2000)
	want := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME | unix.MS_NOSYMFOLLOW)
	if got != want {
		t.Errorf("statfsToMountFlags = %#x, want %#x", got, want)
	}
}

func TestFormatMountLabel(t *testing.T) {
	if got := formatMountLabel("mode=755", ""); got != "mode=755" {
		t.Errorf("no label: %q", got)
	}
	if got := formatMountLabel("", "system_u:object_r:container_file_t:s0:c1,c2"); got != `context="system_u:object_r:container_file_t:s0:c1,c2"` {
		t.Errorf("label only: %q", got)
	}
	if got := formatMountLabel("mode=755", "l"); got != `mode=755,context="l"` {
		t.Errorf("label and data: %q", got)
	}
	if !hasDataOption("size=1k,mode=755", "mode") || hasDataOption("ptmxmode=0666", "mode") {
		t.Error("hasDataOption")
	}
}

func TestCheckProcDest(t *testing.T) {
	proc := specs.Mount{Type: "proc", Source: "proc"}
	tmpfs := specs.Mount{Type: "tmpfs", Source: "tmpfs"}
	bind := specs.Mount{Type: "bind", Source: t.TempDir()}
	for _, c := range []struct {
		rel  string
		m    specs.Mount
		bind bool
		ok   bool
	}{
		{"/proc", proc, false, true},
		{"/proc", tmpfs, false, false},
		{"/proc", bind, true, false},
		{"/proc/sys", tmpfs, false, false},
		{"/proc/cpuinfo", bind, true, true},
		{"/proc/cpuinfo", tmpfs, false, false},
		{"/proc/self", bind, true, false},
		{"/procfoo", tmpfs, false, true},
		{"/dev", tmpfs, false, true},
	} {
		err := checkProcDest(c.rel, c.m, c.bind)
		if (err == nil) != c.ok {
			t.Errorf("checkProcDest(%q, %s, bind=%v) = %v, want ok=%v", c.rel, c.m.Type, c.bind, err, c.ok)
		}
	}
}

func TestCgroupDirIn(t *testing.T) {
	for _, c := range []struct {
		mp, root, cg, want string
		ok                 bool
	}{
		{"/sys/fs/cgroup/unified", "/", "/rung/c1", "/sys/fs/cgroup/unified/rung/c1", true},
		{"/sys/fs/cgroup", "/", "/", "/sys/fs/cgroup", true},
		{"/mnt/cg", "/rung", "/rung/c1", "/mnt/cg/c1", true},
		{"/mnt/cg", "/rung", "/rungx/c1", "", false},
		{"/mnt/cg", "/../..", "/", "", false},
		{"/mnt/cg", "/", "/../x", "", false},
	} {
		got, ok := cgroupDirIn(c.mp, c.root, c.cg)
		if got != c.want || ok != c.ok {
			t.Errorf("cgroupDirIn(%q, %q, %q) = %q, %v; want %q, %v", c.mp, c.root, c.cg, got, ok, c.want, c.ok)
		}
	}
	p, err := parseCgroup2Path([]byte("12:pids:/x\n0::/rung/c1\n"))
	if err != nil || p != "/rung/c1" {
		t.Errorf("parseCgroup2Path = %q, %v", p, err)
	}
	if _, err := parseCgroup2Path([]byte("1:cpu:/\n")); err == nil {
		t.Error("parseCgroup2Path without 0:: did not fail")
	}
}

func TestDevices(t *testing.T) {
	m := os.FileMode(0o600)
	l := &specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: &m},
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
	}}
	devs := Devices(l)
	var paths []string
	for _, d := range devs {
		paths = append(paths, d.Path)
	}
	want := []string{"/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/null", "/dev/fuse"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("Devices paths = %v, want %v", paths, want)
	}
	if md, _ := deviceMode(devs[5]); md != unix.S_IFCHR|0o600 {
		t.Errorf("spec /dev/null mode = %#o", md)
	}
	if md, _ := deviceMode(devs[6]); md != unix.S_IFCHR|0o666 {
		t.Errorf("default mode = %#o", md)
	}
	for typ, want := range map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK, "p": unix.S_IFIFO} {
		md, err := deviceMode(specs.LinuxDevice{Type: typ})
		if err != nil || md&unix.S_IFMT != want {
			t.Errorf("deviceMode(%s) = %#o, %v", typ, md, err)
		}
	}
	sticky := os.FileMode(0o644) | os.ModeSetuid | os.ModeSticky
	if md, _ := deviceMode(specs.LinuxDevice{Type: "c", FileMode: &sticky}); md != unix.S_IFCHR|unix.S_ISUID|unix.S_ISVTX|0o644 {
		t.Errorf("special bits: %#o", md)
	}
	errs := ValidateDevices(&specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "dev/x", Type: "c"},
		{Path: "/dev/y", Type: "q"},
		{Path: "/", Type: "c"},
		{Path: "/dev/z", Type: "b", Major: -1},
	}})
	if len(errs) != 4 {
		t.Errorf("ValidateDevices: %d errors, want 4: %v", len(errs), errs)
	}
}

func TestNeedsSetupDev(t *testing.T) {
	if !needsSetupDev(&specs.Spec{Mounts: []specs.Mount{{Destination: "/dev", Type: "tmpfs"}}}) {
		t.Error("tmpfs /dev should be set up")
	}
	if needsSetupDev(&specs.Spec{Mounts: []specs.Mount{{Destination: "/dev/", Type: "none", Options: []string{"rbind"}}}}) {
		t.Error("bind /dev should not be set up")
	}
	if needsSetupDev(&specs.Spec{Mounts: []specs.Mount{{Destination: "/dev", Type: "bind"}}}) {
		t.Error("type bind /dev should not be set up")
	}
	if !needsSetupDev(&specs.Spec{}) {
		t.Error("no /dev mount: set up (runc)")
	}
}

func TestCleanDest(t *testing.T) {
	for in, want := range map[string]string{
		"/proc": "/proc", "proc": "/proc", "/dev/../../etc": "/etc", "/a//b/": "/a/b", "": "/",
	} {
		if got := cleanDest(in); got != want {
			t.Errorf("cleanDest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	spec := &specs.Spec{
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "", Type: "tmpfs"},
			{Destination: "/", Type: "tmpfs"},
			{Destination: "/x", Source: "/tmp"},
			{Destination: "/y", Type: "bind", Source: "/tmp", Options: []string{"ridmap"}},
			{Destination: "/proc/sys", Type: "tmpfs"},
			{Destination: "/z", Type: "none", Options: []string{"rbind"}},
			{Destination: "relative", Type: "tmpfs"},
		},
		Linux: &specs.Linux{RootfsPropagation: "sideways", Devices: []specs.LinuxDevice{{Path: "/dev/q", Type: "x"}}},
	}
	var got []string
	for _, e := range Validate(spec) {
		got = append(got, e.Error())
	}
	want := []string{
		`mounts[1]: mount "tmpfs" on "": destination is empty`,
		`mounts[2]: mount "tmpfs" on "/": cannot mount over the container's root; use root.path`,
		`mounts[3]: mount "/tmp" on "/x": mount has no type and is not a bind mount`,
		`mounts[4]: mount "/tmp" on "/y": id-mapped mounts (idmap, ridmap, uidMappings, gidMappings) are not supported yet`,
		`mounts[5]: mount "tmpfs" on "/proc/sys": mount destination resolves to "/proc/sys", inside /proc, which is not allowed`,
		`mounts[6]: mount "none" on "/z": bind mount without a source`,
		`linux.rootfsPropagation: unknown propagation "sideways"`,
		`linux.devices[0].type: unknown device type "x" (want c, u, b or p)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Validate:\n got  %q\n want %q", got, want)
	}
	if errs := Validate(&specs.Spec{Mounts: []specs.Mount{{Destination: "/proc", Type: "proc"}}}); len(errs) != 0 {
		t.Errorf("valid spec: %v", errs)
	}
}
