package cgroupfs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	v2fs "github.com/rung-runtime/rung/plugins/cgroupv2/cgroupfs"
)

// Stats is runc's `events --stats` data object; it is the type rung-cgroupv2
// returns, filled from the v1 files as runc's fs driver fills it.
type Stats = v2fs.Stats

// clockTicks is USER_HZ, which cpuacct.stat counts in; it is 100 on every
// Linux architecture (runc hard-codes it too).
const clockTicks = 100

// ReadStats reads what the container's hierarchies have. Files missing
// from a kernel are skipped; an unreadable or malformed one is reported
// with the stats that could be read.
func ReadStats(c Cgroup) (*Stats, error) {
	dir := c.ProcsDir()
	if dir == "" || !exists(filepath.Join(dir, "cgroup.procs")) {
		return nil, fmt.Errorf("cgroup %s does not exist", dir)
	}
	s := &Stats{Hugetlb: map[string]v2fs.Hugetlb{}}
	var errs []error
	keep := func(err error) {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, f := range []struct {
		subsystem string
		read      func(string, *Stats) error
	}{
		{"cpu", statCPU}, {"cpuacct", statCPUAcct}, {"cpuset", statCPUSet}, {"memory", statMemory},
		{"pids", statPids}, {"blkio", statBlkio}, {"hugetlb", statHugetlb},
	} {
		if d := c[f.subsystem]; d != "" {
			keep(f.read(d, s))
		}
	}
	if c["pids"] == "" {
		// Without the pids controller, count what cgroup.procs lists (runc does too).
		pids, err := AllPids(c)
		s.Pids.Current = uint64(len(pids))
		keep(err)
	}
	return s, errors.Join(errs...)
}

func readUint(dir, name string) (uint64, error) {
	data, err := v2fs.ReadFile(dir, name)
	if err != nil {
		return 0, err
	}
	v := strings.TrimSpace(data)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		// Negative values (a -1 written by someone) read as 0, as runc's
		// GetCgroupParamUint does.
		if i, ierr := strconv.ParseInt(v, 10, 64); ierr == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return n, nil
}

func statCPU(dir string, s *Stats) error {
	kv, err := v2fs.KeyValues(dir, "cpu.stat")
	if err != nil {
		return err
	}
	s.CPU.Throttling.Periods = kv["nr_periods"]
	s.CPU.Throttling.ThrottledPeriods = kv["nr_throttled"]
	s.CPU.Throttling.ThrottledTime = kv["throttled_time"] // already nanoseconds on v1
	return nil
}

func uintList(dir, name string) ([]uint64, error) {
	data, err := v2fs.ReadFile(dir, name)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, f := range strings.Fields(data) {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
		out = append(out, n)
	}
	return out, nil
}

func statCPUAcct(dir string, s *Stats) error {
	u := &s.CPU.Usage
	var err error
	if u.Total, err = readUint(dir, "cpuacct.usage"); err != nil {
		return err
	}
	if u.Percpu, err = uintList(dir, "cpuacct.usage_percpu"); err != nil {
		return err
	}
	kv, err := v2fs.KeyValues(dir, "cpuacct.stat")
	if err != nil {
		return err
	}
	u.User = kv["user"] * 1e9 / clockTicks
	u.Kernel = kv["system"] * 1e9 / clockTicks
	// cpuacct.usage_all: "cpu user system" lines after a header (4.7+).
	err = scanLines(filepath.Join(dir, "cpuacct.usage_all"), func(i int, line string) error {
		f := strings.Fields(line)
		if i == 0 || len(f) != 3 {
			return nil
		}
		user, err1 := strconv.ParseUint(f[1], 10, 64)
		sys, err2 := strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("cpuacct.usage_all line %q: %w", line, err)
		}
		u.PercpuUser = append(u.PercpuUser, user)
		u.PercpuKernel = append(u.PercpuKernel, sys)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// cpuList expands a kernel list such as "0-3,8".
func cpuList(dir, name string) ([]uint16, error) {
	data, err := v2fs.ReadFile(dir, name)
	if err != nil {
		return nil, err
	}
	var out []uint16
	for _, part := range strings.Split(strings.TrimSpace(data), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", filepath.Join(dir, name), part, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("%s: %q is not an ascending range", filepath.Join(dir, name), part)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, uint16(i))
		}
	}
	return out, nil
}

func statCPUSet(dir string, s *Stats) error {
	cs := &s.CPUSet
	var errs []error
	var err error
	keep := func(e error) {
		if e != nil && !errors.Is(e, fs.ErrNotExist) {
			errs = append(errs, e)
		}
	}
	cs.CPUs, err = cpuList(dir, "cpuset.cpus")
	keep(err)
	cs.Mems, err = cpuList(dir, "cpuset.mems")
	keep(err)
	for _, f := range []struct {
		name string
		v    *uint64
	}{
		{"cpuset.cpu_exclusive", &cs.CPUExclusive}, {"cpuset.mem_hardwall", &cs.MemHardwall},
		{"cpuset.mem_exclusive", &cs.MemExclusive}, {"cpuset.memory_migrate", &cs.MemoryMigrate},
		{"cpuset.memory_spread_page", &cs.MemorySpreadPage}, {"cpuset.memory_spread_slab", &cs.MemorySpreadSlab},
		{"cpuset.memory_pressure", &cs.MemoryPressure}, {"cpuset.sched_load_balance", &cs.SchedLoadBalance},
	} {
		*f.v, err = readUint(dir, f.name)
		keep(err)
	}
	if v, err := v2fs.ReadFile(dir, "cpuset.sched_relax_domain_level"); err == nil {
		cs.SchedRelaxDomainLevel, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		keep(err)
	} else {
		keep(err)
	}
	return errors.Join(errs...)
}

// memoryEntry reads one of runc's MemoryData: prefix "memory",
// "memory.memsw", "memory.kmem" or "memory.kmem.tcp". The optional ones
// (swap accounting, kmem) are zero where the kernel lacks them.
func memoryEntry(dir, prefix string) (v2fs.MemoryEntry, error) {
	var e v2fs.MemoryEntry
	var err error
	if e.Usage, err = readUint(dir, prefix+".usage_in_bytes"); err != nil {
		if prefix != "memory" && errors.Is(err, fs.ErrNotExist) {
			return v2fs.MemoryEntry{}, nil
		}
		return e, err
	}
	if e.Max, err = readUint(dir, prefix+".max_usage_in_bytes"); err != nil {
		return e, err
	}
	if e.Failcnt, err = readUint(dir, prefix+".failcnt"); err != nil {
		return e, err
	}
	e.Limit, err = readUint(dir, prefix+".limit_in_bytes")
	return e, err
}

func statMemory(dir string, s *Stats) error {
	raw, err := v2fs.KeyValues(dir, "memory.stat")
	if err != nil {
		return err
	}
	m := &s.Memory
	m.Raw = raw
	m.Cache = raw["cache"]
	var errs []error
	for _, e := range []struct {
		prefix string
		into   *v2fs.MemoryEntry
	}{{"memory", &m.Usage}, {"memory.memsw", &m.Swap}, {"memory.kmem", &m.Kernel}, {"memory.kmem.tcp", &m.KernelTCP}} {
		v, err := memoryEntry(dir, e.prefix)
		if err != nil {
			errs = append(errs, err)
		}
		*e.into = v
	}
	return errors.Join(errs...)
}

func statPids(dir string, s *Stats) error {
	cur, err := readUint(dir, "pids.current")
	if err != nil {
		return err
	}
	s.Pids.Current = cur
	lim, err := v2fs.ReadFile(dir, "pids.max")
	if err != nil {
		return err
	}
	if v := strings.TrimSpace(lim); v != "max" {
		// "max" is runc's 0, no limit.
		if s.Pids.Limit, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "pids.max"), err)
		}
	}
	return nil
}

