package plan

import (
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	v2plan "github.com/rung-runtime/rung/plugins/cgroupv2/plan"
)

// Files holds the v1 files a partial update is completed from, as read
// from the cgroup ("" when missing).
type Files struct {
	CFSQuota, CFSPeriod     string // cpu.cfs_quota_us, cpu.cfs_period_us
	MemoryLimit, MemswLimit string // memory.limit_in_bytes, memory.memsw.limit_in_bytes
}

// unlimited is where a v1 byte limit means "none": the kernel shows its
// PAGE_COUNTER_MAX in pages as bytes (9223372036854771712 with 4 KiB pages).
const unlimited = 1 << 62

// ParseLimit reads a v1 byte limit: ok false when unreadable, max true
// when it is the kernel's "no limit".
func ParseLimit(s string) (n uint64, max bool, ok bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, n >= unlimited, true
}

// MergeUpdate completes a partial update exactly as rung-cgroupv2 does
// (v2plan.MergeUpdate: runc's merge with its stored config), from the v1
// files: the v1 values are put in the v2 form that merge reads, where swap
// is what memory+swap allows beyond memory.
func MergeUpdate(r *specs.LinuxResources, f Files) *specs.LinuxResources {
	var cur v2plan.Current
	if q, p := strings.TrimSpace(f.CFSQuota), strings.TrimSpace(f.CFSPeriod); q != "" && p != "" {
		if q == "-1" {
			q = "max"
		}
		cur.CPUMax = q + " " + p
	}
	mem, memMax, memOK := ParseLimit(f.MemoryLimit)
	sw, swMax, swOK := ParseLimit(f.MemswLimit)
	switch {
	case !memOK:
	case memMax:
		cur.MemoryMax = "max"
	default:
		cur.MemoryMax = strconv.FormatUint(mem, 10)
	}
	switch {
	case !memOK || !swOK:
	case swMax:
		cur.SwapMax = "max"
	case !memMax && sw >= mem:
		cur.SwapMax = strconv.FormatUint(sw-mem, 10)
	}
	return v2plan.MergeUpdate(r, cur)
}
