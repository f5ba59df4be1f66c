// Package plan turns the cgroup parts of an OCI spec into what the cgroup v1
// stage writes: one list of file writes, each tagged with the v1 hierarchy
// (controller) whose directory it goes to, and the device state to reach.
// It touches no files, so all of it is tested without root; package
// cgroupfs carries the result out.
//
// Where cgroup v1 and v2 agree (the cgroup's path, the device rules, the
// checks on values, the files pids.max, rdma.max and cpuset.*, the way a
// partial update is completed), this package uses rung-cgroupv2's plan
// rather than a second copy, so the two drivers cannot drift apart.
package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
	v2plan "github.com/rung-runtime/rung/plugins/cgroupv2/plan"
	"github.com/rung-runtime/rung/sdk"
)

// Write is one value written to one file; Controller names the v1
// hierarchy whose directory holds File.
type Write = v2plan.Write

// Plan is what the stage applies to the container's cgroups for one
// LinuxResources.
type Plan struct {
	// Writes are applied in order.
	Writes []Write
	// Devices is the state the devices cgroup must reach, runc's default
	// allow list included; nil leaves it alone.
	Devices *devfilter.Filter
	// Notes are fields accepted without effect, for the log.
	Notes []string
}

// Options change how Resources converts.
type Options struct {
	// Update is set for a live update: devices are replaced only when the
	// update gives some (runc's update never touches them).
	Update bool
	// MemoryLimit is the cgroup's memory.limit_in_bytes before the writes
	// (math.MaxUint64 for a cgroup that has none): the order of the memory
	// and memory+swap writes depends on it.
	MemoryLimit uint64
}

// The kernel's bounds on cpu.shares (MIN_SHARES, MAX_SHARES); outside them
// it clamps silently, which runc reports as an error after reading back.
const (
	minShares = 2
	maxShares = 1 << 18
)

// Resources converts r into a Plan with runc's cgroup v1 semantics
// (libcontainer/cgroups/fs) and returns every problem it finds as a
// FieldError. A nil r gives just the default device rules (for a create).
func Resources(r *specs.LinuxResources, o Options) (*Plan, []sdk.FieldError) {
	if r == nil {
		r = &specs.LinuxResources{}
	}
	c := &conv{}
	// cgroupv2's plan checks every value v1 shares with it, and its writes
	// of pids.max, rdma.max and cpuset.{cpus,mems} are the v1 files too
	// (same names, same formats).
	shared, errs := v2plan.Resources(sharedPart(r), v2plan.Options{Update: true})
	c.Errs = append(c.Errs, errs...)
	if shared != nil {
		for _, w := range shared.Writes {
			switch w.File {
			case "pids.max", "rdma.max", "cpuset.cpus", "cpuset.mems":
				c.Add(w)
			}
		}
	}
	c.cpu(r.CPU)
	c.memory(r.Memory, o.MemoryLimit)
	c.blockIO(r.BlockIO)
	c.hugetlb(r.HugepageLimits)
	c.network(r.Network)
	if len(r.Unified) > 0 {
		c.Fail("linux.resources.unified", "cgroup v2 files cannot be set on cgroup v1 hierarchies (runc refuses it too); remove it, or run the container on a cgroup v2 host with rung-cgroupv2")
	}
	var devices *devfilter.Filter
	if !o.Update || len(r.Devices) > 0 {
		rules, errs := v2plan.DeviceRules(r.Devices)
		c.Errs = append(c.Errs, errs...)
		if len(errs) == 0 {
			f, err := devfilter.Emulate(rules)
			if err != nil {
				c.Fail("linux.resources.devices", "%v", err)
			}
			devices = &f
		}
	}
	if len(c.Errs) > 0 {
		return nil, c.Errs
	}
	return &Plan{Writes: c.Writes, Devices: devices, Notes: c.Notes}, nil
}

