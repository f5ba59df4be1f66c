package cgroupfs_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv2/internal/cgtest"
	"github.com/rung-runtime/rung/plugins/cgroupv2/plan"
)

func TestFindMountHere(t *testing.T) {
	m, err := cgroupfs.FindMount()
	if err != nil {
		t.Skipf("no cgroup2 here: %v", err)
	}
	if err := m.Check(m.Path + "/nonexistent"); err == nil {
		t.Error("Check accepted a missing directory")
	}
	if _, err := cgroupfs.Controllers(m.Path); err != nil {
		t.Errorf("cgroup.controllers of %s: %v", m.Path, err)
	}
}

func TestCreateAndRemove(t *testing.T) {
	m := cgtest.Mount(t)
	top := cgtest.Top(t)
	rel := top + "/a/b"
	created, err := cgroupfs.Create(m, rel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), m.Dir(top)) })
	want := []string{m.Dir(top), m.Dir(top + "/a"), m.Dir(rel)}
	if !slices.Equal(created, want) {
		t.Fatalf("created %v, want %v", created, want)
	}
	if err := m.Check(m.Dir(rel)); err != nil {
		t.Fatal(err)
	}
	// An empty existing cgroup is reused and nothing new is made.
	again, err := cgroupfs.Create(m, rel)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Create = %v, %v; want nothing created", again, err)
	}
	rootBefore, _ := cgroupfs.ReadFile(m.Path, "cgroup.subtree_control")
	if err := cgroupfs.EnableControllers(m, rel, nil); err != nil {
		t.Fatal(err)
	}
	// The host's root only gets controllers a limit needs.
	if after, _ := cgroupfs.ReadFile(m.Path, "cgroup.subtree_control"); after != rootBefore {
		t.Errorf("root cgroup.subtree_control changed from %q to %q with nothing needed", rootBefore, after)
	}
	// Below the root, every available controller is passed down.
	if topCtl, _ := cgroupfs.ReadFile(m.Dir(top), "cgroup.controllers"); topCtl != "" {
		if on, _ := cgroupfs.ReadFile(m.Dir(top), "cgroup.subtree_control"); on != topCtl {
			t.Errorf("%s enables %q, has %q", m.Dir(top), on, topCtl)
		}
	}
	// A sibling under the same parent shares it; removing one container
	// must leave the parent to the other.
	sib, err := cgroupfs.Create(m, top+"/a/c")
	if err != nil || !slices.Equal(sib, []string{m.Dir(top + "/a/c")}) {
		t.Fatalf("sibling Create = %v, %v", sib, err)
	}

	sleeper := cgtest.Start(t, m.Dir(rel), "sleep", "1000")
	if _, err := cgroupfs.Create(m, rel); err == nil {
		t.Error("Create reused a cgroup with a process in it")
	}
	if got, err := m.ProcessCgroup(sleeper.Process.Pid); err != nil || got != m.Dir(rel) {
		t.Errorf("ProcessCgroup = %q, %v; want %s", got, err, m.Dir(rel))
	}

	if err := cgroupfs.Remove(context.Background(), m.Dir(rel)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Dir(rel)); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", m.Dir(rel), err)
	}
	if err := cgroupfs.RemoveIfEmpty(created[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Dir(top + "/a/c")); err != nil {
		t.Fatalf("sibling gone with its neighbour: %v", err)
	}
	if err := cgroupfs.Remove(context.Background(), m.Dir(top+"/a/c")); err != nil {
		t.Fatal(err)
	}
	if err := cgroupfs.RemoveIfEmpty(created[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Dir(top)); !os.IsNotExist(err) {
		t.Fatalf("created parents not removed: %v", err)
	}
	// Removing what is gone is success.
	if err := cgroupfs.Remove(context.Background(), m.Dir(rel)); err != nil {
		t.Fatal(err)
	}
}

func TestFreezeKillPids(t *testing.T) {
	bb := cgtest.Busybox(t)
	m := cgtest.Mount(t)
	top := cgtest.Top(t)
	dir := m.Dir(top)
	if _, err := cgroupfs.Create(m, top+"/child"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), dir) })

	spin := cgtest.Start(t, dir, bb, "sh", "-c", "while :; do :; done")
	inner := cgtest.Start(t, dir+"/child", "sleep", "1000")
	pids, err := cgroupfs.AllPids(dir)
	slices.Sort(pids)
	want := []int{spin.Process.Pid, inner.Process.Pid}
	slices.Sort(want)
	if err != nil || !slices.Equal(pids, want) {
		t.Fatalf("AllPids = %v, %v; want %v", pids, err, want)
	}
	if pop, err := cgroupfs.Populated(dir); err != nil || !pop {
		t.Fatalf("Populated = %v, %v", pop, err)
	}

	if err := cgroupfs.Freeze(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if f, err := cgroupfs.Frozen(dir); err != nil || !f {
		t.Fatalf("after Freeze, Frozen = %v, %v", f, err)
	}
	// A frozen busy loop uses no CPU at all.
	before := cgtest.CPUTime(t, spin.Process.Pid)
	time.Sleep(100 * time.Millisecond)
	if after := cgtest.CPUTime(t, spin.Process.Pid); after != before {
		t.Errorf("frozen process ran: cpu time %d -> %d", before, after)
	}
	if err := cgroupfs.Thaw(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if f, err := cgroupfs.Frozen(dir); err != nil || f {
		t.Fatalf("after Thaw, Frozen = %v, %v", f, err)
	}
	cgtest.Eventually(t, "the thawed loop to run", func() bool { return cgtest.CPUTime(t, spin.Process.Pid) != before })

	// A signal reaches every process of the tree.
	if err := cgroupfs.Signal(dir, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cgtest.Eventually(t, "sleep to die of SIGTERM", func() bool { return inner.ProcessState != nil || !alive(inner.Process.Pid) })

	// Kill and remove also work on a frozen tree.
	if err := cgroupfs.Freeze(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if err := cgroupfs.Remove(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s left: %v", dir, err)
	}
}

func alive(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// A zombie is dead for this purpose.
	for i := len(data) - 1; i >= 0; i-- {
		if data[i] == ')' {
			return i+2 < len(data) && data[i+2] != 'Z'
		}
	}
	return true
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestKillWithoutCgroupKill(t *testing.T) {
	// The freeze-and-signal path for kernels before 5.14 is what Kill does
	// when cgroup.kill is missing; here it runs through Signal directly.
	m := cgtest.Mount(t)
	top := cgtest.Top(t)
	if _, err := cgroupfs.Create(m, top); err != nil {
		t.Fatal(err)
	}
	dir := m.Dir(top)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), dir) })
	for range 3 {
		cgtest.Start(t, dir, "sleep", "1000")
	}
	if err := cgroupfs.Freeze(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if err := cgroupfs.Signal(dir, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cgroupfs.Thaw(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if err := cgroupfs.WaitEmpty(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
}

func TestApplyAndStats(t *testing.T) {
	m := cgtest.Mount(t)
	top := cgtest.Top(t)
	if _, err := cgroupfs.Create(m, top); err != nil {
		t.Fatal(err)
	}
	dir := m.Dir(top)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), dir) })
	var need []string
	if root, _ := cgroupfs.Controllers(m.Path); root["hugetlb"] {
		need = []string{"hugetlb"}
	}
	if err := cgroupfs.EnableControllers(m, top, need); err != nil {
		t.Fatal(err)
	}
	// Core files exist everywhere, so the generic write path is proven here.
	err := cgroupfs.Apply(dir, []plan.Write{
		{Field: "f", File: "cgroup.max.depth", Value: "3"},
		{Field: "g", File: "nonexistent.max", Value: "1", IfExists: true},
		{Field: "h", File: "nonexistent.weight", Value: "1", Else: &plan.Write{Field: "h", File: "cgroup.max.descendants", Value: "7"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"cgroup.max.depth": "3\n", "cgroup.max.descendants": "7\n"} {
		if got, _ := cgroupfs.ReadFile(dir, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	err = cgroupfs.Apply(dir, []plan.Write{{Field: "linux.resources.memory.limit", Controller: "memory", File: "memory.max.nonexistent", Value: "1"}})
	if err == nil {
		t.Error("a missing controller file was not an error")
	}

	// hugetlb is the one controller this host's cgroup2 may have.
	ctrls, _ := cgroupfs.Controllers(dir)
	if ctrls["hugetlb"] {
		if err := cgroupfs.Apply(dir, []plan.Write{{Field: "x", Controller: "hugetlb", File: "hugetlb.2MB.max", Value: "4194304"}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := cgroupfs.ReadFile(dir, "hugetlb.2MB.max"); got != "4194304\n" {
			t.Errorf("hugetlb.2MB.max = %q", got)
		}
	}

	cgtest.Start(t, dir, "sleep", "1000")
	st, err := cgroupfs.ReadStats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current != 1 {
		t.Errorf("pids.current = %d, want 1", st.Pids.Current)
	}
	if ctrls["hugetlb"] {
		if _, ok := st.Hugetlb["2MB"]; !ok {
			t.Errorf("no 2MB hugetlb stats: %+v", st.Hugetlb)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cpu.pressure")); err == nil && st.CPU.PSI == nil {
		t.Error("cpu.pressure exists but no CPU PSI reported")
	}
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(js, &shape); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cpu", "memory", "pids", "blkio", "hugetlb"} {
		if _, ok := shape[k]; !ok {
			t.Errorf("stats JSON lacks %q: %s", k, js)
		}
	}
}

func TestWatchOOMEndsWithCgroup(t *testing.T) {
	m := cgtest.Mount(t)
	top := cgtest.Top(t)
	if _, err := cgroupfs.Create(m, top); err != nil {
		t.Fatal(err)
	}
	dir := m.Dir(top)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), dir) })
	done := make(chan error, 1)
	go func() {
		done <- cgroupfs.WatchOOM(context.Background(), dir, func(uint64) error { return nil })
	}()
	if err := cgroupfs.Remove(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("WatchOOM after removal: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	if _, err := cgroupfs.Create(m, top); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cgroupfs.WatchOOM(ctx, dir, func(uint64) error { return nil }) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchOOM after cancel: %v", err)
	}
}
