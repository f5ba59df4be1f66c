package cgroupfs

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Stats is the data object of runc's `events --stats` (runc's types.Stats),
// which containerd's runc shim decodes; field names and JSON tags follow it.
type Stats struct {
	CPU               CPU                `json:"cpu"`
	CPUSet            CPUSet             `json:"cpuset"`
	Memory            Memory             `json:"memory"`
	Pids              Pids               `json:"pids"`
	Blkio             Blkio              `json:"blkio"`
	Hugetlb           map[string]Hugetlb `json:"hugetlb"`
	IntelRdt          struct{}           `json:"intel_rdt"`
	NetworkInterfaces []struct{}         `json:"network_interfaces"`
}

// PSIData is one line of a *.pressure file.
type PSIData struct {
	Avg10  float64 `json:"avg10"`
	Avg60  float64 `json:"avg60"`
	Avg300 float64 `json:"avg300"`
	Total  uint64  `json:"total"`
}

// PSIStats is a *.pressure file.
type PSIStats struct {
	Some PSIData `json:"some,omitzero"`
	Full PSIData `json:"full,omitzero"`
}

type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
	PSI                     *PSIStats    `json:"psi,omitempty"`
}

type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

type CPUUsage struct {
	// Nanoseconds.
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

type CPU struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
	PSI        *PSIStats  `json:"psi,omitempty"`
}

type CPUSet struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type Memory struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
	PSI       *PSIStats         `json:"psi,omitempty"`
}

// ReadStats reads what the cgroup at dir has. Files of controllers that are
// not enabled are skipped, so the same code serves a hybrid host with no
// controllers and a full cgroup v2 guest; only a missing cgroup is an error.
func ReadStats(dir string) (*Stats, error) {
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return nil, err
	}
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	var errs []error
	keep := func(err error) {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	keep(statCPU(dir, s))
	keep(statMemory(dir, s))
	keep(statPids(dir, s))
	keep(statIO(dir, s))
	keep(statHugetlb(dir, s))
	var err error
	s.CPU.PSI, err = readPSI(dir, "cpu.pressure")
	keep(err)
	s.Memory.PSI, err = readPSI(dir, "memory.pressure")
	keep(err)
	s.Blkio.PSI, err = readPSI(dir, "io.pressure")
	keep(err)
	return s, errors.Join(errs...)
}

func statCPU(dir string, s *Stats) error {
	kv, err := KeyValues(dir, "cpu.stat")
	if err != nil {
		return err
	}
	// cgroup v2 counts microseconds, runc reports nanoseconds.
	s.CPU.Usage.Total = kv["usage_usec"] * 1000
	s.CPU.Usage.User = kv["user_usec"] * 1000
	s.CPU.Usage.Kernel = kv["system_usec"] * 1000
	s.CPU.Throttling.Periods = kv["nr_periods"]
	s.CPU.Throttling.ThrottledPeriods = kv["nr_throttled"]
	s.CPU.Throttling.ThrottledTime = kv["throttled_usec"] * 1000
	return nil
}

// readUint reads a single-value file; "max" is MaxUint64 as in runc.
func readUint(dir, name string) (uint64, error) {
	data, err := ReadFile(dir, name)
	if err != nil {
		return 0, err
	}
	v := strings.TrimSpace(data)
	if v == "max" {
		return math.MaxUint64, nil
	}
	return strconv.ParseUint(v, 10, 64)
}

func statMemory(dir string, s *Stats) error {
	raw, err := KeyValues(dir, "memory.stat")
	if err != nil {
		return err
	}
	s.Memory.Raw = raw
	s.Memory.Cache = raw["file"]
	var errs []error
	entry := func(prefix string) MemoryEntry {
		var e MemoryEntry
		var err error
		if e.Usage, err = readUint(dir, prefix+".current"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		if e.Limit, err = readUint(dir, prefix+".max"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		e.Max, _ = readUint(dir, prefix+".peak") // 5.19+ (swap: 6.5+)
		if ev, err := KeyValues(dir, prefix+".events"); err == nil {
			e.Failcnt = ev["max"]
		}
		return e
	}
	s.Memory.Usage = entry("memory")
	// runc reports swap alone on cgroup v2.
	s.Memory.Swap = entry("memory.swap")
	return errors.Join(errs...)
}

func statPids(dir string, s *Stats) error {
	cur, err := readUint(dir, "pids.current")
	if errors.Is(err, fs.ErrNotExist) {
		// Without the pids controller, count what cgroup.procs lists (runc does too).
		pids, err := AllPids(dir)
		s.Pids.Current = uint64(len(pids))
		return err
	}
	if err != nil {
		return err
	}
	s.Pids.Current = cur
	lim, err := readUint(dir, "pids.max")
	if err != nil {
		return err
	}
	if lim == math.MaxUint64 {
		lim = 0 // runc's "no limit"
	}
	s.Pids.Limit = lim
	return nil
}

func statIO(dir string, s *Stats) error {
	return scanLines(filepath.Join(dir, "io.stat"), func(line string) {
		f := strings.Fields(line)
		if len(f) < 2 {
			return
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			return
		}
		major, err1 := strconv.ParseUint(maj, 10, 64)
		minor, err2 := strconv.ParseUint(min, 10, 64)
		if err1 != nil || err2 != nil {
			return
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			e := BlkioEntry{Major: major, Minor: minor, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, e)
			case "wbytes":
				e.Op = "Write"
				s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, e)
			case "dbytes":
				e.Op = "Discard"
				s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, e)
			case "rios":
				e.Op = "Read"
				s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, e)
			case "wios":
				e.Op = "Write"
				s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, e)
			case "dios":
				e.Op = "Discard"
				s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, e)
			}
		}
	})
}

func statHugetlb(dir string, s *Stats) error {
	matches, err := filepath.Glob(filepath.Join(dir, "hugetlb.*.current"))
	if err != nil {
		return err
	}
	sort.Strings(matches)
	for _, m := range matches {
		name := filepath.Base(m)
		size := strings.TrimSuffix(strings.TrimPrefix(name, "hugetlb."), ".current")
		if strings.Contains(size, ".") { // hugetlb.2MB.rsvd.current
			continue
		}
		var h Hugetlb
		h.Usage, err = readUint(dir, name)
		if err != nil {
			return err
		}
		if ev, err := KeyValues(dir, "hugetlb."+size+".events"); err == nil {
			h.Failcnt = ev["max"]
		}
		s.Hugetlb[size] = h
	}
	return nil
}

func readPSI(dir, name string) (*PSIStats, error) {
	var ps PSIStats
	found := false
	err := scanLines(filepath.Join(dir, name), func(line string) {
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		var d *PSIData
		switch f[0] {
		case "some":
			d = &ps.Some
		case "full":
			d = &ps.Full
		default:
			return
		}
		found = true
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "avg10":
				d.Avg10, _ = strconv.ParseFloat(v, 64)
			case "avg60":
				d.Avg60, _ = strconv.ParseFloat(v, 64)
			case "avg300":
				d.Avg300, _ = strconv.ParseFloat(v, 64)
			case "total":
				d.Total, _ = strconv.ParseUint(v, 10, 64)
			}
		}
	})
	if err != nil {
		// EOPNOTSUPP: PSI compiled in but off (psi=0 on the command line).
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errOpNotSupp) {
			return nil, nil
		}
		return nil, err
	}
	if !found {
		return nil, nil
	}
	return &ps, nil
}

var errOpNotSupp error = unix.EOPNOTSUPP
