package cgroupfs_test

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/cgroupv1/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv1/internal/cgtest"
	"github.com/rung-runtime/rung/plugins/cgroupv1/plan"
	v2fs "github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
)

func read(t *testing.T, dir, file string) string {
	t.Helper()
	v, err := v2fs.ReadFile(dir, file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(v)
}

// create makes a test cgroup in every hierarchy, removed at the end.
func create(t *testing.T, h *cgroupfs.Host, rel string) (cgroupfs.Cgroup, []string) {
	t.Helper()
	c, created, err := cgroupfs.Create(h, rel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cgroupfs.Remove(context.Background(), c); err != nil {
			t.Errorf("Remove: %v", err)
		}
		if err := v2fs.RemoveIfEmpty(created); err != nil {
			t.Errorf("RemoveIfEmpty: %v", err)
		}
	})
	return c, created
}

func TestCreate(t *testing.T) {
	h := cgtest.Host(t)
	top := cgtest.Top(t)
	c, created := create(t, h, top+"/a/ctr")
	if len(created) != 3*len(h.Hierarchies) {
		t.Errorf("created %d directories, want 3 in each of %d hierarchies: %v", len(created), len(h.Hierarchies), created)
	}
	for _, x := range h.Hierarchies {
		if fi, err := os.Stat(x.Dir(top + "/a/ctr")); err != nil || !fi.IsDir() {
			t.Errorf("no cgroup in %s: %v", x.Path, err)
		}
	}
	if d := c["cpuset"]; d != "" {
		// Copied from the parent all the way down, so a process can join.
		if read(t, d, "cpuset.cpus") == "" || read(t, d, "cpuset.mems") == "" {
			t.Errorf("cpuset of %s left empty", d)
		}
	}
	// An empty existing cgroup is reused, and nothing is recorded as made.
	again, made, err := cgroupfs.Create(h, top+"/a/ctr")
	if err != nil || len(made) != 0 || !slices.Equal(again.Dirs(), c.Dirs()) {
		t.Errorf("Create of an existing empty cgroup: %v, made %v", err, made)
	}
	// One with a process in it is someone else's.
	cgtest.Start(t, c, "", "sleep", "1000")
	if _, made, err := cgroupfs.Create(h, top+"/a/ctr"); err == nil || !strings.Contains(err.Error(), "has processes") || len(made) != 0 {
		t.Errorf("Create of a busy cgroup: %v, made %v", err, made)
	}
}

// Two creates under one new shared parent: the second may find the
// parent made by the first before the first has copied cpus and mems into
// it. Create then fills the empty parent instead of copying emptiness into
// its own cgroup, which no process could join (ENOSPC; seen in the
// create/delete cycle test).
func TestCreateUnderEmptyCpusetParent(t *testing.T) {
	h := cgtest.Host(t)
	var cpuset *cgroupfs.Hierarchy
	for i := range h.Hierarchies {
		if h.Hierarchies[i].Has("cpuset") {
			cpuset = &h.Hierarchies[i]
		}
	}
	if cpuset == nil {
		t.Skip("no cpuset hierarchy here")
	}
	top := cgtest.Top(t)
	// The other create's half-made parent: mkdir without the copy.
	for _, d := range []string{top, top + "/shared"} {
		if err := os.Mkdir(cpuset.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = os.Remove(cpuset.Dir(top + "/shared"))
		_ = os.Remove(cpuset.Dir(top))
	})
	c, _ := create(t, h, top+"/shared/ctr")
	if read(t, c["cpuset"], "cpuset.cpus") == "" || read(t, c["cpuset"], "cpuset.mems") == "" {
		t.Fatalf("cpuset of %s left empty under an empty parent", c["cpuset"])
	}
	// A process can join it.
	cgtest.Start(t, c, "", "sleep", "1000")
}

