package plan

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/cgroupv2/devfilter"
	"github.com/rung-runtime/rung/sdk"
)

// Write is one value written to one file of the container's cgroup.
type Write struct {
	// Resource is the spec object the write belongs to
	// ("linux.resources.memory"); errors about a missing controller name it.
	Resource string
	// Field is the exact spec field the value comes from.
	Field string
	// Controller must be enabled for File to exist ("" for cgroup core files).
	Controller string
	File       string
	Value      string
	// IfExists skips the write when File is missing: swap accounting off,
	// hugetlb reservations unsupported, BFQ not loaded.
	IfExists bool
	// BestEffort ignores a failed write (the first of two cpu.max.burst writes).
	BestEffort bool
	// Else is written instead when File does not exist (io.bfq.weight falls
	// back to io.weight).
	Else *Write
}

// Plan is what the stage applies to a cgroup for one LinuxResources.
type Plan struct {
	Writes []Write
	// Devices is the full device rule list for the eBPF filter, runc's
	// default allow list included; nil leaves the current filter alone.
	Devices []devfilter.Rule
	// Notes are fields accepted but without effect on cgroup v2, for the log.
	Notes []string
}

// Options change how Resources converts.
type Options struct {
	// Update is set for a live update: device rules are replaced only when
	// the update gives some (runc's update never touches devices).
	Update bool
}

// Resources converts r into a Plan with runc's cgroup v2 semantics, and
// returns every semantic problem it finds as a FieldError. A nil r gives
// just the default device filter (for a create).
func Resources(r *specs.LinuxResources, o Options) (*Plan, []sdk.FieldError) {
	c := &conv{}
	if r == nil {
		r = &specs.LinuxResources{}
	}
	c.pids(r.Pids)
	c.memory(r.Memory)
	c.blockIO(r.BlockIO)
	c.cpu(r.CPU)
	c.hugetlb(r.HugepageLimits)
	c.rdma(r.Rdma)
	c.unified(r.Unified)
	if r.Network != nil && (r.Network.ClassID != nil || len(r.Network.Priorities) > 0) {
		c.Note("linux.resources.network is ignored: cgroup v2 has no net_cls/net_prio controllers")
	}
	var devices []devfilter.Rule
	if !o.Update || len(r.Devices) > 0 {
		rules, errs := DeviceRules(r.Devices)
		c.Errs = append(c.Errs, errs...)
		devices = rules
	}
	if len(c.Errs) > 0 {
		return nil, c.Errs
	}
	return &Plan{Writes: c.Writes, Devices: devices, Notes: c.Notes}, nil
}

