package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is measured two ways, because neither alone is fair:
//
//   - rusage: wait4 gives a process's ru_maxrss, and the kernel folds in the
//     maxrss of every child it reaped, but as a maximum, not a sum. For rung
//     (host + four plugins alive at once) that is the largest single process,
//     which understates it; for runc it is nearly the whole story.
//   - tree sampling: while the runtime's create runs, a sampler walks its
//     process tree (/proc/PID/task/TID/children, every thread, since Go forks
//     from any thread) and keeps each process's VmHWM (its own peak RSS,
//     monotonic, so sparse samples still see the peak as long as the process
//     is seen once near its end) and the largest sum of VmRSS seen at one
//     instant. The container's init is counted once, from its own wait4
//     rusage after it exits (which includes its pre-exec peak), and dropped
//     from the sampled tree.
//
// "Sum of peaks" is the headline: an upper bound on the concurrent peak,
// robust to sampling gaps. RSS counts shared file pages (binary text) in
// full for each process; none of the compared processes share a binary
// except the init with its runtime, so that overcounts both sides alike.
type treeSampler struct {
	root  int
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	peaks map[int]procPeak
	// maxSum is the largest sum of VmRSS over one sample.
	maxSum  float64
	samples int
}

type procPeak struct {
	name string
	hwm  float64 // KiB, VmHWM
	// pss and anon are the largest Pss and Anonymous seen (smaps_rollup):
	// PSS splits shared pages among their users and Anonymous leaves out
	// the binary's page-cache pages, which RSS counts in full for each
	// process mapping them.
	pss, anon float64
}

func startSampler(root int) *treeSampler {
	s := &treeSampler{root: root, stop: make(chan struct{}), done: make(chan struct{}), peaks: map[int]procPeak{}}
	go s.loop()
	return s
}

func (s *treeSampler) loop() {
	defer close(s.done)
	for {
		s.sample()
		select {
		case <-s.stop:
			return
		case <-time.After(300 * time.Microsecond):
		}
	}
}

func (s *treeSampler) sample() {
	var sum float64
	seen := 0
	for _, pid := range descendants(s.root) {
		_, hwm, rss, ok := readStatus(pid)
		if !ok {
			continue
		}
		name := procName(pid)
		pss, anon := readRollup(pid)
		seen++
		sum += rss
		s.mu.Lock()
		// A new name means the pid exec'd: the old image (often a vfork
		// child still sharing its parent's mm, so showing the parent's RSS)
		// is not a process of its own and its peak is dropped.
		p, had := s.peaks[pid]
		if had && name == "?" {
			name = p.name // exiting: cmdline is gone, the process is not new
		}
		if !had || p.name != name {
			p = procPeak{name: name}
		}
		p.hwm = max(p.hwm, hwm)
		p.pss = max(p.pss, pss)
		p.anon = max(p.anon, anon)
		s.peaks[pid] = p
		s.mu.Unlock()
	}
	s.mu.Lock()
	if sum > s.maxSum {
		s.maxSum = sum
	}
	if seen > 0 {
		s.samples++
	}
	s.mu.Unlock()
}

// finish stops sampling and returns each process's peak.
func (s *treeSampler) finish() map[int]procPeak {
	close(s.stop)
	<-s.done
	return s.peaks
}

// descendants is root and every process below it, found through each
// thread's children list.
func descendants(root int) []int {
	out := []int{root}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(out[i]) + "/task/*/children")
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// readStatus returns Name, VmHWM and VmRSS (KiB) from /proc/PID/status.
func readStatus(pid int) (name string, hwm, rss float64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "", 0, 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		switch k {
		case "Name":
			name = strings.TrimSpace(v)
		case "VmHWM":
			hwm = kib(v)
		case "VmRSS":
			rss = kib(v)
		}
	}
	// Kernel threads and zombies have no Vm lines: nothing to count.
	return name, hwm, rss, hwm > 0
}

func kib(v string) float64 {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseFloat(f[0], 64)
	return n
}

// procName names a process by its argv[0] (plugins are exec'd through
// /proc/self/fd/N, so their comm is a number), with " init" for rung's init
// and bootstrap.
func procName(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return "?"
	}
	args := strings.Split(string(b), "\x00")
	name := filepath.Base(args[0])
	if len(args) > 1 && args[1] == "init" {
		name += " init"
	}
	return name
}

// readRollup returns Pss and Anonymous (KiB) from /proc/PID/smaps_rollup.
func readRollup(pid int) (pss, anon float64) {
	pss, anon, _ = readRollupShmem(pid)
	return pss, anon
}

// readRollupShmem is readRollup with Pss_Shmem: the part of Pss that is a
// shmem file (rung's init mapping its memfd copy), which the shmem delta
// also counts.
func readRollupShmem(pid int) (pss, anon, shmem float64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "Pss":
			pss = kib(v)
		case "Anonymous":
			anon = kib(v)
		case "Pss_Shmem":
			shmem = kib(v)
		}
	}
	return pss, anon, shmem
}

// meminfo reads one /proc/meminfo field in KiB.
func meminfo(field string) float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return kib(v)
		}
	}
	return 0
}