func TestApplyLimits(t *testing.T) {
	h := cgtest.Host(t)
	c, _ := create(t, h, cgtest.Top(t)+"/ctr")
	maj, min := blockDevice(t)
	r := &specs.LinuxResources{}
	js := `{"memory":{"limit":67108864,"swap":134217728,"reservation":33554432,"swappiness":20,"disableOOMKiller":false},
		"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},
		"pids":{"limit":42},"blockIO":{"weight":300,"throttleReadBpsDevice":[{"major":` + maj + `,"minor":` + min + `,"rate":1048576}]}}`
	if err := jsonUnmarshal(js, r); err != nil {
		t.Fatal(err)
	}
	p, errs := plan.Resources(r, plan.Options{MemoryLimit: math.MaxUint64})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var ws []plan.Write
	for _, w := range p.Writes {
		if h.Mounted(w.Controller) {
			ws = append(ws, w)
		}
	}
	if err := cgroupfs.Apply(c, ws); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ sub, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.swappiness", "20"},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"pids", "pids.max", "42"},
		{"blkio", "blkio.throttle.read_bps_device", maj + ":" + min + " 1048576"},
	} {
		if c[f.sub] == "" {
			continue
		}
		if got := read(t, c[f.sub], f.file); got != f.want {
			t.Errorf("%s = %q, want %q", f.file, got, f.want)
		}
	}
	if d := c["memory"]; d != "" && exists(filepath.Join(d, "memory.memsw.limit_in_bytes")) {
		if got := read(t, d, "memory.memsw.limit_in_bytes"); got != "134217728" {
			t.Errorf("memsw = %q", got)
		}
	}
	if d := c["blkio"]; d != "" {
		// CFQ's file or, on BFQ kernels, BFQ's ("default 300").
		w, err := v2fs.ReadFile(d, "blkio.weight")
		if err != nil {
			w, _ = v2fs.ReadFile(d, "blkio.bfq.weight")
		}
		if !strings.Contains(w, "300") {
			t.Errorf("blkio weight = %q", w)
		}
	}
	// Lowering memory below memory+swap, then raising both past the old
	// limit: each needs the other order of writes.
	for _, lim := range []int64{16 << 20, 256 << 20} {
		swap := 2 * lim
		cur, _, _ := plan.ParseLimit(read(t, c["memory"], "memory.limit_in_bytes"))
		p, errs := plan.Resources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim, Swap: &swap}}, plan.Options{Update: true, MemoryLimit: cur})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if err := cgroupfs.Apply(c, p.Writes); err != nil {
			t.Errorf("memory %d swap %d: %v", lim, swap, err)
		}
	}
	// A file the kernel lacks names the field.
	leaf := uint16(100)
	p, _ = plan.Resources(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: &leaf}}, plan.Options{Update: true})
	if c["blkio"] != "" && !exists(filepath.Join(c["blkio"], "blkio.leaf_weight")) {
		if err := cgroupfs.Apply(c, p.Writes); err == nil || !strings.Contains(err.Error(), "linux.resources.blockIO.leafWeight") {
			t.Errorf("leaf weight without the file: %v", err)
		}
	}
}

