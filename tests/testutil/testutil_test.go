package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultSpecShape(t *testing.T) {
	s := DefaultSpec()
	if s.Process.Terminal || s.Process.Args[0] != "sh" || !s.Root.Readonly {
		t.Errorf("not runc's default shape: %+v", s.Process)
	}
	if len(s.Linux.Namespaces) != 6 || len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
		t.Errorf("namespaces/masked/readonly missing: %+v", s.Linux)
	}
	if s.Process.Capabilities.Inheritable != nil || s.Process.Capabilities.Ambient != nil {
		t.Error("default spec must not ask for inheritable or ambient capabilities")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := UnescapeMount(`/a\040b\011c`); got != "/a b\tc" {
		t.Errorf("got %q", got)
	}
}

func TestBundleLayout(t *testing.T) {
	b := Bundle(t, Args("true"))
	for _, p := range []string{"config.json", "rootfs/bin/busybox", "rootfs/bin/sh", "rootfs/etc/passwd", "rootfs/proc", "rootfs/tmp"} {
		if _, err := os.Lstat(filepath.Join(b, p)); err != nil {
			t.Errorf("bundle lacks %s: %v", p, err)
		}
	}
	if s := ReadSpec(t, b); s.Process.Args[0] != "true" {
		t.Errorf("mutate not applied: %q", s.Process.Args)
	}
}

// The checker must see a container that is still there, or its silence
// after delete means nothing.
func TestLeakCheckerSeesLiveContainer(t *testing.T) {
	rt := NewRuntime(t)
	snap := Snapshot()
	id := ID(t)
	c := rt.Create(t, id, Bundle(t, Shell("exec sleep 600")))
	rt.Start(t, id)
	_ = c
	// The container's process is looked for by what it carries (cmdline,
	// environ, cwd), which reads as empty while it is in the middle of an
	// execve (the init's, then sh's): look again until it has settled.
	var kinds map[string]bool
	Poll(func() bool {
		kinds = map[string]bool{}
		for _, l := range FindLeaks(t, snap) {
			kinds[l.Kind] = true
		}
		return kinds["process"] && kinds["state dir"]
	})
	for _, l := range FindLeaks(t, snap) {
		t.Logf("seen: %s", l)
	}
	for _, k := range []string{"process", "state dir"} {
		if !kinds[k] {
			t.Errorf("leak checker missed the live container's %s", k)
		}
	}
	rt.MustDelete(t, id, true)
	CheckNoLeaks(t, snap, id)
}

func TestOnlyUniqueIDsAreMarkers(t *testing.T) {
	id := ID(t)
	for _, good := range []string{id, id + "-true"} {
		if !isTestID(good) {
			t.Errorf("%q should be a test id", good)
		}
	}
	for _, bad := range []string{"", "a/b", "../escape", "sh", "rt-x", "rt--0123456789/x"} {
		if isTestID(bad) {
			t.Errorf("%q must not be a marker", bad)
		}
	}
}
