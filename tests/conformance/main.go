// Command conformance runs the opencontainers/runtime-tools validation
// suite (a tree built by build-suite.sh) against several OCI runtimes in
// one go, prints a per-binary table of pass/fail/skip for each, lists the
// points the reference runtime passes and the runtime under test does not,
// and checks the runtime under test against a committed baseline.
//
//	conformance -suite DIR -runtime rung=bin/rung -runtime runc=/usr/sbin/runc \
//	            -baseline tests/conformance/baseline.tsv
//
// The first -runtime is the one under test (baseline, exit status); the
// second is the reference. Exit status: 0, or 1 on a regression against the
// baseline (a point or binary that passed there fails now), 2 on a usage
// or setup error. See docs/conformance.md.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type runtimeFlag []string

func (r *runtimeFlag) String() string     { return strings.Join(*r, ",") }
func (r *runtimeFlag) Set(v string) error { *r = append(*r, v); return nil }

// Runtime is one runtime under test, reached through a wrapper script that
// gives it a private --root (the suite calls $RUNTIME with bare commands).
type Runtime struct {
	Name    string
	Path    string
	Root    string
	Wrapper string
	Version string
	Results []*Outcome
}

type config struct {
	suite, baseline, out, work string
	timeout                    time.Duration
	tests                      []string
	update, parallel           bool
	maxList                    int
}

func main() {
	var rts runtimeFlag
	var c config
	var tests string
	flag.StringVar(&c.suite, "suite", "", "built runtime-tools tree (runtimetest, rootfs-<arch>.tar.gz, validation/*/*.t)")
	flag.Var(&rts, "runtime", "NAME=PATH of a runtime; repeat; the first is the one under test")
	flag.StringVar(&c.baseline, "baseline", "", "baseline file for the first runtime (empty: no check)")
	flag.BoolVar(&c.update, "update-baseline", false, "write this run's results for the first runtime to -baseline (keeping flaky marks) instead of checking")
	flag.StringVar(&c.out, "out", "", "results dir: <runtime>/<test>.tap|.stderr, summary.tsv (default: WORK/results)")
	flag.StringVar(&c.work, "work", "", "scratch dir (default: a new dir under $TMPDIR)")
	flag.DurationVar(&c.timeout, "timeout", 120*time.Second, "per test binary; then SIGTERM to its process group, SIGKILL 10s later")
	flag.StringVar(&tests, "tests", os.Getenv("TESTS"), "space/comma separated subset of tests (default: all; env TESTS)")
	flag.BoolVar(&c.parallel, "parallel", os.Getenv("PARALLEL") != "", "run the runtimes side by side (env PARALLEL); timing-sensitive tests may flake more")
	flag.IntVar(&c.maxList, "list", 40, "at most this many lines per list of points (0: all)")
	flag.Parse()
	c.tests = strings.FieldsFunc(tests, func(r rune) bool { return r == ' ' || r == ',' })
	os.Exit(run(c, rts))
}

func fatalf(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "conformance: "+format+"\n", a...)
	return 2
}

