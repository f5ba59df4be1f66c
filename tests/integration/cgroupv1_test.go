package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/launcher"
	tu "github.com/rung-runtime/rung/tests/testutil"
)

// This host is hybrid (v1 controllers under /sys/fs/cgroup/<name>), so the
// cgroups stage is rung-cgroupv1, as runc uses its v1 manager here. These
// tests prove its limits from inside real containers; the guest suite does
// the same for rung-cgroupv2.
func requireCgroupV1(t *testing.T, controllers ...string) {
	t.Helper()
	if tu.IsRunc() {
		// runc drives v1 on such a host too; the tests hold for it.
	} else if launcher.CgroupsBinary() != "rung-cgroupv1" {
		t.Skip("/sys/fs/cgroup is a cgroup2 mount: the cgroups stage is rung-cgroupv2 here (tests/guest covers it)")
	}
	for _, c := range controllers {
		if _, ok := v1Hierarchy(c); !ok {
			t.Skipf("no cgroup v1 hierarchy for %s on this host", c)
		}
	}
}

// v1Hierarchy is the mount point of controller's v1 hierarchy.
func v1Hierarchy(controller string) (string, bool) {
	for _, m := range tu.Mounts() {
		if m.FSType == "cgroup" && slices.Contains(strings.Split(m.SuperOptions, ","), controller) {
			return m.Point, true
		}
	}
	return "", false
}

// v1CgroupOf is a process's cgroup in controller's hierarchy, from the host.
func v1CgroupOf(t *testing.T, pid int, controller string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	must(t, err)
	for _, l := range tu.Lines(string(b)) {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && parts[1] != "" {
			for _, c := range strings.Split(parts[1], ",") {
				if c == controller {
					return parts[2]
				}
			}
		}
	}
	t.Fatalf("pid %d has no %s cgroup: %q", pid, controller, b)
	return ""
}

// A fork past pids.max fails inside the container; `rung update` raises
// the limit live and the same forks then succeed. The shell waits on a fifo
// in between: anything it forked while at the limit would fail.
func TestCgroupV1PidsLimitAndUpdate(t *testing.T) {
	requireCgroupV1(t, "pids")
	rt, snap := setup(t)
	id := tu.ID(t)
	limit := int64(6)
	// A failed fork ends a non-interactive busybox sh: the forks run in a
	// subshell, whose sleeps are gone before the next round.
	fork := `(for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait) && echo forks-ok; `
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		must(t, unix.Mkfifo(filepath.Join(rootfs, "go"), 0o600))
		s.Process.Args = []string{"sh", "-c", fork + `echo ROUND1; read x < /go; ` + fork + `echo ROUND2; exec sleep 60`}
		s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
	})
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	out := c.WaitOutput(t, "ROUND1")
	if strings.Contains(out, "forks-ok") || !strings.Contains(c.Stderr(), "can't fork") {
		t.Errorf("8 forks under pids limit %d all succeeded: %q, stderr %q", limit, out, c.Stderr())
	}
	if res := rt.Exec(t, tu.ExecOpts{Args: []string{"update", "--pids-limit", "64", id}}); res.Exit != 0 {
		t.Fatalf("update --pids-limit: %s", res)
	}
	fifo, err := os.OpenFile(filepath.Join("/proc", strconv.Itoa(c.Pid(t)), "root/go"), os.O_WRONLY, 0)
	must(t, err)
	_, err = fifo.WriteString("go\n")
	must(t, err)
	fifo.Close()
	if out := c.WaitOutput(t, "ROUND2"); !strings.Contains(out, "ROUND1\nforks-ok\n") {
		t.Errorf("forks failed after update --pids-limit 64: %q, stderr %q", out, c.Stderr())
	}
	rt.MustDelete(t, id, true)
	must(t, os.Remove(filepath.Join(tu.RootfsOf(bundle), "go")))
	tu.CheckNoLeaks(t, snap, id)
}

