package plan

import (
	"fmt"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func p64(v int64) *int64    { return &v }
func pu64(v uint64) *uint64 { return &v }

// mergedWrites is the plan's writes as "file=value", for comparing.
func mergedWrites(t *testing.T, r *specs.LinuxResources) map[string]string {
	t.Helper()
	p, errs := Resources(r, Options{Update: true})
	if len(errs) > 0 {
		t.Fatalf("Resources: %v", errs)
	}
	out := map[string]string{}
	for _, w := range p.Writes {
		out[w.File] = w.Value
	}
	return out
}

func TestMergeUpdateCPU(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cpu    specs.LinuxCPU
		cur    string
		cpuMax string
	}{
		// runc keeps the stored quota: a period alone must not lift it.
		{"period keeps quota", specs.LinuxCPU{Period: pu64(50000)}, "25000 100000", "25000 50000"},
		{"period keeps no quota", specs.LinuxCPU{Period: pu64(50000)}, "max 100000", "max 50000"},
		// runc keeps the stored period: a quota alone must not reset it.
		{"quota keeps period", specs.LinuxCPU{Quota: p64(30000)}, "20000 200000", "30000 200000"},
		{"quota -1 keeps period", specs.LinuxCPU{Quota: p64(-1)}, "20000 200000", "max 200000"},
		{"both given", specs.LinuxCPU{Quota: p64(30000), Period: pu64(60000)}, "20000 200000", "30000 60000"},
		// Unknown current value: the kernel's default period, as before.
		{"quota, cpu.max unreadable", specs.LinuxCPU{Quota: p64(30000)}, "", "30000 100000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &specs.LinuxResources{CPU: &tc.cpu}
			before := fmt.Sprint(*in.CPU)
			got := mergedWrites(t, MergeUpdate(in, Current{CPUMax: tc.cur}))["cpu.max"]
			if got != tc.cpuMax {
				t.Errorf("cpu.max = %q, want %q", got, tc.cpuMax)
			}
			if fmt.Sprint(*in.CPU) != before {
				t.Errorf("MergeUpdate changed its argument: %v, was %v", *in.CPU, before)
			}
		})
	}
}

func TestMergeUpdateMemory(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name         string
		mem          specs.LinuxMemory
		curMem, swap string
		want         map[string]string // "" value: no write
		wantErr      bool
	}{
		// memory+swap 128M stays the total: 128M - 80M of swap.
		{"limit keeps total", specs.LinuxMemory{Limit: p64(80 * mib)}, "100663296", "33554432",
			map[string]string{"memory.max": "83886080", "memory.swap.max": "50331648"}, false},
		// No swap (memory+swap == memory) stays a total of the old limit.
		{"limit with no swap", specs.LinuxMemory{Limit: p64(32 * mib)}, "67108864", "0",
			map[string]string{"memory.max": "33554432", "memory.swap.max": "33554432"}, false},
		// Raising the limit past the total is runc's error.
		{"limit past total", specs.LinuxMemory{Limit: p64(256 * mib)}, "67108864", "0", nil, true},
		{"limit, swap unlimited", specs.LinuxMemory{Limit: p64(32 * mib)}, "67108864", "max",
			map[string]string{"memory.max": "33554432", "memory.swap.max": ""}, false},
		{"unlimited limit lifts swap", specs.LinuxMemory{Limit: p64(-1)}, "67108864", "0",
			map[string]string{"memory.max": "max", "memory.swap.max": "max"}, false},
		{"swap against current limit", specs.LinuxMemory{Swap: p64(96 * mib)}, "67108864", "0",
			map[string]string{"memory.swap.max": "33554432"}, false},
		{"no swap accounting", specs.LinuxMemory{Limit: p64(32 * mib)}, "67108864", "",
			map[string]string{"memory.max": "33554432", "memory.swap.max": ""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := MergeUpdate(&specs.LinuxResources{Memory: &tc.mem}, Current{MemoryMax: tc.curMem, SwapMax: tc.swap})
			p, errs := Resources(r, Options{Update: true})
			if tc.wantErr {
				if len(errs) == 0 {
					t.Fatalf("want an error, got writes %v", p.Writes)
				}
				if errs[0].Field != "linux.resources.memory.swap" {
					t.Errorf("error field %q, want linux.resources.memory.swap", errs[0].Field)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("Resources: %v", errs)
			}
			got := map[string]string{}
			for _, w := range p.Writes {
				got[w.File] = w.Value
			}
			for f, v := range tc.want {
				if got[f] != v {
					t.Errorf("%s = %q, want %q (all: %v)", f, got[f], v, got)
				}
			}
		})
	}
}

func TestMergeUpdateLeavesOthers(t *testing.T) {
	if MergeUpdate(nil, Current{}) != nil {
		t.Error("MergeUpdate(nil) is not nil")
	}
	pids := &specs.LinuxPids{Limit: p64(5)}
	r := MergeUpdate(&specs.LinuxResources{Pids: pids}, Current{CPUMax: "1000 100000", MemoryMax: "1", SwapMax: "1"})
	if r.Pids != pids || r.CPU != nil || r.Memory != nil {
		t.Errorf("an update without cpu or memory gained some: %+v", r)
	}
}
