package guest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

const mib = 1 << 20

// catScript prints "name=value" for each cgroup file, as the container sees
// it, then END, then sleeps so the test can look and update.
func catScript(files ...string) string {
	return "for f in " + strings.Join(files, " ") + `; do printf '%s=%s\n' $f "$(cat /sys/fs/cgroup/$f)"; done; echo END; exec sleep 1000`
}

// parseKV reads the name=value lines of catScript.
func parseKV(out string) map[string]string {
	m := map[string]string{}
	for _, l := range tu.Lines(out) {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func checkKV(t *testing.T, where string, got, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s: %s = %q, want %q", where, k, got[k], want[k])
		}
	}
}

// Every controller's limit, written from the spec with runc's conversions,
// is what the container reads in its own cgroup (its cgroup namespace puts
// it at /sys/fs/cgroup); `update --resources -` and runc's update flags
// change them while it runs.
func TestLimitsInsideAndUpdate(t *testing.T) {
	requireControllers(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	mm, maj, min := blockDev(t)
	files := []string{"memory.max", "memory.low", "memory.high", "memory.swap.max", "cpu.max", "cpu.weight",
		"cpu.max.burst", "cpuset.cpus", "cpuset.mems", "pids.max", "io.max", "io.weight", "io.bfq.weight",
		"hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max"}
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", catScript(files...)}
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(64 * mib), Reservation: i64(16 * mib), Swap: i64(64 * mib)}
		s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: u64(512), Quota: i64(25000), Period: u64(100000), Burst: u64(1000), Cpus: "0", Mems: "0"}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(64)}
		s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{
			Weight:                  u16(500),
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: int64(maj), Minor: int64(min)}, Rate: mib}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: int64(maj), Minor: int64(min)}, Rate: 100}},
		}
		s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 * mib}, {Pagesize: "1GB", Limit: 0}}
		s.Linux.Resources.Unified = map[string]string{"memory.high": strconv.Itoa(48 * mib)}
	})
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	got := parseKV(c.WaitOutput(t, "END"))
	checkKV(t, "inside the container", got, map[string]string{
		"memory.max":           strconv.Itoa(64 * mib),
		"memory.low":           strconv.Itoa(16 * mib),
		"memory.high":          strconv.Itoa(48 * mib),
		"memory.swap.max":      "0", // memory+swap 64M with memory 64M: no swap
		"cpu.max":              "25000 100000",
		"cpu.weight":           "20", // 1 + (512-2)*9999/262142
		"cpu.max.burst":        "1000",
		"cpuset.cpus":          "0",
		"cpuset.mems":          "0",
		"pids.max":             "64",
		"io.max":               mm + " rbps=1048576 wbps=max riops=max wiops=100",
		"hugetlb.2MB.max":      strconv.Itoa(4 * mib),
		"hugetlb.2MB.rsvd.max": strconv.Itoa(4 * mib),
		"hugetlb.1GB.max":      "0",
	})
	// blkio weight 500: BFQ takes it as is, else io.weight 1 + (500-10)*9999/990.
	if got["io.bfq.weight"] != "" {
		checkKV(t, "inside the container (BFQ)", got, map[string]string{"io.bfq.weight": "default 500"})
	} else {
		checkKV(t, "inside the container (no BFQ)", got, map[string]string{"io.weight": "default 4950"})
	}
	// The cgroup namespace hides where the cgroup is on the host.
	if got := execIn(t, rt, id, "cat", "/proc/self/cgroup"); strings.TrimSpace(got) != "0::/" {
		t.Errorf("/proc/self/cgroup inside = %q, want 0::/", got)
	}

	live := func(where string, want map[string]string) {
		t.Helper()
		var names []string
		for k := range want {
			names = append(names, k)
		}
		sort.Strings(names)
		got := execIn(t, rt, id, "sh", "-c", "for f in "+strings.Join(names, " ")+`; do printf '%s=%s\n' $f "$(cat /sys/fs/cgroup/$f)"; done`)
		checkKV(t, where, parseKV(got), want)
	}

	// containerd's form: LinuxResources JSON on stdin.
	res, _ := json.Marshal(specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(96 * mib), Swap: i64(128 * mib)},
		CPU:    &specs.LinuxCPU{Quota: i64(50000), Period: u64(200000), Shares: u64(1024)},
		Pids:   &specs.LinuxPids{Limit: i64(32)},
		BlockIO: &specs.LinuxBlockIO{
			ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: int64(maj), Minor: int64(min)}, Rate: 2 * mib}},
		},
	})
	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"update", "--resources", "-", id}, Stdin: tu.StdinFile(t, res)}); r.Exit != 0 {
		t.Fatalf("update --resources -: %s", r)
	}
	live("after update --resources -", map[string]string{
		"memory.max":      strconv.Itoa(96 * mib),
		"memory.swap.max": strconv.Itoa(32 * mib),
		"cpu.max":         "50000 200000",
		"cpu.weight":      "39", // 1 + (1024-2)*9999/262142
		"pids.max":        "32",
		// Only the limits given change, as in runc.
		"io.max": mm + " rbps=1048576 wbps=2097152 riops=max wiops=100",
	})

	// runc's flags.
	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"update", "--memory", strconv.Itoa(80 * mib), "--pids-limit", "16",
		"--cpu-quota", "30000", "--cpu-period", "100000", id}}); r.Exit != 0 {
		t.Fatalf("update flags: %s", r)
	}
	live("after update --memory --pids-limit --cpu-quota --cpu-period", map[string]string{
		"memory.max": strconv.Itoa(80 * mib),
		// memory+swap stays 128M, as runc keeps the stored swap.
		"memory.swap.max": strconv.Itoa(48 * mib),
		"pids.max":        "16",
		"cpu.max":         "30000 100000",
	})
	// cpu.max holds quota and period together: the one not given is kept
	// (runc merges with its stored config), so a period alone does not
	// lift the quota and a quota alone does not reset the period.
	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"update", "--cpu-period", "50000", id}}); r.Exit != 0 {
		t.Fatalf("update --cpu-period: %s", r)
	}
	live("after update --cpu-period 50000", map[string]string{"cpu.max": "30000 50000"})
	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"update", "--cpu-quota", "20000", id}}); r.Exit != 0 {
		t.Fatalf("update --cpu-quota: %s", r)
	}
	live("after update --cpu-quota 20000", map[string]string{"cpu.max": "20000 50000"})
	// -1 is "no limit".
	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"update", "--memory", "-1", "--memory-swap", "-1", "--pids-limit", "-1", id}}); r.Exit != 0 {
		t.Fatalf("update to unlimited: %s", r)
	}
	live("after update --memory -1 --pids-limit -1", map[string]string{"memory.max": "max", "pids.max": "max"})

	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

