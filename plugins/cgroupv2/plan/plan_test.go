package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
)

func TestCgroupPath(t *testing.T) {
	for _, tc := range []struct {
		in, id, want, err string
	}{
		{in: "", id: "abc", want: "/rung/abc"},
		{in: "/a/b", id: "x", want: "/a/b"},
		{in: "a/b", id: "x", want: "/a/b"},
		{in: "/a//b/./c/", id: "x", want: "/a/b/c"},
		{in: "/machine.slice/foo:bar", id: "x", want: "/machine.slice/foo:bar"},
		{in: "/a/../b", id: "x", err: `".." component`},
		{in: "../etc", id: "x", err: `".." component`},
		{in: "/a/b/..", id: "x", err: `".." component`},
		{in: "/", id: "x", err: "root of the cgroup2 hierarchy"},
		{in: "/./", id: "x", err: "root of the cgroup2 hierarchy"},
		{in: "system.slice:docker:abc", id: "x", err: "systemd cgroup driver is not supported"},
		{in: ":rung:abc", id: "x", err: "systemd"},
		{in: "", id: "../x", err: "cannot name a cgroup"},
		{in: "", id: "a/b", err: "cannot name a cgroup"},
		{in: "", id: "..", err: "cannot name a cgroup"},
		{in: "/a\x00b", id: "x", err: "NUL"},
	} {
		got, err := CgroupPath(tc.in, tc.id)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("CgroupPath(%q, %q) = %q, %v; want error containing %q", tc.in, tc.id, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CgroupPath(%q, %q) = %q, %v; want %q", tc.in, tc.id, got, err, tc.want)
		}
	}
}

