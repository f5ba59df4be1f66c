package lsmhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fake builds a pretend host root. Each option writes one piece of it.
type fake struct {
	t    *testing.T
	root string
	// mounts are mountinfo lines; written by done().
	mounts []string
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, root: t.TempDir()}
	f.mounts = []string{
		"22 1 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw",
		"23 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
	}
	return f
}

func (f *fake) file(rel, content string) *fake {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return f
}

func (f *fake) dir(rel string) *fake {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Join(f.root, rel), 0o755); err != nil {
		f.t.Fatal(err)
	}
	return f
}

func (f *fake) mount(mountpoint, fstype string) *fake {
	f.mounts = append(f.mounts, "40 22 0:30 / "+mountpoint+" rw,relatime shared:9 - "+fstype+" "+fstype+" rw")
	return f
}

// apparmorOn is a host with AppArmor fully usable.
func (f *fake) apparmorOn(profiles string) *fake {
	return f.file(AppArmorParam, "Y\n").mount("/sys/kernel/security", "securityfs").file(AppArmorProfiles, profiles)
}

func (f *fake) selinuxOn() *fake {
	return f.mount("/sys/fs/selinux", "selinuxfs").file("sys/fs/selinux/enforce", "1")
}

func (f *fake) done() string {
	f.file(MountInfo, strings.Join(f.mounts, "\n")+"\n")
	return f.root
}