// An allocation past memory.max gets OOM-killed inside the container; the
// kernel counts it, `events --stats` shows the limit hit, `events` streams
// an oom event, and delete removes the cgroup of the OOM-killed container.
func TestMemoryLimitOOMKill(t *testing.T) {
	requireControllers(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	// dd's one 64 MiB block is allocated and filled at once, against a
	// 32 MiB limit and no swap. (busybox tail fed zeros, which grows a
	// line buffer step by step, took long enough under emulation and load
	// to miss the wait.)
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `echo memory.max=$(cat /sys/fs/cgroup/memory.max); ` +
			`dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo dd-status=$?; echo END`}
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(32 * mib), Swap: i64(32 * mib)}
	})
	c := rt.Create(t, id, bundle)
	cg := cgroupOf(t, c.Pid(t))
	events, stopEvents := background(t, rt, "events", "--interval", "1s", id)
	rt.Start(t, id)
	out := c.WaitOutput(t, "END")
	rt.WaitStatus(t, id, specs.StateStopped)
	if !strings.Contains(out, "memory.max="+strconv.Itoa(32*mib)) {
		t.Errorf("container saw %q, want memory.max=%d", out, 32*mib)
	}
	// SIGKILL from the OOM killer: 128+9.
	if !strings.Contains(out, "dd-status=137") {
		t.Errorf("dd was not OOM-killed: output %q, stderr %q", out, c.Stderr())
	}
	if ev := keyValues(t, filepath.Join(cg, "memory.events")); ev["oom_kill"] == 0 {
		t.Errorf("%s/memory.events: %v, want oom_kill > 0", cg, ev)
	}
	st := statsOf(t, rt, id)
	if typ := field(st, "type"); typ != "stats" || field(st, "id") != id {
		t.Errorf("events --stats: type %v id %v, want stats %s", typ, field(st, "id"), id)
	}
	if lim := num(field(st, "data", "memory", "usage", "limit")); lim != 32*mib {
		t.Errorf("events --stats memory.usage.limit = %d, want %d", lim, 32*mib)
	}
	if fc := num(field(st, "data", "memory", "usage", "failcnt")); fc == 0 {
		t.Errorf("events --stats memory.usage.failcnt = 0 after an OOM kill: %v", field(st, "data", "memory"))
	}
	// runc's `events` prints {"type":"oom","id":ID} when the cgroup OOMs.
	t.Run("events streams oom", func(t *testing.T) {
		var lines []string
		sawOOM := tu.Poll(func() bool {
			b, _ := os.ReadFile(events)
			lines = tu.Lines(string(b))
			for _, l := range lines {
				var ev map[string]any
				if json.Unmarshal([]byte(l), &ev) == nil && ev["type"] == "oom" && ev["id"] == id {
					return true
				}
			}
			return false
		})
		if !sawOOM {
			types := map[string]int{}
			for _, l := range lines {
				var ev map[string]any
				_ = json.Unmarshal([]byte(l), &ev)
				types[fmt.Sprint(ev["type"])]++
			}
			t.Errorf("`rung events %s` printed no {\"type\":\"oom\"} line for the OOM kill (memory.events oom_kill > 0); "+
				"it printed %d lines by type: %v", id, len(lines), types)
		}
	})
	stopEvents()
	rt.MustDelete(t, id, false)
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there after delete of an OOM-killed container: %v", cg, err)
	}

	// With memory.oom.group (a unified key, as Kubernetes sets it) the
	// kernel kills the whole container, init included.
	t.Run("oom group kills the init", func(t *testing.T) {
		id := tu.ID(t)
		c := rt.Create(t, id, tu.Bundle(t, func(s *specs.Spec) {
			s.Process.Args = []string{"sh", "-c", `echo oom.group=$(cat /sys/fs/cgroup/memory.oom.group); ` +
				`dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo survived`}
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(32 * mib), Swap: i64(32 * mib)}
			s.Linux.Resources.Unified = map[string]string{"memory.oom.group": "1"}
		}))
		cg := cgroupOf(t, c.Pid(t))
		rt.Start(t, id)
		rt.WaitStatus(t, id, specs.StateStopped)
		if out := c.Stdout(); !strings.Contains(out, "oom.group=1") || strings.Contains(out, "survived") {
			t.Errorf("with memory.oom.group 1 the init should die with the allocation: output %q", out)
		}
		if ev := keyValues(t, filepath.Join(cg, "memory.events")); ev["oom_group_kill"] == 0 {
			t.Errorf("%s/memory.events: %v, want oom_group_kill > 0", cg, ev)
		}
		rt.MustDelete(t, id, false)
		if _, err := os.Stat(cg); !os.IsNotExist(err) {
			t.Errorf("cgroup %s still there after delete of an OOM-killed container: %v", cg, err)
		}
	})
	tu.CheckNoLeaks(t, snap, id)
}