func TestConversions(t *testing.T) {
	// Values from runc's own tests of these functions.
	for shares, want := range map[uint64]uint64{0: 0, 2: 1, 1024: 39, 262144: 10000, 1: 1, 1 << 20: 10000} {
		if got := CPUSharesToWeight(shares); got != want {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for w, want := range map[uint16]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := BlkioWeightToIOWeight(w); got != want {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
	for _, tc := range []struct {
		swap, mem, want int64
		err             bool
	}{
		{0, 0, 0, false},
		{0, -1, -1, false},
		{-1, -1, -1, false},
		{-1, 100, -1, false},
		{0, 100, 0, false},
		{300, 100, 200, false},
		{100, 100, 0, false},
		{100, 0, 0, true},
		{100, -1, 0, true},
		{50, 100, 0, true},
		{100, -5, 0, true},
	} {
		got, err := MemorySwapToV2(tc.swap, tc.mem)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("MemorySwapToV2(%d, %d) = %d, %v; want %d, err=%v", tc.swap, tc.mem, got, err, tc.want, tc.err)
		}
	}
}

type fw struct{ file, value string }

func writesOf(p *Plan) []fw {
	var out []fw
	for _, w := range p.Writes {
		out = append(out, fw{w.File, w.Value})
	}
	return out
}

func decode(t *testing.T, js string) *specs.LinuxResources {
	t.Helper()
	var r specs.LinuxResources
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("bad test JSON %s: %v", js, err)
	}
	return &r
}

func TestResourcesWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		js   string
		want []fw
	}{
		{"empty", `{}`, nil},
		{"memory", `{"memory":{"limit":1048576,"reservation":524288,"swap":3145728}}`,
			[]fw{{"memory.swap.max", "2097152"}, {"memory.max", "1048576"}, {"memory.low", "524288"}}},
		{"memory unlimited", `{"memory":{"limit":-1}}`,
			[]fw{{"memory.swap.max", "max"}, {"memory.max", "max"}}},
		{"swap equal to limit disables swap", `{"memory":{"limit":1000,"swap":1000}}`,
			[]fw{{"memory.swap.max", "0"}, {"memory.max", "1000"}}},
		{"swap unlimited", `{"memory":{"limit":1000,"swap":-1}}`,
			[]fw{{"memory.swap.max", "max"}, {"memory.max", "1000"}}},
		{"memory zero is unset", `{"memory":{"limit":0}}`, nil},
		{"oom killer ignored", `{"memory":{"disableOOMKiller":true}}`, nil},
		{"pids", `{"pids":{"limit":100}}`, []fw{{"pids.max", "100"}}},
		{"pids -1", `{"pids":{"limit":-1}}`, []fw{{"pids.max", "max"}}},
		{"pids 0", `{"pids":{"limit":0}}`, []fw{{"pids.max", "max"}}},
		{"pids unset", `{"pids":{}}`, nil},
		{"cpu shares", `{"cpu":{"shares":1024}}`, []fw{{"cpu.weight", "39"}}},
		{"cpu quota", `{"cpu":{"quota":50000,"period":100000}}`, []fw{{"cpu.max", "50000 100000"}}},
		{"cpu quota default period", `{"cpu":{"quota":20000}}`, []fw{{"cpu.max", "20000 100000"}}},
		{"cpu quota unlimited", `{"cpu":{"quota":-1,"period":50000}}`, []fw{{"cpu.max", "max 50000"}}},
		{"cpu period only", `{"cpu":{"period":50000}}`, []fw{{"cpu.max", "max 50000"}}},
		{"cpu burst", `{"cpu":{"quota":50000,"burst":10000}}`,
			[]fw{{"cpu.max.burst", "10000"}, {"cpu.max", "50000 100000"}, {"cpu.max.burst", "10000"}}},
		{"cpu burst alone", `{"cpu":{"burst":0}}`, []fw{{"cpu.max.burst", "0"}}},
		{"cpuset", `{"cpu":{"cpus":"0-1,3","mems":"0"}}`, []fw{{"cpuset.cpus", "0-1,3"}, {"cpuset.mems", "0"}}},
		{"cpu idle", `{"cpu":{"idle":1,"shares":1024}}`, []fw{{"cpu.idle", "1"}}},
		{"cpu idle 0", `{"cpu":{"idle":0,"shares":2}}`, []fw{{"cpu.idle", "0"}, {"cpu.weight", "1"}}},
		{"blkio weight", `{"blockIO":{"weight":500}}`, []fw{{"io.bfq.weight", "500"}}},
		{"blkio device weight", `{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":1000}]}}`,
			[]fw{{"io.bfq.weight", "8:0 1000"}}},
		{"blkio throttle", `{"blockIO":{
			"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576},{"major":8,"minor":16,"rate":0}],
			"throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":2048}],
			"throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
			"throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":200}]}}`,
			[]fw{{"io.max", "8:0 rbps=1048576 wbps=2048 riops=100"}, {"io.max", "8:16 rbps=max wiops=200"}}},
		{"hugetlb", `{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}`,
			[]fw{{"hugetlb.2MB.max", "4194304"}, {"hugetlb.2MB.rsvd.max", "4194304"}}},
		{"rdma", `{"rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10000},"mlx4_0":{"hcaObjects":5}}}`,
			[]fw{{"rdma.max", "mlx4_0 hca_object=5"}, {"rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"}}},
		{"unified", `{"unified":{"memory.high":"1000000","io.max":"8:0 rbps=1\n8:16 wbps=2\n","cgroup.max.depth":"3"}}`,
			[]fw{{"cgroup.max.depth", "3"}, {"io.max", "8:0 rbps=1"}, {"io.max", "8:16 wbps=2"}, {"memory.high", "1000000"}}},
		{"unified after converted fields", `{"pids":{"limit":5},"unified":{"pids.max":"7"}}`,
			[]fw{{"pids.max", "5"}, {"pids.max", "7"}}},
		{"order as runc", `{"cpu":{"shares":2},"memory":{"limit":1000},"pids":{"limit":3},"blockIO":{"weight":10}}`,
			[]fw{{"pids.max", "3"}, {"memory.max", "1000"}, {"io.bfq.weight", "10"}, {"cpu.weight", "1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, errs := Resources(decode(t, tc.js), Options{})
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if got := writesOf(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("writes:\n got  %v\n want %v", got, tc.want)
			}
		})
	}
}