// blockDevice is a block device of this host, as "major", "minor".
func blockDevice(t *testing.T) (string, string) {
	t.Helper()
	devs, _ := filepath.Glob("/sys/block/*/dev")
	slices.SortFunc(devs, func(a, b string) int { return strings.Compare(b, a) }) // vd*, sd* before loop*
	for _, d := range devs {
		if b, err := os.ReadFile(d); err == nil {
			if maj, min, ok := strings.Cut(strings.TrimSpace(string(b)), ":"); ok {
				return maj, min
			}
		}
	}
	t.Skip("no block device")
	return "", ""
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestDevices(t *testing.T) {
	bb := cgtest.Busybox(t)
	h := cgtest.Host(t)
	c, _ := create(t, h, cgtest.Top(t)+"/ctr")
	p, errs := plan.Resources(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}, plan.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := cgroupfs.ApplyDevices(c["devices"], *p.Devices); err != nil {
		t.Fatal(err)
	}
	open := func(dev string) error {
		cmd := cgtest.Start(t, c, "", bb, "sh", "-c", "sleep 0.2; exec 3<>"+dev)
		return cmd.Wait()
	}
	if err := open("/dev/null"); err != nil {
		t.Errorf("/dev/null denied: %v", err)
	}
	if err := open("/dev/kmsg"); err == nil {
		t.Error("/dev/kmsg allowed by a deny-all spec")
	}
	maj, min := int64(1), int64(11)
	p, _ = plan.Resources(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: &maj, Minor: &min, Access: "rw"}}}, plan.Options{Update: true})
	if err := cgroupfs.ApplyDevices(c["devices"], *p.Devices); err != nil {
		t.Fatal(err)
	}
	if err := open("/dev/kmsg"); err != nil {
		t.Errorf("/dev/kmsg denied after allowing it: %v", err)
	}
	if l := read(t, c["devices"], "devices.list"); !strings.Contains(l, "c 1:11 rw") || !strings.Contains(l, "c 1:3 rwm") {
		t.Errorf("devices.list = %q", l)
	}
}