// A loop of background sleeps stops at pids.max with busybox's "can't fork";
// `ps` and `events --stats` count exactly what the cgroup holds.
func TestPidsLimitForkStops(t *testing.T) {
	requireControllers(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	const limit = 8
	// The subshell dies at its first failed fork; its sleeps stay, and the
	// init execs (no fork needed) to keep the container up.
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `echo pids.max=$(cat /sys/fs/cgroup/pids.max); ` +
			`(i=0; while [ $i -lt 40 ]; do sleep 1000 & i=$((i+1)); done); echo loop-ended; exec sleep 1000`}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(limit)}
	})
	c := rt.Create(t, id, bundle)
	cg := cgroupOf(t, c.Pid(t))
	rt.Start(t, id)
	out := c.WaitOutput(t, "loop-ended")
	if !strings.Contains(out, "pids.max=8") {
		t.Errorf("container saw %q, want pids.max=8", out)
	}
	if !strings.Contains(c.Stderr(), "can't fork") {
		t.Errorf("no fork failed in the container: stderr %q", c.Stderr())
	}
	if ev := keyValues(t, filepath.Join(cg, "pids.events")); ev["max"] == 0 {
		t.Errorf("pids.events %v: want max > 0 (forks refused at the limit)", ev)
	}
	// Once the subshell is gone: the init (now sleep) and the sleeps it left.
	var procs []int
	tu.Poll(func() bool {
		procs = procsOf(t, cg)
		return len(procs) == limit-1
	})
	if len(procs) != limit-1 {
		t.Errorf("%s holds %d processes %v, want %d", cg, len(procs), procs, limit-1)
	}

	res := rt.Exec(t, tu.ExecOpts{Args: []string{"ps", "--format", "json", id}})
	if res.Exit != 0 {
		t.Fatalf("ps --format json: %s", res)
	}
	var listed []int
	if err := json.Unmarshal([]byte(res.Stdout), &listed); err != nil {
		t.Fatalf("ps --format json: %v: %q", err, res.Stdout)
	}
	sort.Ints(listed)
	if fmt.Sprint(listed) != fmt.Sprint(procs) {
		t.Errorf("ps --format json = %v, cgroup.procs = %v", listed, procs)
	}
	table := rt.Exec(t, tu.ExecOpts{Args: []string{"ps", id}})
	if table.Exit != 0 || !strings.HasPrefix(table.Stdout, "PID") || !strings.Contains(table.Stdout, strconv.Itoa(c.Pid(t))) {
		t.Errorf("ps table: want a PID header and the init %d: %s", c.Pid(t), table)
	}

	st := statsOf(t, rt, id)
	if cur, lim := num(field(st, "data", "pids", "current")), num(field(st, "data", "pids", "limit")); cur != uint64(len(procs)) || lim != limit {
		t.Errorf("events --stats pids = current %d limit %d, want %d and %d", cur, lim, len(procs), limit)
	}
	// kill --all reaches every process of the cgroup (cgroup.kill).
	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"kill", "--all", id, "9"}}); r.Exit != 0 {
		t.Fatalf("kill --all: %s", r)
	}
	rt.WaitStatus(t, id, specs.StateStopped)
	if !tu.Poll(func() bool { return len(procsOf(t, cg)) == 0 }) {
		t.Errorf("after kill --all %s still holds %v", cg, procsOf(t, cg))
	}
	rt.MustDelete(t, id, false)
	tu.CheckNoLeaks(t, snap, id)
}