func TestWriteDetails(t *testing.T) {
	p, errs := Resources(decode(t, `{"memory":{"limit":-1},"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":10}]},"cpu":{"quota":50000,"burst":100}}`), Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	byFile := map[string][]Write{}
	for _, w := range p.Writes {
		byFile[w.File] = append(byFile[w.File], w)
	}
	if w := byFile["memory.swap.max"][0]; w.Value != "max" || !w.IfExists || w.Controller != "memory" {
		t.Errorf("memory.swap.max write %+v: want max, IfExists, memory", w)
	}
	if w := byFile["memory.max"][0]; w.Resource != "linux.resources.memory" || w.Field != "linux.resources.memory.limit" {
		t.Errorf("memory.max write names %q / %q", w.Resource, w.Field)
	}
	bfq := byFile["io.bfq.weight"]
	if len(bfq) != 2 || bfq[0].Else == nil || bfq[0].Else.File != "io.weight" || bfq[0].Else.Value != "default 4950" {
		t.Fatalf("io.bfq.weight writes %+v: want io.weight \"default 4950\" fallback", bfq)
	}
	if bfq[1].Else == nil || bfq[1].Else.Value != "8:0 1" {
		t.Errorf("device weight fallback %+v, want io.weight \"8:0 1\"", bfq[1].Else)
	}
	burst := byFile["cpu.max.burst"]
	if len(burst) != 2 || !burst[0].BestEffort || burst[1].BestEffort {
		t.Errorf("cpu.max.burst writes %+v: want a best-effort write before cpu.max and a real one after", burst)
	}
	if got, want := p.Controllers(), []string{"cpu", "io", "memory"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Controllers() = %v, want %v", got, want)
	}
	if got := p.PageSizes(); len(got) != 0 {
		t.Errorf("PageSizes() = %v, want none", got)
	}
}

func TestResourcesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, js, field, msg string
	}{
		{"memory negative", `{"memory":{"limit":-2}}`, "linux.resources.memory.limit", "negative"},
		{"reservation negative", `{"memory":{"reservation":-7}}`, "linux.resources.memory.reservation", "negative"},
		{"swap below limit", `{"memory":{"limit":2000,"swap":1000}}`, "linux.resources.memory.swap", ">= the memory limit"},
		{"swap without limit", `{"memory":{"swap":1000}}`, "linux.resources.memory.swap", "needs a memory limit"},
		{"pids negative", `{"pids":{"limit":-3}}`, "linux.resources.pids.limit", "not a limit"},
		{"quota negative", `{"cpu":{"quota":-2}}`, "linux.resources.cpu.quota", "negative"},
		{"quota tiny", `{"cpu":{"quota":10}}`, "linux.resources.cpu.quota", "minimum"},
		{"period out of range", `{"cpu":{"period":10}}`, "linux.resources.cpu.period", "range"},
		{"burst above quota", `{"cpu":{"quota":10000,"burst":20000}}`, "linux.resources.cpu.burst", "larger than the quota"},
		{"idle 2", `{"cpu":{"idle":2}}`, "linux.resources.cpu.idle", "not 0 or 1"},
		{"realtime", `{"cpu":{"realtimeRuntime":950000}}`, "linux.resources.cpu.realtimeRuntime", "not supported on cgroup v2"},
		{"cpus syntax", `{"cpu":{"cpus":"a"}}`, "linux.resources.cpu.cpus", "not a number"},
		{"cpus descending", `{"cpu":{"cpus":"3-1"}}`, "linux.resources.cpu.cpus", "ascending"},
		{"blkio weight", `{"blockIO":{"weight":5}}`, "linux.resources.blockIO.weight", "10 to 1000"},
		{"blkio device weight", `{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":2000}]}}`, "linux.resources.blockIO.weightDevice[0].weight", "10 to 1000"},
		{"throttle device", `{"blockIO":{"throttleReadBpsDevice":[{"major":-1,"minor":0,"rate":1}]}}`, "linux.resources.blockIO.throttleReadBpsDevice[0]", "device numbers"},
		{"page size", `{"hugepageLimits":[{"pageSize":"2M","limit":1}]}`, "linux.resources.hugepageLimits[0].pageSize", "huge page size"},
		{"rdma name", `{"rdma":{"bad name":{"hcaHandles":1}}}`, `linux.resources.rdma["bad name"]`, "RDMA device name"},
		{"unified slash", `{"unified":{"../memory.max":"1"}}`, `linux.resources.unified["../memory.max"]`, `without "/"`},
		{"unified dotdot", `{"unified":{"memory..max":"1"}}`, `linux.resources.unified["memory..max"]`, `without ".."`},
		{"unified no dot", `{"unified":{"memory":"1"}}`, `linux.resources.unified["memory"]`, "CONTROLLER.PARAMETER"},
		{"unified procs", `{"unified":{"cgroup.procs":"1"}}`, `linux.resources.unified["cgroup.procs"]`, "managed by the runtime"},
		{"unified subtree", `{"unified":{"cgroup.subtree_control":"+memory"}}`, `linux.resources.unified["cgroup.subtree_control"]`, "managed by the runtime"},
		{"unified freeze", `{"unified":{"cgroup.freeze":"1"}}`, `linux.resources.unified["cgroup.freeze"]`, "managed by the runtime"},
		{"device type", `{"devices":[{"allow":true,"type":"x","access":"rwm"}]}`, "linux.resources.devices[0].type", "not a device cgroup type"},
		{"device access", `{"devices":[{"allow":true,"type":"c","access":"rwx"}]}`, "linux.resources.devices[0].access", "other than r, w and m"},
		{"device access empty", `{"devices":[{"allow":true,"type":"c"}]}`, "linux.resources.devices[0].access", "must not be empty"},
		{"device major", `{"devices":[{"allow":true,"type":"c","major":-2,"access":"r"}]}`, "linux.resources.devices[0].major", "not a device number"},
		{"device hole", `{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"r"}]}`,
			"linux.resources.devices", "punch a hole"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, errs := Resources(decode(t, tc.js), Options{})
			if p != nil || len(errs) == 0 {
				t.Fatalf("no error, plan %+v", p)
			}
			for _, e := range errs {
				if e.Field == tc.field && strings.Contains(e.Message, tc.msg) {
					return
				}
			}
			t.Errorf("errors %v; want one on %s containing %q", errs, tc.field, tc.msg)
		})
	}
}

