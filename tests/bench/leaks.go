package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rung-runtime/rung/sdk"
)

// findLeaks lists what the bench's containers left behind: processes
// carrying the marker (in environ or cmdline: containers, and plugins,
// which inherit the runtime's environment), mounts under the bench dir,
// cgroup directories named after a bench container, state dirs left in the
// runtimes' roots, and children of the bench nobody waited for (orphaned
// inits reparent to us, the subreaper). It waits, bounded, for
// asynchronous teardown before it reports.
func findLeaks(base, idPrefix string, rts []*runtime) []string {
	var leaks, reaped []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		leaks = leaksNow(base, idPrefix, rts, &reaped)
		if len(leaks) == 0 || time.Now().After(deadline) {
			return append(reaped, leaks...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func leaksNow(base, idPrefix string, rts []*runtime, reaped *[]string) []string {
	var leaks []string
	self := os.Getpid()
	mark := []byte(markerEnv + "=" + base)
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == self {
			continue
		}
		env, _ := os.ReadFile(p + "/environ")
		cmdline, _ := os.ReadFile(p + "/cmdline")
		if isWarmPlugin(env) {
			// rung-warm's plugins outlive each command by design; they are
			// stopped, and then reaped as orphans, at the end.
			continue
		}
		if bytes.Contains(env, mark) || bytes.Contains(cmdline, []byte(idPrefix)) {
			leaks = append(leaks, "process "+strconv.Itoa(pid)+" "+strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " "))
			continue
		}
		if comm, ppid := statOf(pid); ppid == self {
			// An orphan left to us, the subreaper: reap it (it is ours) and
			// say how it ended, which is often the only trace of why.
			what := strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")
			var ws syscall.WaitStatus
			if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err == nil && got == pid {
				switch {
				case ws.Signaled():
					what += fmt.Sprintf("(exited on signal %v)", ws.Signal())
				case ws.Exited():
					// A warm plugin no command dialled for the pool's idle
					// time ends so; kept answers leave most of them idle.
					if ws.ExitStatus() == 0 && strings.HasPrefix(comm, "rung-") {
						continue
					}
					what += fmt.Sprintf("(exited %d)", ws.ExitStatus())
				}
			}
			*reaped = append(*reaped, "unreaped child "+strconv.Itoa(pid)+" ["+comm+"] "+what)
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mi), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(f[4], base) {
				leaks = append(leaks, "mount "+f[4])
			}
		}
	}
	for _, d := range cgroupLeaks(idPrefix) {
		leaks = append(leaks, "cgroup "+d)
	}
	for _, r := range rts {
		for _, d := range r.stateDirs() {
			leaks = append(leaks, r.name+" state dir "+d)
		}
	}
	return leaks
}

func ppidOf(pid int) int {
	_, ppid := statOf(pid)
	return ppid
}

// statOf reads a process's comm and parent pid, a zombie's too.
func statOf(pid int) (string, int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0
	}
	s := string(b)
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return "", 0
	}
	f := strings.Fields(s[j+1:])
	if len(f) < 2 {
		return "", 0
	}
	n, _ := strconv.Atoi(f[1])
	return s[i+1 : j], n
}

// cgroupLeaks walks every cgroup mount (v1 hierarchies and cgroup2) to a
// few levels, where runtimes put containers, for directories named after a
// bench container.
func cgroupLeaks(idPrefix string) []string {
	var out []string
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		typ := strings.Fields(post)
		f := strings.Fields(pre)
		if len(typ) == 0 || len(f) < 5 || (typ[0] != "cgroup" && typ[0] != "cgroup2") {
			continue
		}
		root := f[4]
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if strings.Count(rel, "/") >= 3 {
				return fs.SkipDir
			}
			if strings.Contains(d.Name(), idPrefix) {
				out = append(out, p)
				return fs.SkipDir
			}
			return nil
		})
	}
	return out
}

// isWarmPlugin recognises a plugin of rung's warm pool by the variable the
// launcher starts it with.
func isWarmPlugin(environ []byte) bool {
	return bytes.HasPrefix(environ, []byte(sdk.EnvPoolFD+"=")) || bytes.Contains(environ, []byte("\x00"+sdk.EnvPoolFD+"="))
}

// warmPlugins are the pids of the warm plugins that rung-warm's commands
// started; they are orphans left to the bench, the subreaper.
func warmPlugins() []int {
	var out []int
	self := os.Getpid()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || ppidOf(pid) != self {
			continue
		}
		if env, _ := os.ReadFile(p + "/environ"); isWarmPlugin(env) {
			out = append(out, pid)
		}
	}
	return out
}

// warmPluginMemory is the RSS and PSS of the warm plugins, in KiB: paid
// once per host, not per container.
func warmPluginMemory() (n int, rss, pss float64) {
	for _, pid := range warmPlugins() {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if err != nil {
			continue
		}
		n++
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "Rss:":
				rss += v
			case "Pss:":
				pss += v
			}
		}
	}
	return n, rss, pss
}

// stopWarmPlugins ends and reaps the warm plugins the bench inherited.
func stopWarmPlugins() {
	for _, pid := range warmPlugins() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
	}
}