// sharedPart is the part of r whose checks cgroupv2's plan makes the way
// cgroup v1 needs them. What v2 refuses or ignores for its own reasons
// (realtime, leaf weights, network, kernel memory, unified) is left out and
// handled here.
func sharedPart(r *specs.LinuxResources) *specs.LinuxResources {
	out := &specs.LinuxResources{Pids: r.Pids, Rdma: r.Rdma, HugepageLimits: r.HugepageLimits}
	if p := r.CPU; p != nil {
		out.CPU = &specs.LinuxCPU{Shares: p.Shares, Quota: p.Quota, Burst: p.Burst, Period: p.Period,
			Cpus: p.Cpus, Mems: p.Mems, Idle: p.Idle}
	}
	if m := r.Memory; m != nil {
		out.Memory = &specs.LinuxMemory{Limit: m.Limit, Reservation: m.Reservation, Swap: m.Swap}
	}
	if b := r.BlockIO; b != nil {
		bio := *b
		bio.LeafWeight = nil
		bio.WeightDevice = make([]specs.LinuxWeightDevice, len(b.WeightDevice))
		for i, wd := range b.WeightDevice {
			wd.LeafWeight = nil
			bio.WeightDevice[i] = wd
		}
		out.BlockIO = &bio
	}
	return out
}