// Controllers lists the controllers the plan's writes need, sorted.
func (p *Plan) Controllers() []string {
	set := map[string]bool{}
	for _, w := range p.Writes {
		if w.Controller != "" {
			set[w.Controller] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckAvailable reports each spec object whose controller is not in avail
// (the controllers of the cgroup the container's cgroup will be made in).
// where names that hierarchy in the message.
func CheckAvailable(p *Plan, avail map[string]bool, where string) []sdk.FieldError {
	var errs []sdk.FieldError
	seen := map[string]bool{}
	for _, w := range p.Writes {
		if w.Controller == "" || avail[w.Controller] {
			continue
		}
		key := w.Resource + "\x00" + w.Controller
		if seen[key] {
			continue
		}
		seen[key] = true
		errs = append(errs, sdk.FieldError{Field: w.Resource, Message: fmt.Sprintf(
			"%s controller is not available in the cgroup v2 hierarchy at %s", w.Controller, where)})
	}
	return errs
}

// Conv collects what a conversion of linux.resources gives: the writes in
// order, the notes for the log, and every FieldError rather than the first,
// so that a spec gets all its problems at once. The cgroup v1 plan converts
// through it too.
type Conv struct {
	Writes []Write
	Notes  []string
	Errs   []sdk.FieldError
}

// Fail records a problem with field.
func (c *Conv) Fail(field, format string, a ...any) {
	c.Errs = append(c.Errs, sdk.FieldError{Field: field, Message: fmt.Sprintf(format, a...)})
}

// Note records a field accepted without effect, for the log.
func (c *Conv) Note(format string, a ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf(format, a...))
}

// Add appends a write.
func (c *Conv) Add(w Write) { c.Writes = append(c.Writes, w) }

// conv is this driver's conversion: Conv with the v2 methods per resource.
type conv struct{ Conv }

// numToStr is runc's: 0 is "unset" (no write), -1 is "max".
func numToStr(v int64) string {
	switch v {
	case 0:
		return ""
	case -1:
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func (c *conv) pids(p *specs.LinuxPids) {
	const res = "linux.resources.pids"
	if p == nil || p.Limit == nil {
		return
	}
	v := *p.Limit
	if v < -1 {
		c.Fail(res+".limit", "%d is not a limit: use a positive number, or 0 or -1 for no limit", v)
		return
	}
	// runc: 0 and -1 both mean "no limit" on cgroup v2.
	val := "max"
	if v > 0 {
		val = strconv.FormatInt(v, 10)
	}
	c.Add(Write{Resource: res, Field: res + ".limit", Controller: "pids", File: "pids.max", Value: val})
}

// MemorySwapToV2 is runc's ConvertMemorySwapToCgroupV2Value: the spec's swap
// is memory+swap, cgroup v2's memory.swap.max is swap alone.
func MemorySwapToV2(swap, memory int64) (int64, error) {
	// Unlimited memory with unset swap means both unlimited, as on cgroup v1.
	if memory == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if memory == 0 || memory == -1 {
		return 0, fmt.Errorf("a swap limit (%d) needs a memory limit as well", swap)
	}
	if memory < 0 {
		return 0, fmt.Errorf("invalid memory limit %d", memory)
	}
	if swap < memory {
		return 0, fmt.Errorf("swap is memory+swap and must be >= the memory limit (%d < %d)", swap, memory)
	}
	return swap - memory, nil
}

func (c *conv) memory(m *specs.LinuxMemory) {
	const res = "linux.resources.memory"
	if m == nil {
		return
	}
	limit, reservation, swap := MemoryValues(m)
	bad := false
	for _, f := range []struct {
		name string
		v    int64
	}{{"limit", limit}, {"reservation", reservation}, {"swap", swap}} {
		if f.v < -1 {
			c.Fail(res+"."+f.name, "%d is negative; use a byte count, or -1 for no limit", f.v)
			bad = true
		}
	}
	if m.Kernel != nil || m.KernelTCP != nil { //nolint:staticcheck // reported, not used
		c.Note("linux.resources.memory.kernel and kernelTCP are ignored: cgroup v2 has no separate kernel memory limits")
	}
	if m.Swappiness != nil {
		c.Note("linux.resources.memory.swappiness is ignored: cgroup v2 has no per-cgroup swappiness")
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		c.Note("linux.resources.memory.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer (as in runc)")
	}
	if m.UseHierarchy != nil {
		c.Note("linux.resources.memory.useHierarchy is ignored: cgroup v2 is always hierarchical")
	}
	if bad {
		return
	}
	sw, err := MemorySwapToV2(swap, limit)
	if err != nil {
		c.Fail(res+".swap", "%v", err)
		return
	}
	swapStr := numToStr(sw)
	if swapStr == "" && sw == 0 && swap > 0 {
		// swap == limit: the container may not swap at all.
		swapStr = "0"
	}
	if swapStr != "" {
		// runc: with swap accounting off, "max" and "0" are what the kernel
		// does anyway, so a missing file is fine for them only.
		c.Add(Write{Resource: res, Field: res + ".swap", Controller: "memory", File: "memory.swap.max",
			Value: swapStr, IfExists: swapStr == "max" || swapStr == "0"})
	}
	if v := numToStr(limit); v != "" {
		c.Add(Write{Resource: res, Field: res + ".limit", Controller: "memory", File: "memory.max", Value: v})
	}
	if v := numToStr(reservation); v != "" {
		c.Add(Write{Resource: res, Field: res + ".reservation", Controller: "memory", File: "memory.low", Value: v})
	}
}

// MemoryValues are m's limit, reservation and swap, 0 (unset, as runc
// reads it) for each that m leaves out; both drivers read them so.
func MemoryValues(m *specs.LinuxMemory) (limit, reservation, swap int64) {
	if m.Limit != nil {
		limit = *m.Limit
	}
	if m.Reservation != nil {
		reservation = *m.Reservation
	}
	if m.Swap != nil {
		swap = *m.Swap
	}
	return limit, reservation, swap
}

// CheckMemoryUsage is runc's memory.checkBeforeUpdate: a new limit at or
// below the current usage is refused instead of sending the cgroup into OOM.
func CheckMemoryUsage(m *specs.LinuxMemory, usage uint64) error {
	if m == nil || m.CheckBeforeUpdate == nil || !*m.CheckBeforeUpdate {
		return nil
	}
	if m.Swap != nil && *m.Swap > 0 && uint64(*m.Swap) <= usage {
		return sdk.FieldError{Field: "linux.resources.memory.swap", Message: fmt.Sprintf("memory+swap limit %d is not above the current usage %d", *m.Swap, usage)}
	}
	if m.Limit != nil && *m.Limit > 0 && uint64(*m.Limit) <= usage {
		return sdk.FieldError{Field: "linux.resources.memory.limit", Message: fmt.Sprintf("memory limit %d is not above the current usage %d", *m.Limit, usage)}
	}
	return nil
}

// CPUSharesToWeight is runc's conversion of cgroup v1 cpu.shares (2..262144)
// to cgroup v2 cpu.weight (1..10000); out-of-range shares are clamped the
// way the kernel clamps cpu.shares.
func CPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

func (c *conv) cpu(p *specs.LinuxCPU) {
	const res = "linux.resources.cpu"
	if p == nil {
		return
	}
	if p.RealtimeRuntime != nil && *p.RealtimeRuntime != 0 {
		c.Fail(res+".realtimeRuntime", "realtime scheduling limits are not supported on cgroup v2")
	}
	if p.RealtimePeriod != nil && *p.RealtimePeriod != 0 {
		c.Fail(res+".realtimePeriod", "realtime scheduling limits are not supported on cgroup v2")
	}
	idle := int64(0)
	if p.Idle != nil {
		idle = *p.Idle
		if idle != 0 && idle != 1 {
			c.Fail(res+".idle", "%d is not 0 or 1", idle)
		} else {
			c.Add(Write{Resource: res, Field: res + ".idle", Controller: "cpu", File: "cpu.idle", Value: strconv.FormatInt(idle, 10)})
		}
	}
	if p.Shares != nil && *p.Shares != 0 {
		if idle == 1 {
			// The kernel refuses a weight for an idle cgroup.
			c.Note("linux.resources.cpu.shares is ignored because cpu.idle is 1")
		} else {
			c.Add(Write{Resource: res, Field: res + ".shares", Controller: "cpu", File: "cpu.weight",
				Value: strconv.FormatUint(CPUSharesToWeight(*p.Shares), 10)})
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
	ok := true
	if quota < -1 {
		c.Fail(res+".quota", "%d is negative; use microseconds per period, or -1 for no limit", quota)
		ok = false
	} else if quota > 0 && quota < 1000 {
		c.Fail(res+".quota", "%d is below the kernel's minimum of 1000 microseconds", quota)
		ok = false
	}
	if period != 0 && (period < 1000 || period > 1000000) {
		c.Fail(res+".period", "%d is outside the kernel's range of 1000 to 1000000 microseconds", period)
		ok = false
	}
	if p.Burst != nil && quota > 0 && *p.Burst > uint64(quota) {
		c.Fail(res+".burst", "burst %d is larger than the quota %d", *p.Burst, quota)
		ok = false
	}
	if p.Burst != nil && *p.Burst > 0 && quota <= 0 {
		// cpu.max.burst only limits throttled cgroups; with no quota it
		// would be refused by the kernel on a later quota change.
		if p.Quota == nil {
			c.Note("linux.resources.cpu.burst without a quota only takes effect once a quota is set")
		}
	}
	if !ok {
		return
	}
	burst := func(bestEffort bool) {
		if p.Burst != nil {
			c.Add(Write{Resource: res, Field: res + ".burst", Controller: "cpu", File: "cpu.max.burst",
				Value: strconv.FormatUint(*p.Burst, 10), BestEffort: bestEffort})
		}
	}
	if quota != 0 || period != 0 {
		// The kernel keeps burst <= quota at every step, so when both change
		// the burst is tried first (it fits if it shrinks) and again after
		// cpu.max (it fits then if it grows).
		burst(true)
		v := "max"
		if quota > 0 {
			v = strconv.FormatInt(quota, 10)
		}
		if period == 0 {
			period = 100000 // the kernel's default period
		}
		c.Add(Write{Resource: res, Field: res + ".quota", Controller: "cpu", File: "cpu.max",
			Value: v + " " + strconv.FormatUint(period, 10)})
	}
	burst(false)
	if p.Cpus != "" {
		if err := checkList(p.Cpus); err != nil {
			c.Fail(res+".cpus", "%q: %v", p.Cpus, err)
		} else {
			c.Add(Write{Resource: res, Field: res + ".cpus", Controller: "cpuset", File: "cpuset.cpus", Value: p.Cpus})
		}
	}
	if p.Mems != "" {
		if err := checkList(p.Mems); err != nil {
			c.Fail(res+".mems", "%q: %v", p.Mems, err)
		} else {
			c.Add(Write{Resource: res, Field: res + ".mems", Controller: "cpuset", File: "cpuset.mems", Value: p.Mems})
		}
	}
}

// checkList checks a kernel list such as "0-3,8,10-11".
func checkList(s string) error {
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a number or range", part)
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 32)
			if err != nil || b < a {
				return fmt.Errorf("%q is not an ascending range", part)
			}
		}
	}
	return nil
}

// BlkioWeightToIOWeight is runc's ConvertBlkIOToIOWeightValue: blkio weights
// 10..1000 onto io.weight's 1..10000.
func BlkioWeightToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}

func (c *conv) blockIO(b *specs.LinuxBlockIO) {
	const res = "linux.resources.blockIO"
	if b == nil {
		return
	}
	weightOK := func(field string, w uint16) bool {
		if w != 0 && (w < 10 || w > 1000) {
			c.Fail(field, "%d is outside the blkio range of 10 to 1000", w)
			return false
		}
		return true
	}
	if b.LeafWeight != nil {
		c.Note("linux.resources.blockIO.leafWeight is ignored: cgroup v2 has no leaf weights")
	}
	if b.Weight != nil && *b.Weight != 0 && weightOK(res+".weight", *b.Weight) {
		// BFQ takes blkio's own scale; without it io.weight takes the
		// converted value ("default N" and "N" mean the same to the kernel).
		c.Add(Write{Resource: res, Field: res + ".weight", Controller: "io", File: "io.bfq.weight",
			Value: strconv.FormatUint(uint64(*b.Weight), 10),
			Else: &Write{Resource: res, Field: res + ".weight", Controller: "io", File: "io.weight",
				Value: "default " + strconv.FormatUint(BlkioWeightToIOWeight(*b.Weight), 10)}})
	}
	for i, wd := range b.WeightDevice {
		field := fmt.Sprintf("%s.weightDevice[%d]", res, i)
		if wd.Major < 0 || wd.Minor < 0 {
			c.Fail(field, "major and minor must be device numbers, not %d:%d", wd.Major, wd.Minor)
			continue
		}
		if wd.LeafWeight != nil {
			c.Note("%s.leafWeight is ignored: cgroup v2 has no leaf weights", field)
		}
		if wd.Weight == nil || *wd.Weight == 0 || !weightOK(field+".weight", *wd.Weight) {
			continue
		}
		dev := fmt.Sprintf("%d:%d ", wd.Major, wd.Minor)
		c.Add(Write{Resource: res, Field: field, Controller: "io", File: "io.bfq.weight",
			Value: dev + strconv.FormatUint(uint64(*wd.Weight), 10),
			Else: &Write{Resource: res, Field: field, Controller: "io", File: "io.weight",
				Value: dev + strconv.FormatUint(BlkioWeightToIOWeight(*wd.Weight), 10)}})
	}
	// io.max takes every limit of one device on one line; keep the order in
	// which devices first appear so the plan is deterministic.
	type dev struct{ major, minor int64 }
	var order []dev
	limits := map[dev][]string{}
	fields := map[dev]string{}
	for _, t := range []struct {
		name, key string
		list      []specs.LinuxThrottleDevice
	}{
		{"throttleReadBpsDevice", "rbps", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "wbps", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "riops", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "wiops", b.ThrottleWriteIOPSDevice},
	} {
		for i, td := range t.list {
			field := fmt.Sprintf("%s.%s[%d]", res, t.name, i)
			if td.Major < 0 || td.Minor < 0 {
				c.Fail(field, "major and minor must be device numbers, not %d:%d", td.Major, td.Minor)
				continue
			}
			d := dev{td.Major, td.Minor}
			if _, ok := limits[d]; !ok {
				order = append(order, d)
				fields[d] = field
			}
			// 0 lifts the limit, as writing 0 did on cgroup v1.
			v := "max"
			if td.Rate != 0 {
				v = strconv.FormatUint(td.Rate, 10)
			}
			limits[d] = append(limits[d], t.key+"="+v)
		}
	}
	for _, d := range order {
		c.Add(Write{Resource: res, Field: fields[d], Controller: "io", File: "io.max",
			Value: fmt.Sprintf("%d:%d %s", d.major, d.minor, strings.Join(limits[d], " "))})
	}
}

var pageSizeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[1-9][0-9]*(KB|MB|GB|TB|PB)$`) })

func (c *conv) hugetlb(l []specs.LinuxHugepageLimit) {
	const res = "linux.resources.hugepageLimits"
	for i, h := range l {
		field := fmt.Sprintf("%s[%d]", res, i)
		if !pageSizeRE().MatchString(h.Pagesize) {
			c.Fail(field+".pageSize", "%q is not a huge page size such as \"2MB\" or \"1GB\"", h.Pagesize)
			continue
		}
		v := strconv.FormatUint(h.Limit, 10)
		if h.Limit == math.MaxUint64 {
			v = "max"
		}
		c.Add(Write{Resource: res, Field: field, Controller: "hugetlb", File: "hugetlb." + h.Pagesize + ".max", Value: v})
		// The spec says limits cover reservations too where the kernel
		// has them (5.7+).
		c.Add(Write{Resource: res, Field: field, Controller: "hugetlb", File: "hugetlb." + h.Pagesize + ".rsvd.max", Value: v, IfExists: true})
	}
}

// PageSizes returns the hugepageLimits page sizes the plan writes.
func (p *Plan) PageSizes() map[string]string {
	out := map[string]string{}
	for _, w := range p.Writes {
		if w.Controller == "hugetlb" && strings.HasSuffix(w.File, ".max") && !strings.HasSuffix(w.File, ".rsvd.max") {
			out[strings.TrimSuffix(strings.TrimPrefix(w.File, "hugetlb."), ".max")] = w.Field
		}
	}
	return out
}

func (c *conv) rdma(m map[string]specs.LinuxRdma) {
	const res = "linux.resources.rdma"
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		r := m[name]
		field := fmt.Sprintf("%s[%q]", res, name)
		if name == "" || strings.ContainsAny(name, " \t\n=\x00") {
			c.Fail(field, "%q is not an RDMA device name", name)
			continue
		}
		var parts []string
		if r.HcaHandles != nil {
			parts = append(parts, "hca_handle="+strconv.FormatUint(uint64(*r.HcaHandles), 10))
		}
		if r.HcaObjects != nil {
			parts = append(parts, "hca_object="+strconv.FormatUint(uint64(*r.HcaObjects), 10))
		}
		if len(parts) == 0 {
			continue
		}
		c.Add(Write{Resource: res, Field: field, Controller: "rdma", File: "rdma.max", Value: name + " " + strings.Join(parts, " ")})
	}
}

// unifiedCoreFiles are the cgroup.* files a spec may set through unified.
// The others manage membership, the tree or the freezer, which belong to
// the runtime (cgroup.procs, cgroup.subtree_control, cgroup.freeze, ...).
var unifiedCoreFiles = map[string]bool{
	"cgroup.max.depth":       true,
	"cgroup.max.descendants": true,
	"cgroup.pressure":        true,
}

var unifiedKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z0-9_.]+$`) })