func run(c config, specs []string) int {
	if c.suite == "" || len(specs) == 0 {
		return fatalf("need -suite and at least one -runtime NAME=PATH")
	}
	if os.Geteuid() != 0 {
		return fatalf("the suite creates containers: run as root")
	}
	var err error
	if c.suite, err = filepath.Abs(c.suite); err != nil {
		return fatalf("%v", err)
	}
	arch := runtime.GOARCH
	for _, f := range []string{"runtimetest", "rootfs-" + arch + ".tar.gz"} {
		if _, err := os.Stat(filepath.Join(c.suite, f)); err != nil {
			return fatalf("suite %s: %v (run tests/conformance/build-suite.sh)", c.suite, err)
		}
	}
	names := c.tests
	if len(names) == 0 {
		bins, _ := filepath.Glob(filepath.Join(c.suite, "validation", "*", "*.t"))
		for _, b := range bins {
			names = append(names, strings.TrimSuffix(filepath.Base(b), ".t"))
		}
		sort.Strings(names)
	}
	if len(names) == 0 {
		return fatalf("no test binaries under %s/validation", c.suite)
	}

	// Bundles live below the work dir, and a container with a user
	// namespace resolves its rootfs as a mapped uid: every level must be
	// searchable by others.
	if c.work == "" {
		if c.work, err = os.MkdirTemp("", "rung-conformance-"); err != nil {
			return fatalf("%v", err)
		}
	} else if err := os.MkdirAll(c.work, 0o755); err != nil {
		return fatalf("%v", err)
	}
	if err := os.Chmod(c.work, 0o755); err != nil {
		return fatalf("%v", err)
	}
	if c.work, err = filepath.Abs(c.work); err != nil {
		return fatalf("%v", err)
	}
	if c.out == "" {
		c.out = filepath.Join(c.work, "results")
	}
	// A reused work dir starts clean: the last run's results and scratch.
	_ = os.RemoveAll(c.out)
	old, _ := filepath.Glob(filepath.Join(c.work, "tmp-*"))
	for _, d := range old {
		cleanScratch(d, os.Stderr)
	}

	var base Baseline
	if c.baseline != "" && !c.update {
		f, err := os.Open(c.baseline)
		if err != nil {
			return fatalf("baseline: %v", err)
		}
		base, err = ReadBaseline(f)
		f.Close()
		if err != nil {
			return fatalf("baseline %s: %v", c.baseline, err)
		}
	}

	var rts []*Runtime
	for _, s := range specs {
		name, path, ok := strings.Cut(s, "=")
		if !ok || name == "" || path == "" {
			return fatalf("-runtime %q: want NAME=PATH", s)
		}
		if !strings.Contains(path, "/") {
			if p, err := exec.LookPath(path); err == nil {
				path = p
			}
		}
		if path, err = filepath.Abs(path); err != nil {
			return fatalf("%v", err)
		}
		if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
			return fatalf("runtime %s: %s is not an executable", name, path)
		}
		rt := &Runtime{Name: name, Path: path, Root: filepath.Join(c.work, name+"-root"), Wrapper: filepath.Join(c.work, name)}
		if err := os.MkdirAll(rt.Root, 0o700); err != nil {
			return fatalf("%v", err)
		}
		script := fmt.Sprintf("#!/bin/sh\nexec %s --root %s \"$@\"\n", shQuote(path), shQuote(rt.Root))
		if err := os.WriteFile(rt.Wrapper, []byte(script), 0o755); err != nil {
			return fatalf("%v", err)
		}
		v, _ := exec.Command(path, "--version").Output()
		rt.Version = strings.SplitN(strings.TrimSpace(string(v)), "\n", 2)[0]
		if err := os.MkdirAll(filepath.Join(c.out, name), 0o755); err != nil {
			return fatalf("%v", err)
		}
		rts = append(rts, rt)
	}

	cgBefore := suiteCgroups()
	uname := unix.Utsname{}
	_ = unix.Uname(&uname)
	host, _ := os.Hostname()
	kernel := unix.ByteSliceToString(uname.Release[:])
	fmt.Printf("runtime-tools validation suite: %s (%d binaries), per-test timeout %s\n", c.suite, len(names), c.timeout)
	fmt.Printf("host %s, kernel %s, %d cpus, cgroups: %s\n", host, kernel, runtime.NumCPU(), cgroupMode())
	for _, rt := range rts {
		fmt.Printf("  %-6s %s (%s)\n", rt.Name, rt.Path, rt.Version)
	}
	fmt.Println()

	start := time.Now()
	if c.parallel {
		// One stream per runtime; the tests that use the suite's fixed
		// cgroup paths (and so could meet the other runtime's cgroup
		// there) still take turns.
		var fixed sync.Mutex
		var wg sync.WaitGroup
		for _, rt := range rts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, name := range names {
					if usesFixedCgroup(name) {
						fixed.Lock()
					}
					o := runOne(c, rt, name)
					if usesFixedCgroup(name) {
						fixed.Unlock()
					}
					rt.Results = append(rt.Results, o)
					fmt.Fprintf(os.Stderr, "  %-34s %-6s %-8s %5.1fs\n", name, rt.Name, o.Status, o.Seconds)
				}
			}()
		}
		wg.Wait()
	} else {
		for _, name := range names {
			for _, rt := range rts {
				o := runOne(c, rt, name)
				rt.Results = append(rt.Results, o)
				fmt.Fprintf(os.Stderr, "  %-34s %-6s %-8s %5.1fs\n", name, rt.Name, o.Status, o.Seconds)
			}
		}
	}
	elapsed := time.Since(start)
	removeSuiteCgroups(cgBefore)
	for _, rt := range rts {
		deleteAll(rt, "end of run")
		os.Remove(rt.Root)
	}

	printTable(rts, names, elapsed)
	writeSummary(c.out, rts)

	under := rts[0]
	if len(rts) > 1 {
		ref := rts[1]
		var behind []Change
		for i := range names {
			behind = append(behind, Behind(ref.Results[i], under.Results[i])...)
		}
		fmt.Printf("\n%s fails %d point(s)/binaries that %s passes:\n", under.Name, len(behind), ref.Name)
		printList(behind, c.maxList)
	}

	header := []string{
		"rung's results in the runtime-tools v0.9.0 validation suite (make conformance).",
		"Lines: TEST, then status STATUS or a point result (ok/fail/skip/todo/flaky) and its key.",
		"flaky lines are never regressions. Refresh: make conformance UPDATE_BASELINE=1 (keeps flaky marks).",
		fmt.Sprintf("Recorded on host %s, kernel %s, cgroups %s, with %s.", host, kernel, cgroupMode(), under.Version),
	}
	rc := 0
	switch {
	case c.baseline == "":
	case c.update:
		var old Baseline
		if f, err := os.Open(c.baseline); err == nil {
			old, _ = ReadBaseline(f)
			f.Close()
		}
		var buf bytes.Buffer
		if err := WriteBaseline(&buf, header, under.Results, old); err != nil {
			return fatalf("%v", err)
		}
		if err := os.WriteFile(c.baseline, buf.Bytes(), 0o644); err != nil {
			return fatalf("%v", err)
		}
		fmt.Printf("\nbaseline %s rewritten from this run\n", c.baseline)
	default:
		reg := Regressions(base, under.Results)
		imp := Improvements(base, under.Results)
		if len(imp) > 0 {
			fmt.Printf("\n%d improvement(s) over the baseline (refresh it with UPDATE_BASELINE=1):\n", len(imp))
			printList(imp, c.maxList)
		}
		if len(reg) > 0 {
			fmt.Printf("\nREGRESSION: %d point(s)/binaries passed in %s and do not now:\n", len(reg), c.baseline)
			printList(reg, 0)
			rc = 1
		} else {
			fmt.Printf("\nbaseline %s: no regression for %s\n", c.baseline, under.Name)
		}
	}
	fmt.Printf("TAP output and stderr: %s\n", c.out)
	return rc
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runOne runs one test binary from the suite's root (it needs
// ./runtimetest and the rootfs tarball in its cwd) with TMPDIR set to a
// fresh scratch dir, where the suite makes its bundles.
func runOne(c config, rt *Runtime, name string) *Outcome {
	exe := filepath.Join(c.suite, "validation", name, name+".t")
	outDir := filepath.Join(c.out, rt.Name)
	if _, err := os.Stat(exe); err != nil {
		return &Outcome{Test: name, Status: StMissing, Points: map[string]string{}}
	}
	scratch := filepath.Join(c.work, "tmp-"+rt.Name, name)
	_ = os.MkdirAll(scratch, 0o755)
	tapFile, _ := os.Create(filepath.Join(outDir, name+".tap"))
	errFile, _ := os.Create(filepath.Join(outDir, name+".stderr"))
	defer tapFile.Close()
	defer errFile.Close()

	cmd := exec.Command(exe)
	cmd.Dir = c.suite
	cmd.Env = append(os.Environ(), "RUNTIME="+rt.Wrapper, "TMPDIR="+scratch)
	var tapBuf bytes.Buffer
	cmd.Stdout = io.MultiWriter(tapFile, &tapBuf)
	cmd.Stderr = errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	exit, timedOut := 0, false
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(errFile, "conformance: start %s: %v\n", exe, err)
		exit = 127
	} else {
		pgid := cmd.Process.Pid
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var werr error
		select {
		case werr = <-done:
		case <-time.After(c.timeout):
			timedOut = true
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case werr = <-done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				werr = <-done
			}
		}
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			exit = ee.ExitCode()
			if exit < 0 {
				exit = 128
			}
		} else if werr != nil {
			exit = 127
		}
		// Whatever is left in the group the test made was started by it
		// (containers are in sessions of their own and are deleted below).
		if syscall.Kill(-pgid, 0) == nil {
			fmt.Fprintf(errFile, "conformance: killing leftovers of process group %d\n", pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	secs := time.Since(t0).Seconds()
	deleteAll(rt, name)
	cleanScratch(scratch, errFile)

	tp, err := ParseTAP(&tapBuf)
	if err != nil {
		fmt.Fprintf(errFile, "conformance: reading TAP: %v\n", err)
	}
	return NewOutcome(name, tp, exit, timedOut, secs)
}

// deleteAll force-deletes every container left in the runtime's private
// root: nothing else uses that root.
func deleteAll(rt *Runtime, why string) {
	out, err := exec.Command(rt.Wrapper, "list", "-q").Output()
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(out)) {
		if err := exec.Command(rt.Wrapper, "delete", "--force", id).Run(); err != nil {
			fmt.Fprintf(os.Stderr, "conformance: %s: %s delete --force %s: %v\n", why, rt.Name, id, err)
		}
	}
}