// procsOf lists a cgroup's processes, sorted.
func procsOf(t *testing.T, cg string) []int {
	t.Helper()
	var out []int
	for _, l := range tu.Lines(readFile(t, filepath.Join(cg, "cgroup.procs"))) {
		if n, err := strconv.Atoi(l); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// A busy loop under cpu.max gets throttled, and `events --stats` reports it
// (with cpu usage and memory in runc's shape).
func TestCPUMaxThrottles(t *testing.T) {
	requireControllers(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `echo cpu.max=$(cat /sys/fs/cgroup/cpu.max); echo END; while :; do :; done`}
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: i64(5000), Period: u64(50000)}
	})
	c := rt.Create(t, id, bundle)
	cg := cgroupOf(t, c.Pid(t))
	rt.Start(t, id)
	if out := c.WaitOutput(t, "END"); !strings.Contains(out, "cpu.max=5000 50000") {
		t.Errorf("container saw %q, want cpu.max=5000 50000", out)
	}
	var stat map[string]uint64
	if !tu.Poll(func() bool { stat = keyValues(t, filepath.Join(cg, "cpu.stat")); return stat["nr_throttled"] > 0 }) {
		t.Errorf("a busy loop under cpu.max 5000/50000 was never throttled: cpu.stat %v", stat)
	}
	st := statsOf(t, rt, id)
	data := field(st, "data")
	if num(field(data, "cpu", "usage", "total")) == 0 || num(field(data, "cpu", "throttling", "throttledPeriods")) == 0 {
		t.Errorf("events --stats cpu: want usage.total and throttling.throttledPeriods > 0: %v", field(data, "cpu"))
	}
	if num(field(data, "memory", "usage", "usage")) == 0 {
		t.Errorf("events --stats memory.usage.usage = 0: %v", field(data, "memory"))
	}
	// The keys containerd's runc shim decodes (runc's types.Stats).
	for _, k := range []string{"cpu", "memory", "pids", "blkio", "hugetlb"} {
		if field(data, k) == nil {
			t.Errorf("events --stats data has no %q: %v", k, data)
		}
	}
	if field(data, "hugetlb", "2MB") == nil {
		t.Errorf("events --stats hugetlb has no 2MB entry: %v", field(data, "hugetlb"))
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}