// blkioGroups are runc's sources of blkio stats, best first: the first
// group whose first file has entries is used (BFQ with its debug files,
// BFQ, CFQ, then the throttle files, which every kernel has).
var blkioGroups = [][]struct {
	file string
	into func(*v2fs.Blkio) *[]v2fs.BlkioEntry
}{
	{
		{"blkio.bfq.sectors_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.SectorsRecursive }},
		{"blkio.bfq.io_service_time_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServiceTimeRecursive }},
		{"blkio.bfq.io_wait_time_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoWaitTimeRecursive }},
		{"blkio.bfq.io_merged_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoMergedRecursive }},
		{"blkio.bfq.io_queued_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoQueuedRecursive }},
		{"blkio.bfq.time_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoTimeRecursive }},
		{"blkio.bfq.io_serviced_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServicedRecursive }},
		{"blkio.bfq.io_service_bytes_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServiceBytesRecursive }},
	},
	{
		{"blkio.bfq.io_serviced_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServicedRecursive }},
		{"blkio.bfq.io_service_bytes_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServiceBytesRecursive }},
	},
	{
		{"blkio.sectors_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.SectorsRecursive }},
		{"blkio.io_service_time_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServiceTimeRecursive }},
		{"blkio.io_wait_time_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoWaitTimeRecursive }},
		{"blkio.io_merged_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoMergedRecursive }},
		{"blkio.io_queued_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoQueuedRecursive }},
		{"blkio.time_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoTimeRecursive }},
		{"blkio.io_serviced_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServicedRecursive }},
		{"blkio.io_service_bytes_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServiceBytesRecursive }},
	},
	{
		{"blkio.throttle.io_serviced_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServicedRecursive }},
		{"blkio.throttle.io_service_bytes_recursive", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServiceBytesRecursive }},
	},
	{
		{"blkio.throttle.io_serviced", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServicedRecursive }},
		{"blkio.throttle.io_service_bytes", func(b *v2fs.Blkio) *[]v2fs.BlkioEntry { return &b.IoServiceBytesRecursive }},
	},
}

func statBlkio(dir string, s *Stats) error {
	for _, group := range blkioGroups {
		for i, f := range group {
			entries, err := ParseBlkio(dir, f.file)
			if err != nil || entries == nil {
				if i == 0 {
					break // this kernel does not have the group
				}
				return err
			}
			*f.into(&s.Blkio) = entries
			if i == len(group)-1 {
				return nil
			}
		}
	}
	return nil
}

// ParseBlkio reads a blkio stat file: "MAJ:MIN [Op] value" lines and a
// "Total N" line, which is skipped. A missing file has no entries.
func ParseBlkio(dir, name string) ([]v2fs.BlkioEntry, error) {
	var out []v2fs.BlkioEntry
	err := scanLines(filepath.Join(dir, name), func(_ int, line string) error {
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ':' })
		if len(f) == 0 || (len(f) == 2 && f[0] == "Total") {
			return nil
		}
		if len(f) != 3 && len(f) != 4 {
			return fmt.Errorf("%s: malformed line %q", filepath.Join(dir, name), line)
		}
		var e v2fs.BlkioEntry
		var err1, err2, err3 error
		e.Major, err1 = strconv.ParseUint(f[0], 10, 64)
		e.Minor, err2 = strconv.ParseUint(f[1], 10, 64)
		if len(f) == 4 {
			e.Op = f[2]
		}
		e.Value, err3 = strconv.ParseUint(f[len(f)-1], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("%s: malformed line %q: %w", filepath.Join(dir, name), line, err)
		}
		out = append(out, e)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return out, err
}

func statHugetlb(dir string, s *Stats) error {
	sizes, err := PageSizes(dir)
	if err != nil {
		return err
	}
	for _, size := range sizes {
		var h v2fs.Hugetlb
		var errs [3]error
		h.Usage, errs[0] = readUint(dir, "hugetlb."+size+".usage_in_bytes")
		h.Max, errs[1] = readUint(dir, "hugetlb."+size+".max_usage_in_bytes")
		h.Failcnt, errs[2] = readUint(dir, "hugetlb."+size+".failcnt")
		if err := errors.Join(errs[:]...); err != nil {
			return err
		}
		s.Hugetlb[size] = h
	}
	return nil
}

// PageSizes lists the huge page sizes a hugetlb cgroup directory has files
// for ("2MB", "1GB"), sorted.
func PageSizes(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "hugetlb.*.limit_in_bytes"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "hugetlb."), ".limit_in_bytes")
		if !strings.Contains(size, ".") { // hugetlb.2MB.rsvd.limit_in_bytes
			out = append(out, size)
		}
	}
	sort.Strings(out)
	return out, nil
}

// scanLines calls fn on each line of a file with its index.
func scanLines(p string, fn func(int, string) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for i := 0; s.Scan(); i++ {
		if err := fn(i, s.Text()); err != nil {
			return err
		}
	}
	return s.Err()
}