// cleanScratch unmounts what a test left mounted below its scratch dir (a
// container without a mount namespace of its own mounts into ours) and
// removes the dir.
func cleanScratch(dir string, log io.Writer) {
	for _, mp := range mountsUnder(dir) {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			fmt.Fprintf(log, "conformance: unmount leftover %s: %v\n", mp, err)
		} else {
			fmt.Fprintf(log, "conformance: unmounted leftover %s\n", mp)
		}
	}
	if len(mountsUnder(dir)) > 0 {
		fmt.Fprintf(log, "conformance: mounts remain under %s; leaving it\n", dir)
		return
	}
	_ = os.RemoveAll(dir)
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var mps []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	return mps
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func usesFixedCgroup(test string) bool {
	return strings.HasPrefix(test, "linux_cgroups_") || strings.HasPrefix(test, "delete_")
}

// The suite's cgroup tests use fixed paths (cgroups.AbsCgroupPath
// "/cgrouptest", RelCgroupPath "testdir/cgrouptest/container").
func suiteCgroups() map[string]bool {
	m := map[string]bool{}
	for _, pat := range []string{"/sys/fs/cgroup/cgrouptest", "/sys/fs/cgroup/testdir", "/sys/fs/cgroup/*/cgrouptest", "/sys/fs/cgroup/*/testdir"} {
		ds, _ := filepath.Glob(pat)
		for _, d := range ds {
			m[d] = true
		}
	}
	return m
}