// Controllers lists the hierarchies the plan's writes need, sorted; writes
// that may be skipped do not count.
func (p *Plan) Controllers() []string {
	set := map[string]bool{}
	for _, w := range p.Writes {
		if !w.IfExists && !w.BestEffort {
			set[w.Controller] = true
		}
	}
	if p.Devices != nil {
		set["devices"] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckAvailable reports each spec object whose writes need a hierarchy
// that mounted says is not there.
func CheckAvailable(p *Plan, mounted func(controller string) bool) []sdk.FieldError {
	var errs []sdk.FieldError
	seen := map[string]bool{}
	for _, w := range p.Writes {
		if w.IfExists || w.BestEffort || mounted(w.Controller) {
			continue
		}
		key := w.Resource + "\x00" + w.Controller
		if seen[key] {
			continue
		}
		seen[key] = true
		errs = append(errs, sdk.FieldError{Field: w.Resource, Message: fmt.Sprintf(
			"the %s controller has no cgroup v1 hierarchy mounted here (see /proc/self/mountinfo)", w.Controller)})
	}
	return errs
}

// PageSizes returns the hugepageLimits page sizes the plan writes, each
// with the field it comes from.
func (p *Plan) PageSizes() map[string]string {
	out := map[string]string{}
	for _, w := range p.Writes {
		if size, ok := hugetlbLimitSize(w.File); ok && w.Controller == "hugetlb" {
			out[size] = w.Field
		}
	}
	return out
}

func hugetlbLimitSize(file string) (string, bool) {
	s, ok := strings.CutPrefix(file, "hugetlb.")
	if !ok {
		return "", false
	}
	s, ok = strings.CutSuffix(s, ".limit_in_bytes")
	return s, ok && !strings.Contains(s, ".")
}

// conv is this driver's conversion: cgroupv2's collector of writes, notes
// and errors, with the v1 methods per resource.
type conv struct{ v2plan.Conv }

func (c *conv) cpu(p *specs.LinuxCPU) {
	const res = "linux.resources.cpu"
	if p == nil {
		return
	}
	w := func(field, file, value string) Write {
		return Write{Resource: res, Field: res + "." + field, Controller: "cpu", File: file, Value: value}
	}
	idle := int64(0)
	if p.Idle != nil {
		idle = *p.Idle
		// Idle 0 on a kernel without cpu.idle is what it does anyway.
		iw := w("idle", "cpu.idle", strconv.FormatInt(idle, 10))
		iw.IfExists = idle == 0
		c.Add(iw)
	}
	if p.Shares != nil && *p.Shares != 0 {
		switch {
		case *p.Shares < minShares || *p.Shares > maxShares:
			c.Fail(res+".shares", "%d is outside the kernel's cpu.shares range of %d to %d", *p.Shares, minShares, maxShares)
		case idle == 1:
			// The kernel refuses shares for an idle group.
			c.Note("linux.resources.cpu.shares is ignored because cpu.idle is 1")
		default:
			c.Add(w("shares", "cpu.shares", strconv.FormatUint(*p.Shares, 10)))
		}
	}
	var quota int64
	var period uint64
	if p.Quota != nil {
		quota = *p.Quota
	}
	if p.Period != nil {
		period = *p.Period
	}
	// runc's order: a period (or burst) the kernel refuses against the old
	// quota (EINVAL: it would exceed the parent's bandwidth) is tried again
	// once the new quota is in.
	retry := quota != 0
	if period != 0 {
		pw := w("period", "cpu.cfs_period_us", strconv.FormatUint(period, 10))
		pw.BestEffort = retry
		c.Add(pw)
	}
	burst := func(bestEffort bool) {
		if p.Burst != nil {
			// runc skips the burst on kernels without cpu.cfs_burst_us.
			bw := w("burst", "cpu.cfs_burst_us", strconv.FormatUint(*p.Burst, 10))
			bw.IfExists, bw.BestEffort = true, bestEffort
			c.Add(bw)
		}
	}
	burst(retry)
	if quota != 0 {
		c.Add(w("quota", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)))
		if period != 0 {
			c.Add(w("period", "cpu.cfs_period_us", strconv.FormatUint(period, 10)))
		}
		burst(false)
	}
	if p.RealtimePeriod != nil && *p.RealtimePeriod != 0 {
		c.Add(w("realtimePeriod", "cpu.rt_period_us", strconv.FormatUint(*p.RealtimePeriod, 10)))
	}
	if p.RealtimeRuntime != nil && *p.RealtimeRuntime != 0 {
		if *p.RealtimeRuntime < -1 {
			c.Fail(res+".realtimeRuntime", "%d is negative; use microseconds per period, or -1 for no limit", *p.RealtimeRuntime)
		} else {
			c.Add(w("realtimeRuntime", "cpu.rt_runtime_us", strconv.FormatInt(*p.RealtimeRuntime, 10)))
		}
	}
}

func (c *conv) memory(m *specs.LinuxMemory, curLimit uint64) {
	const res = "linux.resources.memory"
	if m == nil {
		return
	}
	w := func(field, file, value string) Write {
		return Write{Resource: res, Field: res + "." + field, Controller: "memory", File: file, Value: value}
	}
	limit, reservation, swap := v2plan.MemoryValues(m)
	swapOnlyIfAccounted := false
	if limit == -1 && swap == 0 {
		// runc: unlimited memory with unset swap lifts swap too, where
		// the kernel accounts swap at all.
		swap, swapOnlyIfAccounted = -1, true
	}
	memW := w("limit", "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	swapW := w("swap", "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	swapW.IfExists = swapOnlyIfAccounted
	// The kernel keeps memory <= memory+swap at every step: when both
	// change, runc writes memory+swap first if it grows past the current
	// memory limit (or is lifted), and memory first otherwise.
	switch {
	case limit != 0 && swap != 0 && (swap == -1 || curLimit < uint64(swap)):
		c.Add(swapW)
		c.Add(memW)
	default:
		if limit != 0 {
			c.Add(memW)
		}
		if swap != 0 {
			c.Add(swapW)
		}
	}
	if reservation != 0 {
		c.Add(w("reservation", "memory.soft_limit_in_bytes", strconv.FormatInt(reservation, 10)))
	}
	//nolint:staticcheck // Kernel is deprecated in the spec, but v1 kernels may still take it.
	if m.Kernel != nil && *m.Kernel != 0 {
		// runc 1.1 ignores kernel memory; where the kernel still has the
		// file it is honoured, and a kernel that refuses it (5.16+,
		// EOPNOTSUPP) costs only the limit, as with runc.
		kw := w("kernel", "memory.kmem.limit_in_bytes", strconv.FormatInt(*m.Kernel, 10)) //nolint:staticcheck
		kw.IfExists, kw.BestEffort = true, true
		c.Add(kw)
		c.Note("linux.resources.memory.kernel is deprecated; it is applied only where the kernel still has memory.kmem.limit_in_bytes")
	}
	if m.KernelTCP != nil && *m.KernelTCP != 0 {
		kw := w("kernelTCP", "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(*m.KernelTCP, 10))
		kw.IfExists = true
		c.Add(kw)
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		c.Add(w("disableOOMKiller", "memory.oom_control", "1"))
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			c.Fail(res+".swappiness", "%d is outside the range of 0 to 100", *m.Swappiness)
		} else {
			c.Add(w("swappiness", "memory.swappiness", strconv.FormatUint(*m.Swappiness, 10)))
		}
	}
	if m.UseHierarchy != nil {
		c.Note("linux.resources.memory.useHierarchy is ignored (as in runc): the kernel decides memory.use_hierarchy")
	}
}

func (c *conv) blockIO(b *specs.LinuxBlockIO) {
	const res = "linux.resources.blockIO"
	if b == nil {
		return
	}
	w := func(field, file, value string) Write {
		return Write{Resource: res, Field: field, Controller: "blkio", File: file, Value: value}
	}
	// runc uses CFQ's files where they exist and BFQ's otherwise.
	weight := func(field, cfq, bfq, value string) Write {
		bw := w(field, bfq, value)
		cw := w(field, cfq, value)
		cw.Else = &bw
		return cw
	}
	leafOK := func(field string, v uint16) bool {
		if v < 10 || v > 1000 {
			c.Fail(field, "%d is outside the blkio range of 10 to 1000", v)
			return false
		}
		return true
	}
	if b.Weight != nil && *b.Weight != 0 {
		c.Add(weight(res+".weight", "blkio.weight", "blkio.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10)))
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 && leafOK(res+".leafWeight", *b.LeafWeight) {
		c.Add(w(res+".leafWeight", "blkio.leaf_weight", strconv.FormatUint(uint64(*b.LeafWeight), 10)))
	}
	for i, wd := range b.WeightDevice {
		field := fmt.Sprintf("%s.weightDevice[%d]", res, i)
		dev := fmt.Sprintf("%d:%d ", wd.Major, wd.Minor)
		if wd.Weight != nil && *wd.Weight != 0 {
			c.Add(weight(field+".weight", "blkio.weight_device", "blkio.bfq.weight_device", dev+strconv.FormatUint(uint64(*wd.Weight), 10)))
		}
		if wd.LeafWeight != nil && *wd.LeafWeight != 0 && leafOK(field+".leafWeight", *wd.LeafWeight) {
			c.Add(w(field+".leafWeight", "blkio.leaf_weight_device", dev+strconv.FormatUint(uint64(*wd.LeafWeight), 10)))
		}
	}
	for _, t := range []struct {
		name, file string
		list       []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for i, td := range t.list {
			// A rate of 0 lifts the device's limit.
			c.Add(w(fmt.Sprintf("%s.%s[%d]", res, t.name, i), t.file, fmt.Sprintf("%d:%d %d", td.Major, td.Minor, td.Rate)))
		}
	}
}

func (c *conv) hugetlb(l []specs.LinuxHugepageLimit) {
	const res = "linux.resources.hugepageLimits"
	for i, h := range l {
		field := fmt.Sprintf("%s[%d]", res, i)
		v := strconv.FormatUint(h.Limit, 10)
		c.Add(Write{Resource: res, Field: field, Controller: "hugetlb", File: "hugetlb." + h.Pagesize + ".limit_in_bytes", Value: v})
		// The spec says limits cover reservations too where the kernel
		// has them (5.7+), as runc 1.2 does.
		c.Add(Write{Resource: res, Field: field, Controller: "hugetlb", File: "hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes", Value: v, IfExists: true})
	}
}

func (c *conv) network(n *specs.LinuxNetwork) {
	const res = "linux.resources.network"
	if n == nil {
		return
	}
	if n.ClassID != nil {
		c.Add(Write{Resource: res, Field: res + ".classID", Controller: "net_cls", File: "net_cls.classid", Value: strconv.FormatUint(uint64(*n.ClassID), 10)})
	}
	for i, p := range n.Priorities {
		field := fmt.Sprintf("%s.priorities[%d]", res, i)
		if p.Name == "" || strings.ContainsAny(p.Name, " \t\n/\x00") {
			c.Fail(field+".name", "%q is not a network interface name", p.Name)
			continue
		}
		// One interface per write: the kernel parses one "name prio" each.
		c.Add(Write{Resource: res, Field: field, Controller: "net_prio", File: "net_prio.ifpriomap", Value: fmt.Sprintf("%s %d", p.Name, p.Priority)})
	}
}
