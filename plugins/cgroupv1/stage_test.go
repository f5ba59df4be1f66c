package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/cgroupv1/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv1/internal/cgtest"
	v2fs "github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	cgshared "github.com/rung-runtime/rung/plugins/internal/cgtest"
	"github.com/rung-runtime/rung/sdk"
)

// container is the shared helper under the short name the tests use.
var container = cgshared.Container

func TestDescribe(t *testing.T) {
	d, err := newStage().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cgshared.CheckDescription(t, d, "rung-cgroupv1", map[string]bool{"v1": true, "v2": false, "systemd": false, "systemdUser": false, "rdma": true})
}

// fakeStage validates against a mountinfo with the given v1 controllers
// (one hierarchy each), so Validate runs without root. The hugetlb
// hierarchy is a directory with files for 2MB and 1GB pages.
func fakeStage(t *testing.T, controllers ...string) *stage {
	t.Helper()
	hp := t.TempDir()
	for _, f := range []string{"hugetlb.2MB.limit_in_bytes", "hugetlb.1GB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes"} {
		if err := os.WriteFile(filepath.Join(hp, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var mi strings.Builder
	for i, c := range controllers {
		mp := "/sys/fs/cgroup/" + c
		if c == "hugetlb" {
			mp = hp
		}
		fmt.Fprintf(&mi, "%d 31 0:%d / %s rw - cgroup cgroup rw,%s\n", 40+i, 40+i, mp, c)
	}
	h, err := cgroupfs.ParseMountinfo([]byte(mi.String()))
	if err != nil {
		t.Fatal(err)
	}
	s := newStage()
	s.findHost = func() (*cgroupfs.Host, error) { return h, nil }
	return s
}

func TestValidate(t *testing.T) {
	some := fakeStage(t, "devices", "cpu", "freezer")
	full := fakeStage(t, "devices", "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "hugetlb", "net_cls", "net_prio", "freezer", "rdma")
	for _, tc := range []struct {
		name       string
		s          *stage
		spec       string
		field, msg string
	}{
		{"memory missing", some, `{"linux":{"resources":{"memory":{"limit":1000000}}}}`,
			"linux.resources.memory", "the memory controller has no cgroup v1 hierarchy mounted"},
		{"pids missing", some, `{"linux":{"resources":{"pids":{"limit":10}}}}`, "linux.resources.pids", "pids controller"},
		{"cpuset missing", some, `{"linux":{"resources":{"cpu":{"cpus":"0"}}}}`, "linux.resources.cpu", "cpuset controller"},
		{"net_prio missing", some, `{"linux":{"resources":{"network":{"priorities":[{"name":"lo","priority":1}]}}}}`, "linux.resources.network", "net_prio controller"},
		{"unified", full, `{"linux":{"resources":{"unified":{"memory.high":"1"}}}}`, "linux.resources.unified", "cgroup v1"},
		{"dotdot path", full, `{"linux":{"cgroupsPath":"/a/../../b"}}`, "linux.cgroupsPath", `".." component; it must stay inside the cgroup v1 hierarchies`},
		{"systemd path", full, `{"linux":{"cgroupsPath":"system.slice:rung:x"}}`, "linux.cgroupsPath", "systemd cgroup driver is not supported (rung-cgroupv1 is a cgroupfs driver)"},
		{"root path", full, `{"linux":{"cgroupsPath":"/"}}`, "linux.cgroupsPath", "names the root of the cgroup v1 hierarchies"},
		{"page size missing", full, `{"linux":{"resources":{"hugepageLimits":[{"pageSize":"64KB","limit":1}]}}}`,
			"linux.resources.hugepageLimits[0].pageSize", "64KB is not supported here (have: 1GB, 2MB)"},
		{"semantic", full, `{"linux":{"resources":{"memory":{"limit":100,"swap":50}}}}`, "linux.resources.memory.swap", ">= the memory limit"},
	} {
		t.Run(tc.name, func(t *testing.T) { cgshared.Refuses(t, tc.s, tc.spec, tc.field, tc.msg) })
	}
	for _, spec := range []string{
		`{}`,
		`{"linux":{}}`,
		`{"linux":{"cgroupsPath":"relative/ok","resources":{"cpu":{"shares":1024,"realtimeRuntime":-1},"memory":{"limit":-1,"kernel":0,"swappiness":60},"hugepageLimits":[{"pageSize":"2MB","limit":0}]}}}`,
	} {
		if errs, err := full.Validate(context.Background(), container(t, "c1", spec)); err != nil || len(errs) > 0 {
			t.Errorf("Validate(%s) = %v, %v", spec, errs, err)
		}
	}
	// A host without the devices hierarchy is the host's problem, not the spec's.
	if _, err := fakeStage(t, "memory").Validate(context.Background(), container(t, "c1", `{}`)); err == nil || !strings.Contains(err.Error(), "devices cgroup v1 hierarchy is not mounted") {
		t.Errorf("no devices hierarchy: %v", err)
	}
}

func TestLocateRefusesForeignState(t *testing.T) {
	s := fakeStage(t, "devices", "memory")
	for _, st := range []map[string]string{
		{statePaths: `{"memory":"/etc"}`},
		{statePaths: `{"memory":"/sys/fs/cgroup/memory"}`},
		{statePaths: `{"memory":"/sys/fs/cgroup/devices/x"}`},
		{statePaths: `{"memory":"/sys/fs/cgroup/memory/a/../../x"}`},
		{statePaths: `{"memory":"/sys/fs/cgroup/memory/a/b"}`, stateCreated: `["/sys/fs/cgroup/memory/c"]`},
		{statePaths: `{"memory":"/sys/fs/cgroup/memory/a/b"}`, statePath: "/sys/fs/cgroup/unified/a", stateMount: "/sys/fs/cgroup/unified"},
		{statePaths: `not json`},
	} {
		c := container(t, "c1", `{}`)
		c.State = st
		if err := s.Destroy(context.Background(), c); err == nil {
			t.Errorf("Destroy with state %v succeeded", st)
		}
	}
}

// prepare runs Prepare and stores its state in c, as the host does.
func prepare(t *testing.T, s *stage, c *sdk.Container) cgroupfs.Cgroup {
	t.Helper()
	p, err := s.Prepare(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	c.State = p.State
	var cg cgroupfs.Cgroup
	if err := json.Unmarshal([]byte(p.State[statePaths]), &cg); err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 1 || !slices.Equal(p.Actions[0].GetCgroup().GetV1Paths(), cg.Dirs()) || p.Actions[0].GetCgroup().GetPath() != p.State[statePath] {
		t.Fatalf("Prepare actions %v for state %v", p.Actions, p.State)
	}
	return cg
}

func gone(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left after Destroy: %v", d, err)
		}
	}
}

func TestLifecycle(t *testing.T) {
	bb := cgtest.Busybox(t)
	h := cgtest.Host(t)
	s := newStage()
	top := cgtest.Top(t)
	spec := `{"linux":{"cgroupsPath":"` + top + `/ctr","resources":{"devices":[{"allow":false,"access":"rwm"}],
		"memory":{"limit":67108864},"pids":{"limit":50},"cpu":{"shares":256}}}}`
	c := container(t, "ctr", spec)
	if errs, err := s.Validate(context.Background(), c); err != nil || len(errs) > 0 {
		t.Fatalf("Validate: %v, %v", errs, err)
	}
	cg := prepare(t, s, c)
	unified := c.State[statePath]
	t.Cleanup(func() { _ = s.Destroy(context.Background(), c) })
	for _, x := range h.Hierarchies {
		for _, sub := range x.Subsystems {
			if cg[sub] != x.Dir(top+"/ctr") {
				t.Errorf("%s cgroup at %q, want %s", sub, cg[sub], x.Dir(top+"/ctr"))
			}
		}
	}
	if h.Unified != nil && unified != h.Unified.Dir(top+"/ctr") {
		t.Errorf("cgroup2 directory %q, want %s", unified, h.Unified.Dir(top+"/ctr"))
	}
	// The test's top and the container's cgroup, in each hierarchy.
	leaves := len(cg.Dirs())
	if unified != "" {
		leaves++
	}
	var created []string
	if err := json.Unmarshal([]byte(c.State[stateCreated]), &created); err != nil || len(created) != 2*leaves {
		t.Errorf("state created = %s (%v)", c.State[stateCreated], err)
	}
	if m := cg["memory"]; m != "" {
		if v, _ := v2fs.ReadFile(m, "memory.limit_in_bytes"); v != "67108864\n" {
			t.Errorf("memory.limit_in_bytes = %q", v)
		}
	}

	// The host places the init in every directory; Attach then has nothing to do.
	init := cgtest.Start(t, cg, unified, "sleep", "1000")
	if _, err := s.Attach(context.Background(), c, init.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// A process that is not in them yet is moved by Attach.
	outside := exec.Command("sleep", "1000")
	if err := outside.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outside.Process.Kill(); _ = outside.Wait() })
	if _, err := s.Attach(context.Background(), c, outside.Process.Pid); err != nil {
		t.Fatal(err)
	}
	in, err := h.ProcessCgroups(outside.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for sub, dir := range cg {
		if in[sub] != dir {
			t.Errorf("after Attach, pid %d is in %s for %s, want %s", outside.Process.Pid, in[sub], sub, dir)
		}
	}
	if h.Unified != nil {
		if got, _ := h.Unified.ProcessCgroup(outside.Process.Pid); got != unified {
			t.Errorf("after Attach, pid %d is in %s, want %s", outside.Process.Pid, got, unified)
		}
	}

	pids, err := s.Pids(context.Background(), c)
	want := []int{init.Process.Pid, outside.Process.Pid}
	slices.Sort(want)
	if err != nil || !slices.Equal(pids, want) {
		t.Fatalf("Pids = %v, %v; want %v", pids, err, want)
	}
	js, err := s.Stats(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var st cgroupfs.Stats
	if err := json.Unmarshal(js, &st); err != nil || st.Pids.Current != 2 || (cg["pids"] != "" && st.Pids.Limit != 50) {
		t.Fatalf("Stats = %s (%v); want pids.current 2, limit 50", js, err)
	}

	// A second container on the same live cgroup is refused, and takes nothing with it.
	if _, err := s.Prepare(context.Background(), container(t, "dup", spec)); err == nil || !strings.Contains(err.Error(), "has processes") {
		t.Errorf("duplicate Prepare: %v", err)
	}
	if _, err := os.Stat(cg.ProcsDir()); err != nil {
		t.Fatalf("a refused Prepare removed the cgroup: %v", err)
	}

	if err := s.Pause(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if st, _ := cgroupfs.FreezerState(cg["freezer"]); st != "FROZEN" {
		t.Fatalf("Pause left freezer.state %s", st)
	}
	if err := s.Resume(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if st, _ := cgroupfs.FreezerState(cg["freezer"]); st != "THAWED" {
		t.Fatalf("Resume left freezer.state %s", st)
	}

	// Deny-all plus runc's defaults: /dev/null yes, /dev/kmsg no, until an
	// update allows it.
	run := func(dev string) error {
		return cgtest.Start(t, cg, unified, bb, "sh", "-c", "sleep 0.1; exec 3<>"+dev).Wait()
	}
	if err := run("/dev/null"); err != nil {
		t.Errorf("/dev/null denied: %v", err)
	}
	if err := run("/dev/kmsg"); err == nil {
		t.Error("/dev/kmsg allowed by a deny-all spec")
	}
	maj, min := int64(1), int64(11)
	upd := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: &maj, Minor: &min, Access: "rw"}}}
	if err := s.Update(context.Background(), c, upd); err != nil {
		t.Fatal(err)
	}
	if err := run("/dev/kmsg"); err != nil {
		t.Errorf("/dev/kmsg denied after the update allowed it: %v", err)
	}

	// Partial updates: pids alone; memory alone keeps what was there.
	limit, mem := int64(10), int64(33554432)
	if err := s.Update(context.Background(), c, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}, Memory: &specs.LinuxMemory{Limit: &mem}}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if d := cg["pids"]; d != "" {
		if got, _ := v2fs.ReadFile(d, "pids.max"); got != "10\n" {
			t.Errorf("pids.max = %q after Update", got)
		}
	}
	if d := cg["memory"]; d != "" {
		if got, _ := v2fs.ReadFile(d, "memory.limit_in_bytes"); got != "33554432\n" {
			t.Errorf("memory.limit_in_bytes = %q after Update", got)
		}
	}
	// A limit the kernel refuses names its field.
	bad := uint64(1)
	var fe sdk.FieldError
	if err := s.Update(context.Background(), c, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &bad}}); !errors.As(err, &fe) || fe.Field != "linux.resources.cpu.shares" {
		t.Errorf("Update with shares 1: %v", err)
	}

	if err := s.KillAll(context.Background(), c, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cgtest.Eventually(t, "the processes to die of SIGTERM", func() bool {
		p, err := cgroupfs.AllPids(cg)
		return err == nil && len(p) == 0
	})

	// Destroy of a frozen cgroup with a live process leaves nothing.
	cgtest.Start(t, cg, unified, "sleep", "1000")
	if err := s.Pause(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	gone(t, created...)
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := s.Pids(context.Background(), c); err == nil {
		t.Error("Pids of a destroyed container succeeded")
	}
}

func TestDestroyWithoutState(t *testing.T) {
	h := cgtest.Host(t)
	s := newStage()
	top := cgtest.Top(t)
	spec := `{"linux":{"cgroupsPath":"` + top + `/ctr"}}`
	c := container(t, "ctr", spec)
	cg := prepare(t, s, c)
	unified := c.State[statePath]
	cgtest.Start(t, cg, unified, "sleep", "1000")
	// A create that died before its state was recorded: the spec says where.
	if err := s.Destroy(context.Background(), container(t, "ctr", spec)); err != nil {
		t.Fatal(err)
	}
	gone(t, cg.Dirs()...)
	gone(t, unified)
	// The parent it made is not known without state; the test removes it.
	for _, x := range h.Hierarchies {
		_ = os.Remove(x.Dir(top))
	}
	if h.Unified != nil {
		_ = os.Remove(h.Unified.Dir(top))
	}
}

func TestDefaultPath(t *testing.T) {
	h := cgtest.Host(t)
	s := newStage()
	id := strings.TrimPrefix(cgtest.Top(t), "/")
	c := container(t, id, `{}`)
	cg := prepare(t, s, c)
	mem, _ := h.Hierarchy("devices")
	if cg["devices"] != mem.Dir("/rung/"+id) {
		t.Errorf("default cgroup %s", cg["devices"])
	}
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	gone(t, cg.Dirs()...)
}

func TestPrepareRollsBack(t *testing.T) {
	h := cgtest.Host(t)
	x, ok := h.Hierarchy("blkio")
	if !ok {
		t.Skip("no blkio hierarchy")
	}
	top := cgtest.Top(t)
	if _, err := os.Stat(filepath.Join(x.Path, "blkio.leaf_weight")); err == nil {
		t.Skip("this kernel has blkio.leaf_weight (CFQ); no limit to fail at apply")
	}
	// Valid, but the kernel has no file for it: Prepare fails after making
	// the cgroups, and must take them away again.
	c := container(t, "ctr", `{"linux":{"cgroupsPath":"`+top+`/ctr","resources":{"blockIO":{"leafWeight":100}}}}`)
	_, err := newStage().Prepare(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "linux.resources.blockIO.leafWeight") || !strings.Contains(err.Error(), "container ctr") {
		t.Fatalf("Prepare = %v", err)
	}
	for _, x := range h.Hierarchies {
		gone(t, x.Dir(top))
	}
	if h.Unified != nil {
		gone(t, h.Unified.Dir(top))
	}
}

func TestEventsEnd(t *testing.T) {
	h := cgtest.Host(t)
	if !h.Mounted("memory") {
		t.Skip("no memory hierarchy")
	}
	s := newStage()
	c := container(t, "ctr", `{"linux":{"cgroupsPath":"`+cgtest.Top(t)+`/ctr"}}`)
	prepare(t, s, c)
	done := make(chan error, 1)
	go func() {
		done <- s.Events(context.Background(), c, func(e sdk.Event) error { return fmt.Errorf("unexpected event %v", e) })
	}()
	// Nothing outside shows the registration; give it time to happen, so
	// that what is tested is the end of a watch and not a late start.
	time.Sleep(100 * time.Millisecond)
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Events after the cgroup went: %v", err)
	}
}