// counterOf reads the counter the pause test's container keeps in its /tmp,
// through the init's root.
func counterOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/counter", pid))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// pause freezes every process (cgroup.freeze, state "paused", a counter
// stops), resume thaws them (the counter goes on), and delete --force
// removes a frozen container and its cgroup.
func TestPauseResumeDeleteFrozen(t *testing.T) {
	requireControllers(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	bundle := tu.Bundle(t, tu.Shell(`i=0; while :; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; done`))
	c := rt.Create(t, id, bundle)
	pid := c.Pid(t)
	cg := cgroupOf(t, pid)
	rt.Start(t, id)
	if !tu.Poll(func() bool { return counterOf(t, pid) > 0 }) {
		t.Fatalf("counter never started (stderr %q)", c.Stderr())
	}

	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"pause", id}}); r.Exit != 0 {
		t.Fatalf("pause: %s", r)
	}
	if st := rt.State(t, id); st.Status != specs.ContainerState("paused") {
		t.Errorf("after pause: status %q, want paused", st.Status)
	}
	if ev := keyValues(t, filepath.Join(cg, "cgroup.events")); ev["frozen"] != 1 {
		t.Errorf("after pause: cgroup.events %v, want frozen 1", ev)
	}
	frozenAt := counterOf(t, pid)
	// A frozen loop makes no progress however long one looks; a second is
	// many iterations for a running one, even under TCG.
	time.Sleep(time.Second)
	if n := counterOf(t, pid); n != frozenAt {
		t.Errorf("counter moved from %d to %d while paused", frozenAt, n)
	}

	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"resume", id}}); r.Exit != 0 {
		t.Fatalf("resume: %s", r)
	}
	if st := rt.State(t, id); st.Status != specs.StateRunning {
		t.Errorf("after resume: status %q, want running", st.Status)
	}
	if !tu.Poll(func() bool { return counterOf(t, pid) > frozenAt }) {
		t.Errorf("counter stuck at %d after resume", frozenAt)
	}

	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"pause", id}}); r.Exit != 0 {
		t.Fatalf("pause again: %s", r)
	}
	rt.MustDelete(t, id, true)
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there after delete --force of a paused container: %v", cg, err)
	}
	tu.CheckNoLeaks(t, snap, id)
}

// The eBPF device program refuses opens the rules deny, for nodes that
// exist in the container: the scratch disk is readable but not writable,
// /dev/kmsg (made by linux.devices, absent from runc's default allow list)
// cannot be opened, nor a node mknod'd in the container; the default list
// (/dev/null, /dev/full, mknod) still works, even against a deny rule; and
// an update without devices leaves the rules in place.
func TestDeviceRules(t *testing.T) {
	requireControllers(t)
	rt, snap := setup(t)
	id := tu.ID(t)
	_, maj, min := blockDev(t)
	mode := os.FileMode(0o660)
	zero := uint32(0)
	bundle := tu.Bundle(t, func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{
			{Path: "/dev/vda", Type: "b", Major: int64(maj), Minor: int64(min), FileMode: &mode, UID: &zero, GID: &zero},
			{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11, FileMode: &mode, UID: &zero, GID: &zero},
		}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "b", Major: i64(int64(maj)), Minor: i64(int64(min)), Access: "r"},
			// runc's default allow list (which has /dev/full) is appended
			// after the spec's rules, so this deny does not stick, as in runc.
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},
		}
		s.Process.Args = []string{"sh", "-c", `
head -c 512 /dev/vda >/dev/null && echo vda-read-ok
(echo x > /dev/vda) 2>/dev/null && echo vda-write-ok || echo vda-write-denied
head -c 1 /dev/kmsg >/dev/null 2>&1 && echo kmsg-open-ok || echo kmsg-denied
echo null > /dev/null && echo null-ok
head -c 1 /dev/full >/dev/null && echo full-open-ok
mknod /tmp/k c 1 11 && echo mknod-ok
head -c 1 /tmp/k >/dev/null 2>&1 && echo mknod-open-ok || echo mknod-open-denied
echo END
exec sleep 1000`}
		// mknod needs the capability; the program decides what may be opened.
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_MKNOD")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_MKNOD")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_MKNOD")
		// /tmp of the default spec is nodev; the mknod'd node must be openable
		// as far as the mount goes, so the eBPF program is what refuses it.
		for i, m := range s.Mounts {
			if m.Destination == "/tmp" {
				s.Mounts[i].Options = []string{"nosuid", "mode=1777", "size=16m"}
			}
		}
	})
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	out := c.WaitOutput(t, "END")
	for _, want := range []string{"vda-read-ok", "vda-write-denied", "kmsg-denied", "null-ok", "full-open-ok", "mknod-ok", "mknod-open-denied"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("device rules: want %s; container printed %q (stderr %q)", want, out, c.Stderr())
		}
	}
	// An update that names no devices (containerd's usual one) keeps the
	// device program; it must not fall back to allowing everything.
	res, _ := json.Marshal(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(200 * mib)}})
	if r := rt.Exec(t, tu.ExecOpts{Args: []string{"update", "--resources", "-", id}, Stdin: tu.StdinFile(t, res)}); r.Exit != 0 {
		t.Fatalf("update --resources -: %s", r)
	}
	if out := execIn(t, rt, id, "sh", "-c", "head -c 1 /dev/kmsg >/dev/null 2>&1 && echo kmsg-open-ok || echo kmsg-denied"); !strings.Contains(out, "kmsg-denied") {
		t.Errorf("after an update without devices /dev/kmsg opens: %q", out)
	}
	rt.MustDelete(t, id, true)
	tu.CheckNoLeaks(t, snap, id)
}
