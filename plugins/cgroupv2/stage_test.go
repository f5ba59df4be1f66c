package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
	"github.com/rung-runtime/rung/plugins/cgroupv2/internal/cgtest"
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
	cgshared.CheckDescription(t, d, "rung-cgroupv2", map[string]bool{"v1": false, "v2": true, "systemd": false, "systemdUser": false, "rdma": true})
}

// fakeStage validates against a directory that looks like a cgroup2 mount
// with the given controllers, so Validate runs without root.
func fakeStage(t *testing.T, controllers string) (*stage, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte(controllers+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hp := t.TempDir()
	for _, d := range []string{"hugepages-2048kB", "hugepages-1048576kB"} {
		if err := os.Mkdir(filepath.Join(hp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := newStage()
	s.findMount = func() (cgroupfs.Mount, error) { return cgroupfs.Mount{Path: root, Root: "/"}, nil }
	s.hugePageDir = hp
	return s, root
}

func TestValidate(t *testing.T) {
	hybrid, hroot := fakeStage(t, "hugetlb")
	full, _ := fakeStage(t, "cpuset cpu io memory hugetlb pids rdma misc")
	for _, tc := range []struct {
		name       string
		s          *stage
		spec       string
		field, msg string
	}{
		{"memory on hybrid", hybrid, `{"linux":{"resources":{"memory":{"limit":1000000}}}}`,
			"linux.resources.memory", "memory controller is not available in the cgroup v2 hierarchy at " + hroot},
		{"pids on hybrid", hybrid, `{"linux":{"resources":{"pids":{"limit":10}}}}`,
			"linux.resources.pids", "pids controller is not available"},
		{"cpuset on hybrid", hybrid, `{"linux":{"resources":{"cpu":{"cpus":"0"}}}}`,
			"linux.resources.cpu", "cpuset controller is not available"},
		{"io on hybrid", hybrid, `{"linux":{"resources":{"blockIO":{"weight":100}}}}`,
			"linux.resources.blockIO", "io controller is not available"},
		{"unified on hybrid", hybrid, `{"linux":{"resources":{"unified":{"memory.high":"1"}}}}`,
			`linux.resources.unified["memory.high"]`, "memory controller is not available"},
		{"dotdot path", full, `{"linux":{"cgroupsPath":"/a/../../b"}}`, "linux.cgroupsPath", `".." component`},
		{"systemd path", full, `{"linux":{"cgroupsPath":"system.slice:rung:x"}}`, "linux.cgroupsPath", "systemd cgroup driver is not supported"},
		{"page size missing", full, `{"linux":{"resources":{"hugepageLimits":[{"pageSize":"64KB","limit":1}]}}}`,
			"linux.resources.hugepageLimits[0].pageSize", "64KB is not supported here (have: 1GB, 2MB)"},
		{"semantic", full, `{"linux":{"resources":{"memory":{"limit":100,"swap":50}}}}`, "linux.resources.memory.swap", ">= the memory limit"},
	} {
		t.Run(tc.name, func(t *testing.T) { cgshared.Refuses(t, tc.s, tc.spec, tc.field, tc.msg) })
	}
	for _, spec := range []string{
		`{}`,
		`{"linux":{}}`,
		`{"linux":{"resources":{"hugepageLimits":[{"pageSize":"2MB","limit":0}],"devices":[{"allow":false,"access":"rwm"}]}}}`,
	} {
		if errs, err := hybrid.Validate(context.Background(), container(t, "c1", spec)); err != nil || len(errs) > 0 {
			t.Errorf("Validate(%s) = %v, %v; want no errors", spec, errs, err)
		}
	}
	spec := `{"linux":{"resources":{"memory":{"limit":1000},"cpu":{"shares":512,"quota":10000},"pids":{"limit":5},"blockIO":{"weight":100},"unified":{"misc.max":"res_a 1"}}}}`
	if errs, err := full.Validate(context.Background(), container(t, "c1", spec)); err != nil || len(errs) > 0 {
		t.Errorf("full hierarchy: %v, %v", errs, err)
	}
	// Without a cgroup2 mount Validate fails as a whole, clearly.
	none := newStage()
	none.findMount = func() (cgroupfs.Mount, error) { return cgroupfs.Mount{}, cgroupfs.ErrNoCgroup2 }
	if _, err := none.Validate(context.Background(), container(t, "c1", `{}`)); !errors.Is(err, cgroupfs.ErrNoCgroup2) {
		t.Errorf("no cgroup2: %v", err)
	}
	// And Destroy of a container that never had a cgroup is fine.
	if err := none.Destroy(context.Background(), container(t, "c1", `{}`)); err != nil {
		t.Errorf("Destroy without cgroup2: %v", err)
	}
}

func TestPageSizeName(t *testing.T) {
	for kb, want := range map[uint64]string{64: "64KB", 2048: "2MB", 1048576: "1GB", 32768: "32MB", 1536: "1536KB"} {
		if got := pageSizeName(kb); got != want {
			t.Errorf("pageSizeName(%d) = %s, want %s", kb, got, want)
		}
	}
}

func TestLocateRefusesForeignState(t *testing.T) {
	s, root := fakeStage(t, "")
	for _, st := range []map[string]string{
		{statePath: "/etc"},
		{statePath: root},
		{statePath: root + "/../x"},
		{statePath: root + "/a/b", stateCreated: `["/etc"]`},
		{statePath: root + "/a/b", stateCreated: `["` + root + `/c"]`},
		{statePath: root + "/a/b", stateMount: "/elsewhere"},
	} {
		c := container(t, "c1", `{}`)
		c.State = st
		if err := s.Destroy(context.Background(), c); err == nil {
			t.Errorf("Destroy accepted state %v", st)
		}
	}
}

func prepare(t *testing.T, s *stage, c *sdk.Container) string {
	t.Helper()
	p, err := s.Prepare(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	dir := p.State[statePath]
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), dir) })
	if len(p.Actions) != 1 || p.Actions[0].GetCgroup().GetPath() != dir {
		t.Fatalf("actions %v, want one cgroup placement at %s", p.Actions, dir)
	}
	c.State = p.State
	return dir
}

func TestLifecycle(t *testing.T) {
	bb := cgtest.Busybox(t)
	m := cgtest.Mount(t)
	s := newStage()
	top := cgtest.Top(t)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), m.Dir(top)) })
	spec := `{"linux":{"cgroupsPath":"` + top + `/ctr","resources":{"devices":[{"allow":false,"access":"rwm"}]}}}`
	c := container(t, "ctr", spec)
	if errs, err := s.Validate(context.Background(), c); err != nil || len(errs) > 0 {
		t.Fatalf("Validate: %v, %v", errs, err)
	}
	dir := prepare(t, s, c)
	if dir != m.Dir(top+"/ctr") {
		t.Fatalf("cgroup at %s, want %s", dir, m.Dir(top+"/ctr"))
	}
	var created []string
	if err := json.Unmarshal([]byte(c.State[stateCreated]), &created); err != nil || !slices.Equal(created, []string{m.Dir(top), dir}) {
		t.Fatalf("state created = %s (%v)", c.State[stateCreated], err)
	}
	if c.State[stateMount] != m.Path {
		t.Errorf("state mount = %q, want %q", c.State[stateMount], m.Path)
	}

	// The host clones the init into the cgroup; Attach then has nothing to do.
	init := cgtest.Start(t, dir, "sleep", "1000")
	if _, err := s.Attach(context.Background(), c, init.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// A process that is not in it yet is moved by Attach.
	outside := exec.Command("sleep", "1000")
	if err := outside.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outside.Process.Kill(); _ = outside.Wait() })
	if _, err := s.Attach(context.Background(), c, outside.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.ProcessCgroup(outside.Process.Pid); got != dir {
		t.Fatalf("after Attach, pid %d is in %s, want %s", outside.Process.Pid, got, dir)
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
	if err := json.Unmarshal(js, &st); err != nil || st.Pids.Current != 2 {
		t.Fatalf("Stats = %s (%v); want pids.current 2", js, err)
	}

	// A second container on the same live cgroup is refused.
	if _, err := s.Prepare(context.Background(), container(t, "dup", spec)); err == nil || !strings.Contains(err.Error(), "has processes") {
		t.Errorf("duplicate Prepare: %v", err)
	}

	if err := s.Pause(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if f, _ := cgroupfs.Frozen(dir); !f {
		t.Fatal("Pause did not freeze the cgroup")
	}
	if err := s.Resume(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if f, _ := cgroupfs.Frozen(dir); f {
		t.Fatal("Resume did not thaw the cgroup")
	}

	// The deny-all spec plus runc's defaults: /dev/null yes, /dev/kmsg no,
	// until an update allows it; the update replaces the filter.
	run := func(dev string) error {
		_, err := cgtest.Run(t, dir, bb, "sh", "-c", "exec 3<>"+dev)
		return err
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
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := devfilter.Attached(fd); err != nil || n != 1 {
		t.Errorf("%d device programs attached (%v), want 1", n, err)
	}
	syscall.Close(fd)

	// Limits for controllers this hierarchy lacks are refused by name.
	limit := int64(10)
	err = s.Update(context.Background(), c, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}})
	if ctrls, _ := cgroupfs.Controllers(filepath.Dir(dir)); ctrls["pids"] {
		if err != nil {
			t.Fatalf("Update pids: %v", err)
		}
		if got, _ := cgroupfs.ReadFile(dir, "pids.max"); got != "10\n" {
			t.Errorf("pids.max = %q after Update", got)
		}
	} else {
		var fe sdk.FieldError
		if !errors.As(err, &fe) || fe.Field != "linux.resources.pids" {
			t.Errorf("Update pids without the controller: %v", err)
		}
	}

	if err := s.KillAll(context.Background(), c, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cgtest.Eventually(t, "the processes to die of SIGTERM", func() bool {
		pop, err := cgroupfs.Populated(dir)
		return err == nil && !pop
	})

	// Destroy of a frozen cgroup with a live process leaves nothing.
	cgtest.Start(t, dir, "sleep", "1000")
	if err := s.Pause(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, m.Dir(top)} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left after Destroy: %v", d, err)
		}
	}
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := s.Pids(context.Background(), c); err == nil {
		t.Error("Pids of a destroyed container succeeded")
	}
}

func TestDestroyWithoutState(t *testing.T) {
	m := cgtest.Mount(t)
	s := newStage()
	top := cgtest.Top(t)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), m.Dir(top)) })
	spec := `{"linux":{"cgroupsPath":"` + top + `/a/ctr"}}`
	c := container(t, "ctr", spec)
	dir := prepare(t, s, c)
	cgtest.Start(t, dir, "sleep", "1000")
	// The host lost the state: Destroy finds the cgroup from the spec.
	half := container(t, "ctr", spec)
	if err := s.Destroy(context.Background(), half); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s left: %v", dir, err)
	}
	// Parents it cannot know it made stay (they may be shared); with the
	// state they go.
	if _, err := os.Stat(m.Dir(top + "/a")); err != nil {
		t.Fatalf("parent removed without state saying it was made: %v", err)
	}
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Dir(top)); !os.IsNotExist(err) {
		t.Fatalf("created parents left: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	m := cgtest.Mount(t)
	s := newStage()
	id := strings.TrimPrefix(cgtest.Top(t), "/")
	c := container(t, id, `{"linux":{}}`)
	dir := prepare(t, s, c)
	if dir != m.Dir("/rung/"+id) {
		t.Fatalf("default cgroup %s, want %s", dir, m.Dir("/rung/"+id))
	}
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s left: %v", dir, err)
	}
	// Without state as well; the default parent goes if it was ours alone.
	_, parentBefore := os.Stat(m.Dir("/rung"))
	c = container(t, id, `{"linux":{}}`)
	dir = prepare(t, s, c)
	if err := s.Destroy(context.Background(), container(t, id, `{"linux":{}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s left: %v", dir, err)
	}
	if _, err := os.Stat(m.Dir("/rung")); os.IsNotExist(parentBefore) && !os.IsNotExist(err) {
		t.Errorf("stateless Destroy left the default parent %s", m.Dir("/rung"))
	}
}

func TestPrepareRollsBack(t *testing.T) {
	m := cgtest.Mount(t)
	s := newStage()
	top := cgtest.Top(t)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), m.Dir(top)) })
	// Valid as far as the plan can tell; the kernel refuses the value.
	c := container(t, "ctr", `{"linux":{"cgroupsPath":"`+top+`/x/ctr","resources":{"unified":{"cgroup.max.depth":"many"}}}}`)
	if _, err := s.Prepare(context.Background(), c); err == nil {
		t.Fatal("Prepare succeeded with a value the kernel refuses")
	} else if !strings.Contains(err.Error(), `linux.resources.unified["cgroup.max.depth"]`) {
		t.Errorf("error does not name the field: %v", err)
	}
	if _, err := os.Stat(m.Dir(top)); !os.IsNotExist(err) {
		t.Fatalf("failed Prepare left %s: %v", m.Dir(top), err)
	}
}

func TestEventsEnd(t *testing.T) {
	cgtest.Mount(t)
	s := newStage()
	top := cgtest.Top(t)
	c := container(t, "ctr", `{"linux":{"cgroupsPath":"`+top+`"}}`)
	prepare(t, s, c)
	noEvents := func(e sdk.Event) error {
		t.Errorf("unexpected event %+v", e)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Events(ctx, c, noEvents) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Events after cancel: %v", err)
	}
	// The stream also ends when the cgroup goes; if Destroy wins the race
	// to the cgroup, Events says it is missing instead.
	go func() { done <- s.Events(context.Background(), c, noEvents) }()
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Events after Destroy: %v", err)
	}
}

// TestLimitsApplied creates a container with a limit for every controller
// this hierarchy offers and reads each value back from the kernel. On a
// hybrid host with no controllers it has little to do; in a pure cgroup v2
// guest (tools/run-in-vm.sh) it proves memory, cpu, cpuset, pids, io and
// hugetlb conversions end to end.
func TestLimitsApplied(t *testing.T) {
	m := cgtest.Mount(t)
	avail, err := cgroupfs.Controllers(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	s := newStage()
	top := cgtest.Top(t)
	t.Cleanup(func() { _ = cgroupfs.Remove(context.Background(), m.Dir(top)) })

	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	u16 := func(v uint16) *uint16 { return &v }
	r := &specs.LinuxResources{}
	// file -> acceptable contents (the first of a pair of files that exists wins)
	want := map[string][]string{}
	if avail["memory"] {
		r.Memory = &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(96 << 20)}
		want["memory.max"] = []string{"67108864"}
		want["memory.low"] = []string{"33554432"}
		want["memory.swap.max"] = []string{"33554432", "<missing>"}
	}
	if avail["cpu"] {
		r.CPU = &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Burst: u64(10000)}
		want["cpu.weight"] = []string{"20"}
		want["cpu.max"] = []string{"50000 100000"}
		want["cpu.max.burst"] = []string{"10000", "<missing>"}
	}
	if avail["cpuset"] {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		r.CPU.Cpus, r.CPU.Mems = "0", "0"
		want["cpuset.cpus"] = []string{"0"}
		want["cpuset.mems"] = []string{"0"}
	}
	if avail["pids"] {
		r.Pids = &specs.LinuxPids{Limit: i64(42)}
		want["pids.max"] = []string{"42"}
	}
	if avail["io"] {
		r.BlockIO = &specs.LinuxBlockIO{Weight: u16(200)}
		want["io.bfq.weight"] = []string{"default 200", "200", "<missing>"}
		want["io.weight"] = []string{"default 1920", "default 100"} // 100: untouched because BFQ took it
	}
	if avail["hugetlb"] {
		if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err == nil {
			r.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
			want["hugetlb.2MB.max"] = []string{"4194304"}
		}
	}
	if len(want) == 0 {
		t.Skipf("the cgroup2 hierarchy at %s offers no controllers; run in a pure cgroup v2 guest", m.Path)
	}
	sp := &specs.Spec{Linux: &specs.Linux{CgroupsPath: top + "/ctr", Resources: r}}
	js, _ := json.Marshal(sp)
	c := &sdk.Container{ID: "ctr", Spec: sp, SpecJSON: js, State: map[string]string{}}
	if errs, err := s.Validate(context.Background(), c); err != nil || len(errs) > 0 {
		t.Fatalf("Validate: %v %v", errs, err)
	}
	dir := prepare(t, s, c)
	check := func() {
		t.Helper()
		for file, ok := range want {
			got, err := cgroupfs.ReadFile(dir, file)
			got = strings.TrimSpace(got)
			if os.IsNotExist(err) {
				got = "<missing>"
			} else if err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			if !slices.Contains(ok, got) {
				t.Errorf("%s = %q, want one of %q", file, got, ok)
			}
		}
	}
	check()

	// Update goes through the same conversion.
	if avail["pids"] {
		if err := s.Update(context.Background(), c, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}); err != nil {
			t.Fatal(err)
		}
		want["pids.max"] = []string{"max"}
	}
	if avail["memory"] {
		if err := s.Update(context.Background(), c, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(128 << 20), Swap: i64(128 << 20)}}); err != nil {
			t.Fatal(err)
		}
		want["memory.max"] = []string{"134217728"}
		want["memory.swap.max"] = []string{"0", "<missing>"}
	}
	if avail["cpu"] {
		// A smaller quota than the current burst needs the burst first.
		if err := s.Update(context.Background(), c, &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(5000), Burst: u64(5000)}}); err != nil {
			t.Fatal(err)
		}
		want["cpu.max"] = []string{"5000 100000"}
		want["cpu.max.burst"] = []string{"5000", "<missing>"}
	}
	check()

	stats, err := s.Stats(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var st cgroupfs.Stats
	if err := json.Unmarshal(stats, &st); err != nil {
		t.Fatal(err)
	}
	if avail["memory"] && st.Memory.Usage.Limit != 128<<20 {
		t.Errorf("stats memory limit %d, want %d", st.Memory.Usage.Limit, 128<<20)
	}
	if avail["pids"] && st.Pids.Limit != 0 {
		t.Errorf("stats pids limit %d, want 0 (no limit)", st.Pids.Limit)
	}
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// TestOOMEvent fills a small memory limit and expects one "oom" event.
func TestOOMEvent(t *testing.T) {
	bb := cgtest.Busybox(t)
	m := cgtest.Mount(t)
	if avail, _ := cgroupfs.Controllers(m.Path); !avail["memory"] {
		t.Skipf("no memory controller in the cgroup2 hierarchy at %s; run in a pure cgroup v2 guest", m.Path)
	}
	s := newStage()
	top := cgtest.Top(t)
	c := container(t, "ctr", `{"linux":{"cgroupsPath":"`+top+`","resources":{"memory":{"limit":16777216,"swap":16777216}}}}`)
	dir := prepare(t, s, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan sdk.Event, 4)
	done := make(chan error, 1)
	go func() {
		done <- s.Events(ctx, c, func(e sdk.Event) error { events <- e; return nil })
	}()
	// Events reads its baseline counter when it starts; a kill before that
	// would not count, so the hog runs again until an event comes.
	got := false
	for attempt := 0; attempt < 5 && !got; attempt++ {
		out, err := cgtest.Run(t, dir, bb, "sh", "-c", `x=$(head -c 67108864 /dev/zero | tr '\0' a); echo survived ${#x}`)
		if err == nil {
			t.Fatalf("the memory hog survived a 16MiB limit: %s", out)
		}
		select {
		case e := <-events:
			if e.Type != "oom" {
				t.Errorf("event %+v, want oom", e)
			}
			got = true
		case err := <-done:
			t.Fatalf("Events ended without an oom event: %v", err)
		case <-time.After(5 * time.Second):
		}
	}
	if !got {
		t.Fatal("no oom event after five OOM kills")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Events: %v", err)
	}
	if err := s.Destroy(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}
