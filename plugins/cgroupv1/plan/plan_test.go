package plan

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
)

func resources(t *testing.T, js string) *specs.LinuxResources {
	t.Helper()
	var r specs.LinuxResources
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("bad resources %s: %v", js, err)
	}
	return &r
}

// writes renders a plan's writes as "controller/file=value" lines, with the
// fallback and flags that change how they are applied.
func writes(p *Plan) []string {
	var out []string
	for _, w := range p.Writes {
		s := w.Controller + "/" + w.File + "=" + w.Value
		if w.Else != nil {
			s += " else " + w.Else.File
		}
		if w.IfExists {
			s += " ifexists"
		}
		if w.BestEffort {
			s += " besteffort"
		}
		out = append(out, s)
	}
	return out
}

func plan(t *testing.T, js string, o Options) *Plan {
	t.Helper()
	if o.MemoryLimit == 0 {
		o.MemoryLimit = math.MaxUint64
	}
	p, errs := Resources(resources(t, js), o)
	if len(errs) > 0 {
		t.Fatalf("Resources(%s): %v", js, errs)
	}
	return p
}

func TestConversions(t *testing.T) {
	for _, tc := range []struct {
		name, js string
		o        Options
		want     []string
	}{
		{"pids", `{"pids":{"limit":10}}`, Options{}, []string{"pids/pids.max=10"}},
		{"pids unlimited", `{"pids":{"limit":-1}}`, Options{}, []string{"pids/pids.max=max"}},
		{"pids zero", `{"pids":{"limit":0}}`, Options{}, []string{"pids/pids.max=max"}},
		{"cpuset", `{"cpu":{"cpus":"0-1","mems":"0"}}`, Options{}, []string{"cpuset/cpuset.cpus=0-1", "cpuset/cpuset.mems=0"}},
		{"shares", `{"cpu":{"shares":512}}`, Options{}, []string{"cpu/cpu.shares=512"}},
		{"quota alone", `{"cpu":{"quota":50000}}`, Options{}, []string{"cpu/cpu.cfs_quota_us=50000"}},
		{"period alone", `{"cpu":{"period":20000}}`, Options{}, []string{"cpu/cpu.cfs_period_us=20000"}},
		{"quota period burst", `{"cpu":{"quota":50000,"period":100000,"burst":20000}}`, Options{}, []string{
			"cpu/cpu.cfs_period_us=100000 besteffort",
			"cpu/cpu.cfs_burst_us=20000 ifexists besteffort",
			"cpu/cpu.cfs_quota_us=50000",
			"cpu/cpu.cfs_period_us=100000",
			"cpu/cpu.cfs_burst_us=20000 ifexists",
		}},
		{"unlimited quota", `{"cpu":{"quota":-1}}`, Options{}, []string{"cpu/cpu.cfs_quota_us=-1"}},
		{"realtime", `{"cpu":{"realtimePeriod":1000000,"realtimeRuntime":950000}}`, Options{}, []string{
			"cpu/cpu.rt_period_us=1000000", "cpu/cpu.rt_runtime_us=950000"}},
		{"idle", `{"cpu":{"idle":1,"shares":100}}`, Options{}, []string{"cpu/cpu.idle=1"}},
		{"not idle", `{"cpu":{"idle":0}}`, Options{}, []string{"cpu/cpu.idle=0 ifexists"}},
		{"memory new cgroup", `{"memory":{"limit":1048576,"swap":2097152}}`, Options{}, []string{
			"memory/memory.limit_in_bytes=1048576", "memory/memory.memsw.limit_in_bytes=2097152"}},
		{"memory grows past the old limit", `{"memory":{"limit":4194304,"swap":8388608}}`, Options{MemoryLimit: 1048576}, []string{
			"memory/memory.memsw.limit_in_bytes=8388608", "memory/memory.limit_in_bytes=4194304"}},
		{"memory shrinks", `{"memory":{"limit":1048576,"swap":2097152}}`, Options{MemoryLimit: 4194304}, []string{
			"memory/memory.limit_in_bytes=1048576", "memory/memory.memsw.limit_in_bytes=2097152"}},
		{"memory unlimited lifts swap", `{"memory":{"limit":-1}}`, Options{}, []string{
			"memory/memory.memsw.limit_in_bytes=-1 ifexists", "memory/memory.limit_in_bytes=-1"}},
		{"memory unlimited swap given", `{"memory":{"limit":-1,"swap":-1}}`, Options{}, []string{
			"memory/memory.memsw.limit_in_bytes=-1", "memory/memory.limit_in_bytes=-1"}},
		{"memory extras", `{"memory":{"reservation":1000,"swappiness":10,"disableOOMKiller":true,"kernelTCP":4096}}`, Options{}, []string{
			"memory/memory.soft_limit_in_bytes=1000",
			"memory/memory.kmem.tcp.limit_in_bytes=4096 ifexists",
			"memory/memory.oom_control=1",
			"memory/memory.swappiness=10",
		}},
		{"kernel memory", `{"memory":{"kernel":1048576}}`, Options{}, []string{"memory/memory.kmem.limit_in_bytes=1048576 ifexists besteffort"}},
		{"oom killer left on", `{"memory":{"disableOOMKiller":false}}`, Options{}, nil},
		{"blkio", `{"blockIO":{"weight":500,"leafWeight":300,"weightDevice":[{"major":8,"minor":0,"weight":200,"leafWeight":100}],
			"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],"throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":0}]}}`, Options{}, []string{
			"blkio/blkio.weight=500 else blkio.bfq.weight",
			"blkio/blkio.leaf_weight=300",
			"blkio/blkio.weight_device=8:0 200 else blkio.bfq.weight_device",
			"blkio/blkio.leaf_weight_device=8:0 100",
			"blkio/blkio.throttle.read_bps_device=8:0 1048576",
			"blkio/blkio.throttle.write_iops_device=8:16 0",
		}},
		{"hugetlb", `{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}`, Options{}, []string{
			"hugetlb/hugetlb.2MB.limit_in_bytes=4194304", "hugetlb/hugetlb.2MB.rsvd.limit_in_bytes=4194304 ifexists"}},
		{"network", `{"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5},{"name":"lo","priority":1}]}}`, Options{}, []string{
			"net_cls/net_cls.classid=1048577", "net_prio/net_prio.ifpriomap=eth0 5", "net_prio/net_prio.ifpriomap=lo 1"}},
		{"rdma", `{"rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10000}}}`, Options{}, []string{"rdma/rdma.max=mlx5_1 hca_handle=3 hca_object=10000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Update = true // leave the device rules out of the comparison
			if got := writes(plan(t, tc.js, o)); !slices.Equal(got, tc.want) {
				t.Errorf("writes\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestFieldErrors(t *testing.T) {
	for _, tc := range []struct{ js, field, msg string }{
		{`{"memory":{"limit":100,"swap":50}}`, "linux.resources.memory.swap", ">= the memory limit"},
		{`{"memory":{"swap":4096}}`, "linux.resources.memory.swap", "needs a memory limit"},
		{`{"memory":{"limit":-5}}`, "linux.resources.memory.limit", "negative"},
		{`{"memory":{"swappiness":101}}`, "linux.resources.memory.swappiness", "0 to 100"},
		{`{"cpu":{"shares":1}}`, "linux.resources.cpu.shares", "2 to 262144"},
		{`{"cpu":{"shares":300000}}`, "linux.resources.cpu.shares", "2 to 262144"},
		{`{"cpu":{"quota":500}}`, "linux.resources.cpu.quota", "minimum of 1000"},
		{`{"cpu":{"period":100}}`, "linux.resources.cpu.period", "1000 to 1000000"},
		{`{"cpu":{"quota":10000,"burst":20000}}`, "linux.resources.cpu.burst", "larger than the quota"},
		{`{"cpu":{"idle":2}}`, "linux.resources.cpu.idle", "not 0 or 1"},
		{`{"cpu":{"realtimeRuntime":-2}}`, "linux.resources.cpu.realtimeRuntime", "negative"},
		{`{"cpu":{"cpus":"3-1"}}`, "linux.resources.cpu.cpus", "ascending"},
		{`{"pids":{"limit":-2}}`, "linux.resources.pids.limit", "not a limit"},
		{`{"blockIO":{"weight":5}}`, "linux.resources.blockIO.weight", "10 to 1000"},
		{`{"blockIO":{"leafWeight":5000}}`, "linux.resources.blockIO.leafWeight", "10 to 1000"},
		{`{"blockIO":{"weightDevice":[{"major":8,"minor":0,"leafWeight":1}]}}`, "linux.resources.blockIO.weightDevice[0].leafWeight", "10 to 1000"},
		{`{"hugepageLimits":[{"pageSize":"2M","limit":1}]}`, "linux.resources.hugepageLimits[0].pageSize", "huge page size"},
		{`{"network":{"priorities":[{"name":"eth 0","priority":1}]}}`, "linux.resources.network.priorities[0].name", "interface name"},
		{`{"unified":{"memory.high":"1"}}`, "linux.resources.unified", "cgroup v1"},
		{`{"devices":[{"allow":true,"type":"z","access":"rwm"}]}`, "linux.resources.devices[0].type", "not a device cgroup type"},
		{`{"devices":[{"allow":true,"type":"c","access":"rwx"}]}`, "linux.resources.devices[0].access", "letters other than"},
	} {
		_, errs := Resources(resources(t, tc.js), Options{MemoryLimit: math.MaxUint64})
		found := false
		for _, e := range errs {
			if e.Field == tc.field && strings.Contains(e.Message, tc.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: errors %v; want one on %s with %q", tc.js, errs, tc.field, tc.msg)
		}
	}
}

func TestDefaultDevices(t *testing.T) {
	p, errs := Resources(nil, Options{})
	if len(errs) > 0 || p.Devices == nil {
		t.Fatalf("Resources(nil) = %+v, %v", p, errs)
	}
	// runc's defaults on top of deny-all: /dev/null yes, /dev/kmsg no.
	if p.Devices.DefaultAllow || !p.Devices.Allowed('c', 1, 3, "rw") || p.Devices.Allowed('c', 1, 11, "r") {
		t.Errorf("default devices %+v", p.Devices)
	}
	if !slices.Equal(p.Controllers(), []string{"devices"}) {
		t.Errorf("Controllers = %v", p.Controllers())
	}
	// An update without device rules leaves them alone.
	if p, _ := Resources(&specs.LinuxResources{}, Options{Update: true}); p.Devices != nil {
		t.Errorf("update without devices changes them: %+v", p.Devices)
	}
}

func filter(t *testing.T, list string) devfilter.Filter {
	t.Helper()
	f, err := ParseDevicesList(list)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDeviceWrites(t *testing.T) {
	target := filter(t, "c 1:3 rwm\nc 1:5 rw\nc *:* m\n")
	values := func(ws []Write) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.File+" "+w.Value)
		}
		return out
	}
	// From the root's allow-all: reset, then the allow list.
	got := values(DeviceWrites(filter(t, "a *:* rwm\n"), target))
	want := []string{"devices.deny a *:* rwm", "devices.allow c *:* m", "devices.allow c 1:3 rwm", "devices.allow c 1:5 rw"}
	if !slices.Equal(got, want) {
		t.Errorf("from allow-all:\n got %q\nwant %q", got, want)
	}
	// Between allow lists only the difference is written: nothing is
	// denied that stays allowed.
	got = values(DeviceWrites(filter(t, "c 1:3 rwm\nc 1:5 rwm\nc 1:9 r\n"), target))
	want = []string{"devices.deny c 1:5 m", "devices.deny c 1:9 r", "devices.allow c *:* m"}
	if !slices.Equal(got, want) {
		t.Errorf("between allow lists:\n got %q\nwant %q", got, want)
	}
	if ws := DeviceWrites(target, target); len(ws) != 0 {
		t.Errorf("no change wrote %q", values(ws))
	}
	// To allow-all with exceptions.
	allow := devfilter.Filter{DefaultAllow: true, Exceptions: []devfilter.Rule{{Type: 'b', Major: 8, Minor: devfilter.Wildcard, Access: "w"}}}
	got = values(DeviceWrites(target, allow))
	want = []string{"devices.allow a *:* rwm", "devices.deny b 8:* w"}
	if !slices.Equal(got, want) {
		t.Errorf("to allow-all:\n got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"c 1:3", "c 1-3 rwm", "c x:3 rwm", "cc 1:3 rwm"} {
		if _, err := ParseDevicesList(bad); err == nil {
			t.Errorf("ParseDevicesList(%q) accepted", bad)
		}
	}
}

func TestCheckAvailable(t *testing.T) {
	p := plan(t, `{"memory":{"limit":-1},"pids":{"limit":5},"cpu":{"burst":0}}`, Options{Update: true})
	errs := CheckAvailable(p, func(c string) bool { return c == "pids" })
	// memsw's and the burst's writes may be skipped; memory.limit may not.
	if len(errs) != 1 || errs[0].Field != "linux.resources.memory" || !strings.Contains(errs[0].Message, "memory controller has no cgroup v1 hierarchy") {
		t.Errorf("CheckAvailable = %v", errs)
	}
	if !slices.Equal(p.Controllers(), []string{"memory", "pids"}) {
		t.Errorf("Controllers = %v", p.Controllers())
	}
	hp := plan(t, `{"hugepageLimits":[{"pageSize":"1GB","limit":0}]}`, Options{Update: true})
	if got := hp.PageSizes(); len(got) != 1 || got["1GB"] != "linux.resources.hugepageLimits[0]" {
		t.Errorf("PageSizes = %v", got)
	}
}

func TestMergeUpdate(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	f := Files{CFSQuota: "-1\n", CFSPeriod: "50000\n", MemoryLimit: "104857600\n", MemswLimit: "209715200\n"}
	r := MergeUpdate(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000)}, Memory: &specs.LinuxMemory{Limit: i64(157286400)}}, f)
	if r.CPU.Period == nil || *r.CPU.Period != 50000 {
		t.Errorf("quota alone: period %v, want the current 50000", r.CPU.Period)
	}
	// A new memory limit keeps the memory+swap total.
	if r.Memory.Swap == nil || *r.Memory.Swap != 209715200 {
		t.Errorf("limit alone: swap %v, want the current total 209715200", r.Memory.Swap)
	}
	r = MergeUpdate(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(314572800)}}, f)
	if r.Memory.Limit == nil || *r.Memory.Limit != 104857600 {
		t.Errorf("swap alone: limit %v, want the current 104857600", r.Memory.Limit)
	}
	// Unlimited swap stays so: no total to keep.
	unl := Files{MemoryLimit: "104857600\n", MemswLimit: "9223372036854771712\n"}
	r = MergeUpdate(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20)}}, unl)
	if r.Memory.Swap != nil {
		t.Errorf("unlimited swap got %d", *r.Memory.Swap)
	}
	r = MergeUpdate(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(20000)}}, f)
	if r.CPU.Quota == nil || *r.CPU.Quota != -1 {
		t.Errorf("period alone: quota %v, want the current -1", r.CPU.Quota)
	}
	if n, max, ok := ParseLimit("9223372036854771712\n"); !ok || !max || n == 0 {
		t.Errorf("ParseLimit(unlimited) = %d, %v, %v", n, max, ok)
	}
	if _, _, ok := ParseLimit(""); ok {
		t.Error("ParseLimit of nothing is ok")
	}
}

func u64(v uint64) *uint64 { return &v }