func (c *conv) unified(u map[string]string) {
	const res = "linux.resources.unified"
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := fmt.Sprintf("%s[%q]", res, k)
		v := u[k]
		switch {
		case strings.Contains(k, "/"):
			c.Fail(field, "must be a file name, without \"/\"")
			continue
		case strings.Contains(k, ".."):
			c.Fail(field, "must be a file name, without \"..\"")
			continue
		case !unifiedKeyRE().MatchString(k):
			c.Fail(field, "must be a cgroup v2 interface file name of the form CONTROLLER.PARAMETER")
			continue
		case strings.IndexByte(v, 0) >= 0:
			c.Fail(field, "value contains a NUL byte")
			continue
		}
		ctrl, _, _ := strings.Cut(k, ".")
		if ctrl == "cgroup" {
			if !unifiedCoreFiles[k] {
				c.Fail(field, "%s is managed by the runtime and cannot be set through unified", k)
				continue
			}
			ctrl = ""
		}
		// runc writes a multi-line value one line at a time, as the kernel
		// parses one record per write.
		for _, line := range strings.Split(v, "\n") {
			if strings.TrimSpace(line) == "" && v != "" {
				continue
			}
			c.Add(Write{Resource: field, Field: field, Controller: ctrl, File: k, Value: line})
		}
	}
}