func TestCheckAvailable(t *testing.T) {
	p, errs := Resources(decode(t, `{"memory":{"limit":1000,"reservation":10},"pids":{"limit":4},"hugepageLimits":[{"pageSize":"2MB","limit":0}],"unified":{"memory.high":"5","misc.max":"x 1"}}`), Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := CheckAvailable(p, map[string]bool{"hugetlb": true}, "/sys/fs/cgroup/unified")
	want := map[string]string{
		"linux.resources.memory":                 "memory controller is not available in the cgroup v2 hierarchy at /sys/fs/cgroup/unified",
		"linux.resources.pids":                   "pids controller is not available in the cgroup v2 hierarchy at /sys/fs/cgroup/unified",
		`linux.resources.unified["memory.high"]`: "memory controller is not available in the cgroup v2 hierarchy at /sys/fs/cgroup/unified",
		`linux.resources.unified["misc.max"]`:    "misc controller is not available in the cgroup v2 hierarchy at /sys/fs/cgroup/unified",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %d errors", got, len(want))
	}
	for _, e := range got {
		if want[e.Field] != e.Message {
			t.Errorf("unexpected %s: %s", e.Field, e.Message)
		}
	}
	if errs := CheckAvailable(p, map[string]bool{"hugetlb": true, "memory": true, "pids": true, "misc": true}, "x"); len(errs) != 0 {
		t.Errorf("all available, got %v", errs)
	}
}

func TestCheckMemoryUsage(t *testing.T) {
	yes := true
	lim := int64(1000)
	if err := CheckMemoryUsage(&specs.LinuxMemory{Limit: &lim}, 5000); err != nil {
		t.Errorf("without checkBeforeUpdate: %v", err)
	}
	if err := CheckMemoryUsage(&specs.LinuxMemory{Limit: &lim, CheckBeforeUpdate: &yes}, 5000); err == nil {
		t.Error("limit below usage accepted")
	}
	if err := CheckMemoryUsage(&specs.LinuxMemory{Limit: &lim, CheckBeforeUpdate: &yes}, 500); err != nil {
		t.Errorf("limit above usage: %v", err)
	}
}

func TestDeviceRules(t *testing.T) {
	// Create always gets a filter, with runc's defaults after the spec's rules.
	p, errs := Resources(nil, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !reflect.DeepEqual(p.Devices, DefaultDevices) {
		t.Errorf("no devices in spec: got %v, want the defaults", p.Devices)
	}
	// An update without devices leaves the filter alone.
	p, _ = Resources(decode(t, `{"pids":{"limit":3}}`), Options{Update: true})
	if p.Devices != nil {
		t.Errorf("update without devices changes the filter: %v", p.Devices)
	}
	p, _ = Resources(decode(t, `{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":7,"access":"rw"}]}`), Options{Update: true})
	want := append([]devfilter.Rule{
		{Type: 'a', Major: -1, Minor: -1, Access: "rwm"},
		{Type: 'b', Major: 7, Minor: -1, Access: "rw", Allow: true},
	}, DefaultDevices...)
	if !reflect.DeepEqual(p.Devices, want) {
		t.Errorf("got %v\nwant %v", p.Devices, want)
	}
	f, err := devfilter.Emulate(p.Devices)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ          byte
		major, minor uint32
		access       string
		want         bool
	}{
		{'c', 1, 3, "rw", true}, // /dev/null, default
		{'c', 1, 7, "rw", true}, // /dev/full, default
		{'c', 1, 1, "r", false}, // /dev/mem
		{'c', 1, 1, "m", true},  // mknod of anything, default
		{'b', 7, 0, "rw", true}, // the spec's loop devices
		// One exception must cover a whole request, as on cgroup v1 (the
		// kernel asks for m apart from r and w anyway).
		{'b', 7, 0, "rwm", false},
		{'b', 8, 0, "r", false},   // sda
		{'c', 136, 4, "rw", true}, // a pty
	} {
		if got := f.Allowed(tc.typ, tc.major, tc.minor, tc.access); got != tc.want {
			t.Errorf("%c %d:%d %s allowed=%v, want %v", tc.typ, tc.major, tc.minor, tc.access, got, tc.want)
		}
	}
}