// An allocation past memory.limit_in_bytes gets the container's process
// OOM-killed, and `rung events --stats` reports the limit and the failures.
func TestCgroupV1MemoryLimitOOMKill(t *testing.T) {
	requireCgroupV1(t, "memory")
	rt, snap := setup(t)
	id := tu.ID(t)
	limit := int64(32 << 20)
	c := rt.Create(t, id, tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo dd-status=$?; echo END; exec sleep 30`}
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	}))
	mnt, _ := v1Hierarchy("memory")
	cg := filepath.Join(mnt, v1CgroupOf(t, c.Pid(t), "memory"))
	rt.Start(t, id)
	out := c.WaitOutput(t, "END")
	if !strings.Contains(out, "dd-status=137") {
		t.Errorf("dd was not OOM-killed under a 32 MiB limit: %q, stderr %q", out, c.Stderr())
	}
	// The kernel's own count (memory.failcnt stays 0 on newer kernels).
	if oc, err := os.ReadFile(filepath.Join(cg, "memory.oom_control")); err != nil || !strings.Contains(string(oc), "oom_kill ") ||
		strings.Contains(string(oc), "oom_kill 0") {
		t.Errorf("%s/memory.oom_control after the kill: %q, %v", cg, oc, err)
	}
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"events", "--stats", id}})
	var ev struct {
		Type string
		Data struct {
			Memory struct {
				Usage struct{ Limit, Max uint64 }
			}
		}
	}
	if res.Exit != 0 || json.Unmarshal([]byte(res.Stdout), &ev) != nil {
		t.Fatalf("events --stats: %s", res)
	}
	if mem := ev.Data.Memory; ev.Type != "stats" || mem.Usage.Limit != uint64(limit) || mem.Usage.Max != uint64(limit) {
		t.Errorf("events --stats after the OOM kill: type %q, memory.usage limit %d max %d; want stats and %d for both",
			ev.Type, mem.Usage.Limit, mem.Usage.Max, limit)
	}
	rt.MustDelete(t, id, true)
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("memory cgroup %s still there after delete: %v", cg, err)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// The device list is enforced by the v1 devices controller. runc's default
// allow list (null, zero, tty, ...) always comes with the spec's rules, so
// the test uses /dev/kmsg (1:11, not in it): a write to a node made in the
// container is denied, and allowed after a live update; and an exec'd
// process joins every hierarchy of the init.
func TestCgroupV1DevicesAndExec(t *testing.T) {
	requireCgroupV1(t, "devices")
	rt, snap := setup(t)
	id := tu.ID(t)
	kmsg := `[ -c /dev/rung-kmsg ] || mknod /dev/rung-kmsg c 1 11 || echo mknod-failed; ` +
		`echo rung-cgroupv1-test > /dev/rung-kmsg && echo kmsg-ok || echo kmsg-denied`
	c := rt.Create(t, id, tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", kmsg + `; echo END; exec sleep 60`}
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_MKNOD")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_MKNOD")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_MKNOD")
		s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	}))
	rt.Start(t, id)
	if out := c.WaitOutput(t, "END"); !strings.Contains(out, "kmsg-denied") {
		t.Errorf("a write to 1:11 with every device denied: %q, want kmsg-denied", out)
	}
	// An exec'd process joins every hierarchy of the init, the devices one
	// included.
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	res := rt.Exec(t, tu.ExecOpts{Args: []string{"exec", "-d", "--pid-file", pidFile, id, "sleep", "60"}})
	if res.Exit != 0 {
		t.Fatalf("exec: %s", res)
	}
	b, err := os.ReadFile(pidFile)
	must(t, err)
	execPid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for _, ctl := range []string{"devices", "memory", "pids", "cpu", "freezer"} {
		if _, ok := v1Hierarchy(ctl); ok {
			if a, b := v1CgroupOf(t, c.Pid(t), ctl), v1CgroupOf(t, execPid, ctl); a != b {
				t.Errorf("%s: init in %q, exec'd process in %q", ctl, a, b)
			}
		}
	}
	upd := `{"devices": [{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]}`
	res = rt.Exec(t, tu.ExecOpts{Args: []string{"update", "--resources", "-", id}, Stdin: tu.StdinFile(t, []byte(upd))})
	if res.Exit != 0 {
		t.Fatalf("update devices: %s", res)
	}
	res = rt.Exec(t, tu.ExecOpts{Args: []string{"exec", id, "sh", "-c", kmsg}})
	if !strings.Contains(res.Stdout, "kmsg-ok") {
		t.Errorf("after allowing 1:11 by update, exec could not write it: %s", res)
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

// pause freezes the container through the v1 freezer: its counter stops,
// state says paused, and resume lets it go on.
func TestCgroupV1PauseResume(t *testing.T) {
	requireCgroupV1(t, "freezer")
	rt, snap := setup(t)
	id := tu.ID(t)
	c := rt.Create(t, id, tu.Bundle(t, tu.Shell(`i=0; while true; do i=$((i+1)); echo $i > /tmp/count; usleep 20000; done`)))
	rt.Start(t, id)
	count := func() int {
		b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.Pid(t)), "root/tmp/count"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	if !tu.Poll(func() bool { return count() > 2 }) {
		t.Fatalf("the counter never ran: %d", count())
	}
	if _, _, code := rt.Run(t, "pause", id); code != 0 {
		t.Fatalf("pause failed")
	}
	if st := rt.State(t, id); st.Status != "paused" {
		t.Errorf("state after pause: %q, want paused", st.Status)
	}
	before := count()
	time.Sleep(300 * time.Millisecond) // what is measured is that nothing moves
	if after := count(); after != before {
		t.Errorf("the counter went on while paused: %d -> %d", before, after)
	}
	if _, _, code := rt.Run(t, "resume", id); code != 0 {
		t.Fatalf("resume failed")
	}
	if !tu.Poll(func() bool { return count() > before+2 }) {
		t.Errorf("the counter did not go on after resume: %d", count())
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

// A limit whose controller has no v1 hierarchy here (hugetlb is bound to
// the cgroup2 mount on this host) fails create with the field named, and
// leaves no cgroup in any hierarchy.
func TestCgroupV1MissingController(t *testing.T) {
	requireCgroupV1(t)
	tu.RequireRung(t, "rung's error text")
	if _, ok := v1Hierarchy("hugetlb"); ok {
		t.Skip("this host has a v1 hugetlb hierarchy")
	}
	rt, snap := setup(t)
	id := tu.ID(t)
	_, res := rt.TryCreate(t, id, tu.Bundle(t, func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}}
	}), tu.CreateOpts{})
	if msg := expectFailure(t, res); !strings.Contains(msg, "hugepageLimits") {
		t.Errorf("error should name linux.resources.hugepageLimits: %q", msg)
	}
	rt.Delete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}