// removeSuiteCgroups removes the suite's cgroups this run made (rmdir only:
// it fails on a cgroup that still has processes).
func removeSuiteCgroups(before map[string]bool) {
	for d := range suiteCgroups() {
		if before[d] {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = unix.Rmdir(dirs[i])
		}
		if _, err := os.Stat(d); err == nil {
			fmt.Fprintf(os.Stderr, "conformance: leftover cgroup %s could not be removed\n", d)
		}
	}
}

func cgroupMode() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		return "hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified)"
	}
	return "v1"
}

func printTable(rts []*Runtime, names []string, elapsed time.Duration) {
	w := 30
	for _, n := range names {
		w = max(w, len(n))
	}
	line := fmt.Sprintf("%-*s", w, "TEST")
	for _, rt := range rts {
		line += fmt.Sprintf(" | %-8s %5s %4s %4s %6s", rt.Name, "pass", "fail", "skip", "secs")
	}
	fmt.Println(line)
	fmt.Println(strings.Repeat("-", len(line)))
	type tot struct {
		good, pass, fail, skip int
		secs                   float64
	}
	tots := make([]tot, len(rts))
	for i, name := range names {
		line := fmt.Sprintf("%-*s", w, name)
		for j, rt := range rts {
			o := rt.Results[i]
			p, f, s := count(o)
			line += fmt.Sprintf(" | %-8s %5d %4d %4d %6.1f", o.Status, p, f, s, o.Seconds)
			if Good(o.Status) {
				tots[j].good++
			}
			tots[j].pass += p
			tots[j].fail += f
			tots[j].skip += s
			tots[j].secs += o.Seconds
		}
		fmt.Println(line)
	}
	fmt.Println(strings.Repeat("-", len(line)))
	line = fmt.Sprintf("%-*s", w, fmt.Sprintf("TOTAL (%d binaries)", len(names)))
	for _, t := range tots {
		line += fmt.Sprintf(" | %-8s %5d %4d %4d %6.0f", fmt.Sprintf("%d/%d ok", t.good, len(names)), t.pass, t.fail, t.skip, t.secs)
	}
	fmt.Println(line)
	fmt.Printf("wall time %.0fs; a binary is ok when its status is OK or EMPTY\n", elapsed.Seconds())
}

func count(o *Outcome) (pass, fail, skip int) {
	for _, r := range o.Points {
		switch r {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		}
	}
	return
}

func writeSummary(dir string, rts []*Runtime) {
	var b strings.Builder
	b.WriteString("runtime\ttest\tstatus\tpass\tfail\tskip\texit\tseconds\n")
	for _, rt := range rts {
		for _, o := range rt.Results {
			p, f, s := count(o)
			fmt.Fprintf(&b, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f\n", rt.Name, o.Test, o.Status, p, f, s, o.Exit, o.Seconds)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "summary.tsv"), []byte(b.String()), 0o644)
}

// printList prints changes grouped by test, at most max lines per test (0: all).
func printList(cs []Change, max int) {
	if len(cs) == 0 {
		fmt.Println("  (none)")
		return
	}
	byTest := map[string][]Change{}
	var order []string
	for _, c := range cs {
		if _, ok := byTest[c.Test]; !ok {
			order = append(order, c.Test)
		}
		byTest[c.Test] = append(byTest[c.Test], c)
	}
	for _, t := range order {
		l := byTest[t]
		fmt.Printf("  %s (%d):\n", t, len(l))
		for i, c := range l {
			if max > 0 && i == max {
				fmt.Printf("      ... %d more\n", len(l)-max)
				break
			}
			what := c.Key
			if what == "" {
				what = "(binary status)"
			}
			fmt.Printf("      %s: %s -> %s\n", what, c.Was, c.Now)
		}
	}
}