func TestFreezeSignalRemove(t *testing.T) {
	h := cgtest.Host(t)
	if !h.Mounted("freezer") {
		t.Skip("no freezer hierarchy")
	}
	c, created := create(t, h, cgtest.Top(t)+"/ctr")
	a := cgtest.Start(t, c, "", "sleep", "1000")
	b := cgtest.Start(t, c, "", "sleep", "1000")
	pids, err := cgroupfs.AllPids(c)
	want := []int{a.Process.Pid, b.Process.Pid}
	slices.Sort(want)
	if err != nil || !slices.Equal(pids, want) {
		t.Fatalf("AllPids = %v, %v; want %v", pids, err, want)
	}
	ctx := context.Background()
	if err := cgroupfs.Freeze(ctx, c["freezer"]); err != nil {
		t.Fatal(err)
	}
	if st, _ := cgroupfs.FreezerState(c["freezer"]); st != "FROZEN" {
		t.Fatalf("freezer.state %s after Freeze", st)
	}
	if err := cgroupfs.Thaw(ctx, c["freezer"]); err != nil {
		t.Fatal(err)
	}
	if err := cgroupfs.Signal(ctx, c, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cgtest.Eventually(t, "SIGTERM to empty the cgroup", func() bool {
		p, err := cgroupfs.AllPids(c)
		return err == nil && len(p) == 0
	})
	if st, _ := cgroupfs.FreezerState(c["freezer"]); st != "THAWED" {
		t.Errorf("freezer.state %s after Signal", st)
	}
	// Remove kills a frozen cgroup's processes and removes every directory.
	cgtest.Start(t, c, "", "sleep", "1000")
	if err := cgroupfs.Freeze(ctx, c["freezer"]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cgroupfs.Remove(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, d := range c.Dirs() {
		if exists(d) {
			t.Errorf("%s left after Remove", d)
		}
	}
	if err := v2fs.RemoveIfEmpty(created); err != nil {
		t.Fatal(err)
	}
	if err := cgroupfs.Remove(ctx, c); err != nil {
		t.Errorf("Remove of a removed cgroup: %v", err)
	}
	t.Logf("Remove of a frozen cgroup took %v", time.Since(start))
}

// A container may make cgroups of its own below its cgroup (a writable
// cgroup mount): Remove must find their processes and remove them too,
// though a childless cgroup is read without listing its directory.
func TestRemoveNested(t *testing.T) {
	h := cgtest.Host(t)
	rel := cgtest.Top(t) + "/ctr"
	c, _ := create(t, h, rel)
	inner, _ := create(t, h, rel+"/inner")
	outer := cgtest.Start(t, c, "", "sleep", "1000")
	nested := cgtest.Start(t, inner, "", "sleep", "1000")
	pids, err := cgroupfs.AllPids(c)
	want := []int{outer.Process.Pid, nested.Process.Pid}
	slices.Sort(want)
	if err != nil || !slices.Equal(pids, want) {
		t.Fatalf("AllPids = %v, %v; want %v (the nested cgroup's too)", pids, err, want)
	}
	if err := cgroupfs.Remove(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(c.Dirs(), inner.Dirs()...) {
		if exists(d) {
			t.Errorf("%s left after Remove", d)
		}
	}
}

func TestStats(t *testing.T) {
	h := cgtest.Host(t)
	c, _ := create(t, h, cgtest.Top(t)+"/ctr")
	cmd := cgtest.Start(t, c, "", "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 1000")
	cgtest.Eventually(t, "the busy loop to be charged", func() bool {
		st, err := cgroupfs.ReadStats(c)
		return err == nil && st.CPU.Usage.Total > 0 && st.Memory.Usage.Usage > 0
	})
	st, err := cgroupfs.ReadStats(c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current != 1 {
		t.Errorf("pids.current %d, want 1 (pid %d)", st.Pids.Current, cmd.Process.Pid)
	}
	if c["cpuacct"] != "" && len(st.CPU.Usage.Percpu) == 0 {
		t.Error("no per-cpu usage")
	}
	if c["memory"] != "" && (len(st.Memory.Raw) == 0 || st.Memory.Usage.Limit == 0 || st.Memory.Usage.Max < st.Memory.Usage.Usage) {
		t.Errorf("memory stats %+v", st.Memory)
	}
	if c["cpuset"] != "" && len(st.CPUSet.CPUs) == 0 {
		t.Error("no cpuset cpus")
	}
}

func TestOOMEvent(t *testing.T) {
	bb := cgtest.Busybox(t)
	h := cgtest.Host(t)
	if !h.Mounted("memory") {
		t.Skip("no memory hierarchy")
	}
	c, _ := create(t, h, cgtest.Top(t)+"/ctr")
	lim := int64(16 << 20)
	p, _ := plan.Resources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim, Swap: &lim}}, plan.Options{Update: true, MemoryLimit: math.MaxUint64})
	ws := p.Writes[:0]
	for _, w := range p.Writes {
		if w.File != "memory.memsw.limit_in_bytes" || exists(filepath.Join(c["memory"], w.File)) {
			ws = append(ws, w)
		}
	}
	if err := cgroupfs.Apply(c, ws); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- cgroupfs.WatchOOM(ctx, c["memory"], func() error { events <- struct{}{}; return nil })
	}()
	time.Sleep(50 * time.Millisecond) // let it register
	cmd := cgtest.Start(t, c, "", bb, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("dd of 64M in 16M: %v, want an OOM kill", err)
	}
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no OOM event")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchOOM: %v", err)
	}
}

// Two containers made and removed over and over under one shared parent,
// each removing the parent when it goes last (as Destroy does with /rung):
// a Create that finds the parent in the middle of its removal, before or
// after reading its cpuset, must make it again rather than fail (seen in
// CI: "read .../rung/cpuset.cpus: no such device").
func TestCreateRacesParentRemoval(t *testing.T) {
	h := cgtest.Host(t)
	top := cgtest.Top(t)
	shared := top + "/shared"
	errs := make(chan error, 2)
	for _, name := range []string{"a", "b"} {
		go func() {
			for i := 0; i < 150; i++ {
				c, created, err := cgroupfs.Create(h, shared+"/"+name)
				if err != nil {
					errs <- err
					return
				}
				if err := cgroupfs.Remove(context.Background(), c); err != nil {
					errs <- err
					return
				}
				parents := append([]string(nil), created...)
				for _, x := range h.Hierarchies {
					parents = append(parents, x.Dir(shared))
				}
				if err := v2fs.RemoveIfEmpty(parents); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, x := range h.Hierarchies {
		_ = unix.Rmdir(x.Dir(shared))
		_ = unix.Rmdir(x.Dir(top))
	}
}
