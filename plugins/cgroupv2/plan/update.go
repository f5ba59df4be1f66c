package plan

import (
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Current holds what a live update's inter-dependent fields are completed
// from: the cgroup's own files as the last create or update left them.
// runc merges an update into its stored state.json for the same reason; the
// kernel's files hold the same values and need no state of the plugin's.
type Current struct {
	// CPUMax is cpu.max, "quota period" or "max period"; "" when unknown.
	CPUMax string
	// MemoryMax and SwapMax are memory.max and memory.swap.max; "" when
	// unknown (no memory controller, no swap accounting).
	MemoryMax, SwapMax string
}

// MergeUpdate completes a partial update the way runc's `update` completes
// it from its stored config, so that writing one of two values that share a
// file, or are converted together, does not silently change the other:
//   - a quota without a period keeps the current period, and a period
//     without a quota keeps the current quota (cpu.max takes both at once;
//     alone, a period would lift the quota and a quota reset the period);
//   - a memory limit without swap keeps the current memory+swap total
//     (memory.swap.max is swap alone, so it is recomputed), and an unlimited
//     memory limit without swap lifts swap too (runc's v1 compatibility);
//   - swap without a memory limit is taken against the current limit.
//
// r itself is not modified; the result shares everything but CPU and Memory.
func MergeUpdate(r *specs.LinuxResources, cur Current) *specs.LinuxResources {
	if r == nil {
		return nil
	}
	out := *r
	if r.CPU != nil && (r.CPU.Quota == nil) != (r.CPU.Period == nil) {
		if quota, period, ok := parseCPUMax(cur.CPUMax); ok {
			cpu := *r.CPU
			if cpu.Quota == nil {
				cpu.Quota = &quota
			} else {
				cpu.Period = &period
			}
			out.CPU = &cpu
		}
	}
	if m := r.Memory; m != nil && (m.Limit == nil) != (m.Swap == nil) {
		mem := *m
		curMem, memOK := parseMax(cur.MemoryMax)
		curSwap, swapOK := parseMax(cur.SwapMax)
		switch {
		case m.Limit != nil && *m.Limit == -1:
			unlimited := int64(-1)
			mem.Swap = &unlimited
		case m.Limit != nil && memOK && swapOK && curMem > 0 && curSwap >= 0:
			// Swap was limited: keep the total. (Unlimited swap stays so
			// without a write.)
			total := curMem + curSwap
			mem.Swap = &total
		case m.Swap != nil && memOK && curMem > 0:
			mem.Limit = &curMem
		}
		out.Memory = &mem
	}
	return &out
}

// parseCPUMax reads cpu.max: quota -1 for "max".
func parseCPUMax(s string) (quota int64, period uint64, ok bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, false
	}
	p, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	q, ok := parseMax(f[0])
	return q, p, ok
}

// parseMax reads a "max"-or-number cgroup value: -1 for "max".
func parseMax(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return -1, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
