package devfilter_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
	"github.com/rung-runtime/rung/plugins/cgroupv2/internal/cgtest"
	"github.com/rung-runtime/rung/plugins/cgroupv2/plan"
)

func attach(t *testing.T, fd int, rules ...devfilter.Rule) {
	t.Helper()
	f, err := devfilter.Emulate(rules)
	if err != nil {
		t.Fatal(err)
	}
	insts, err := devfilter.Program(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := devfilter.Attach(fd, insts); err != nil {
		t.Fatal(err)
	}
}

// canOpen reports whether a shell inside the cgroup can open dev read-write.
func canOpen(t *testing.T, bb, dir, dev string) bool {
	t.Helper()
	// The shell would create a missing file; only real devices will do.
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Skipf("%s is not a character device here", dev)
	}
	out, err := cgtest.Run(t, dir, bb, "sh", "-c", "exec 3<>"+dev)
	if err != nil && !strings.Contains(out, "ermitted") {
		t.Fatalf("open %s in %s failed oddly: %v: %s", dev, dir, err, out)
	}
	return err == nil
}

func TestAttachDeniesDevFull(t *testing.T) {
	bb := cgtest.Busybox(t)
	m := cgtest.Mount(t)
	top := cgtest.Top(t)
	if _, err := cgroupfs.Create(m, top); err != nil {
		t.Fatal(err)
	}
	dir := m.Dir(top)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), dir) })
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	if !canOpen(t, bb, dir, "/dev/full") {
		t.Fatal("/dev/full cannot be opened even without a filter")
	}
	// Everything but /dev/full (1:7).
	attach(t, fd, devfilter.Rule{Type: 'a', Access: "rwm", Allow: true}, devfilter.Rule{Type: 'c', Major: 1, Minor: 7, Access: "rwm"})
	if canOpen(t, bb, dir, "/dev/full") {
		t.Error("/dev/full opened despite the deny rule")
	}
	if !canOpen(t, bb, dir, "/dev/null") {
		t.Error("/dev/null denied by a filter that only denies /dev/full")
	}

	// Replacing the filter leaves exactly one program: deny all but /dev/full.
	attach(t, fd, devfilter.Rule{Type: 'a', Access: "rwm"}, devfilter.Rule{Type: 'c', Major: 1, Minor: 7, Access: "rw", Allow: true})
	if n, err := devfilter.Attached(fd); err != nil || n != 1 {
		t.Fatalf("after replacing, %d programs attached (%v), want 1", n, err)
	}
	if !canOpen(t, bb, dir, "/dev/full") {
		t.Error("/dev/full denied after the replacement allowed it")
	}
	if canOpen(t, bb, dir, "/dev/null") {
		t.Error("/dev/null allowed by a deny-all filter")
	}

	// runc's defaults on top of a deny-all spec, as every container gets.
	rules, errs := plan.DeviceRules(nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	attach(t, fd, append([]devfilter.Rule{{Type: 'a', Access: "rwm"}}, rules...)...)
	for dev, want := range map[string]bool{"/dev/null": true, "/dev/zero": true, "/dev/full": true, "/dev/urandom": true, "/dev/kmsg": false} {
		if got := canOpen(t, bb, dir, dev); got != want {
			t.Errorf("with the default list, open %s = %v, want %v", dev, got, want)
		}
	}

	if err := devfilter.Detach(fd); err != nil {
		t.Fatal(err)
	}
	if n, _ := devfilter.Attached(fd); n != 0 {
		t.Errorf("%d programs left after Detach", n)
	}
}
