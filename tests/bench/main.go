// Command bench compares rung with runc and crun side by side on this host:
// container lifecycle latency, exec latency, memory per create, and
// throughput in sequence and in parallel, plus rung's per-stage create
// timings from its --debug log. It drives every runtime only through its
// CLI, interleaving the runtimes run by run so drift in a noisy VM hits all
// of them alike. `make bench` runs it; it is not a test and asserts nothing.
//
//	go run ./tests/bench [-n 30] [-only run,seccomp,phases,exec,rss,debug,seq,par]
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/tests/testutil"
)

type config struct {
	n, warmup, seq, par, batches int
	only                         map[string]bool
	jsonOut                      string
	keep                         bool
	// stateRoot holds the runtimes' --root dirs; file creation there costs
	// what the host's /run costs (ext4 on some VMs, tmpfs on most hosts).
	stateRoot string
	rungEnv   []string
	also      []extraRuntime
}

type extraRuntime struct {
	name, bin string
	env       []string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// results: figure -> runtime name -> sample.
type results struct {
	mu      sync.Mutex
	order   []string
	figures map[string]map[string]sample
	units   map[string]string
}

func newResults() *results {
	return &results{figures: map[string]map[string]sample{}, units: map[string]string{}}
}

func (r *results) add(fig, unit, rt string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.figures[fig]
	if m == nil {
		m = map[string]sample{}
		r.figures[fig] = m
		r.order = append(r.order, fig)
		r.units[fig] = unit
	}
	m[rt] = append(m[rt], v)
}

func (r *results) get(fig, rt string) sample { return r.figures[fig][rt] }

func main() {
	rungBin := flag.String("rung", filepath.Join(testutil.RepoRoot(), "bin", "rung"), "rung binary")
	runcBin := flag.String("runc", "runc", "runc binary")
	crunBin := flag.String("crun", "crun", "crun binary")
	var cfg config
	flag.IntVar(&cfg.n, "n", 30, "measured runs per figure and runtime")
	flag.IntVar(&cfg.warmup, "warmup", 3, "unmeasured runs first")
	flag.IntVar(&cfg.seq, "seq", 100, "containers run one after another")
	flag.IntVar(&cfg.par, "par", 20, "containers run at once")
	flag.IntVar(&cfg.batches, "batches", 5, "batches of -par containers")
	only := flag.String("only", "run,seccomp,phases,exec,rss,debug,seq,par", "scenarios to run")
	flag.StringVar(&cfg.jsonOut, "json", "", "also write every sample here as JSON")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir")
	flag.StringVar(&cfg.stateRoot, "stateroot", "", "make the runtimes' --root dirs under this dir (default: the bench's temp dir, in $TMPDIR)")
	rungEnv := flag.String("rungenv", "", "comma-separated K=V added to rung's environment (experiments, e.g. GOGC=200)")
	warm := flag.Duration("warm", time.Minute, "measure rung with its warm plugin pool too (RUNG_PLUGIN_POOL=this idle time), as column rung-warm; 0 leaves it out")
	var also multiFlag
	flag.Var(&also, "also", "NAME=PATH[,K=V...]: another rung build measured alongside (A/B of a change), with extra environment; repeatable; NAME should start with rung")
	flag.Parse()
	for _, a := range also {
		parts := strings.Split(a, ",")
		name, path, ok := strings.Cut(parts[0], "=")
		if !ok || name == "" || path == "" {
			fmt.Fprintln(os.Stderr, "bench: -also wants NAME=PATH[,K=V...]")
			os.Exit(2)
		}
		cfg.also = append(cfg.also, extraRuntime{name, path, parts[1:]})
	}
	if *rungEnv != "" {
		cfg.rungEnv = strings.Split(*rungEnv, ",")
	}
	cfg.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		cfg.only[strings.TrimSpace(s)] = true
	}
	if *warm > 0 {
		cfg.also = append([]extraRuntime{{"rung-warm", *rungBin, []string{"RUNG_PLUGIN_POOL=" + warm.String()}}}, cfg.also...)
	}
	if err := run(cfg, *rungBin, *runcBin, *crunBin); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(cfg config, rungBin, runcBin, crunBin string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (containers need namespaces, mounts and cgroups)")
	}
	// Inits of created containers reparent to us once their runtime exits,
	// so we can wait4 them: their exit and their rusage.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("becoming a subreaper: %w", err)
	}
	base, err := os.MkdirTemp("", "rung-bench-")
	if err != nil {
		return err
	}
	if err := os.Chmod(base, 0o755); err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(base)
	}
	b, err := makeBundles(base)
	if err != nil {
		return err
	}
	roots := base
	if cfg.stateRoot != "" {
		if roots, err = os.MkdirTemp(cfg.stateRoot, "rung-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(roots)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	idPrefix := "rb" + hex.EncodeToString(rnd[:])

	var all []*runtime
	// Plain rung launches its plugins per command even where the
	// environment asks for the pool: that is what rung-warm measures.
	cands := []extraRuntime{{name: "rung", bin: rungBin, env: []string{"RUNG_PLUGIN_POOL=off"}}}
	cands = append(cands, cfg.also...)
	cands = append(cands, extraRuntime{name: "runc", bin: runcBin}, extraRuntime{name: "crun", bin: crunBin})
	for _, c := range cands {
		r := &runtime{name: c.name, root: filepath.Join(roots, "root-"+c.name), env: []string{markerEnv + "=" + base}}
		if strings.HasPrefix(c.name, "rung") {
			r.env = append(r.env, cfg.rungEnv...)
		}
		r.env = append(r.env, c.env...)
		p, err := exec.LookPath(c.bin)
		if err != nil {
			r.why = "binary " + c.bin + " not found"
		} else {
			r.bin = p
			r.version = versionOf(p)
			r.probe(b, idPrefix+"-probe-"+c.name)
		}
		all = append(all, r)
	}
	var rts []*runtime
	for _, r := range all {
		if r.why == "" {
			rts = append(rts, r)
		}
	}

	fmt.Println("== machine")
	fmt.Println(machine())
	fmt.Println("== runtimes")
	for _, r := range all {
		if r.why != "" {
			fmt.Printf("%s: not runnable here (%s)\n", r.name, r.why)
		} else {
			fmt.Printf("%s: %s (%s)", r.name, r.version, r.bin)
			if len(r.env) > 1 {
				fmt.Printf(" env %s", strings.Join(r.env[1:], " "))
			}
			fmt.Println()
		}
	}
	if len(rts) == 0 {
		return fmt.Errorf("no runtime can run a container here")
	}
	fmt.Printf("bundle: busybox, the integration tests' default spec; %d measured runs per figure after %d warm-up, runtimes interleaved\n", cfg.n, cfg.warmup)
	fmt.Printf("state roots in %s (%s)", roots, fsType(roots))
	if len(cfg.rungEnv) > 0 {
		fmt.Printf("; rung's environment adds %s", strings.Join(cfg.rungEnv, " "))
	}
	fmt.Println()
	fmt.Println("figures: median [p10-p90]")

	res := newResults()
	bn := &bench{cfg: cfg, b: b, base: base, idPrefix: idPrefix, rts: rts, all: all, res: res}
	steps := []struct {
		key string
		f   func() error
	}{
		{"run", bn.runScenario}, {"seccomp", bn.seccompScenario}, {"phases", bn.phases}, {"exec", bn.execScenario},
		{"rss", bn.rss}, {"debug", bn.debug}, {"seq", bn.sequence}, {"par", bn.parallel},
	}
	for _, s := range steps {
		if !cfg.only[s.key] {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s...\n", s.key)
		if err := s.f(); err != nil {
			return fmt.Errorf("%s: %w", s.key, err)
		}
	}
	bn.report()
	stopWarmPlugins()
	leaks := findLeaks(base, idPrefix, all)
	if len(leaks) > 0 {
		fmt.Println("\nLEAKS after the whole run:")
		for _, l := range leaks {
			fmt.Println("  " + l)
		}
	}
	if cfg.jsonOut != "" {
		out := map[string]any{"machine": machine(), "figures": res.figures, "units": res.units}
		data, _ := json.MarshalIndent(out, "", " ")
		if err := os.WriteFile(cfg.jsonOut, data, 0o644); err != nil {
			return err
		}
	}
	// Figures are not judged, but a container that failed or leaked is.
	if bn.failed > 0 || bn.leaked > 0 || len(leaks) > 0 {
		return fmt.Errorf("%d containers failed, %d leaks in the throughput runs, %d at the end", bn.failed, bn.leaked, len(leaks))
	}
	return nil
}

type bench struct {
	cfg      config
	b        *bundles
	base     string
	idPrefix string
	rts, all []*runtime
	res      *results
	mu       sync.Mutex
	seqNo    int
	// notes are printed under the report (failures, leaks, throughput).
	notes []string
	// failed and leaked count containers that failed and leaks found in the
	// throughput runs.
	failed, leaked int
}

func (bn *bench) id(r *runtime) string {
	bn.mu.Lock()
	defer bn.mu.Unlock()
	bn.seqNo++
	return fmt.Sprintf("%s-%s-%d", bn.idPrefix, r.name, bn.seqNo)
}

func (bn *bench) note(format string, args ...any) {
	bn.mu.Lock()
	defer bn.mu.Unlock()
	bn.notes = append(bn.notes, fmt.Sprintf(format, args...))
}

// interleaved calls f for warm-up then measured runs, rotating which
// runtime goes first.
func (bn *bench) interleaved(f func(r *runtime, measured bool) error) error {
	for i := 0; i < bn.cfg.warmup+bn.cfg.n; i++ {
		for j := range bn.rts {
			r := bn.rts[(i+j)%len(bn.rts)]
			if err := f(r, i >= bn.cfg.warmup); err != nil {
				return err
			}
		}
	}
	return nil
}

// runScenario: `run` of busybox true, the runtime creating, starting,
// waiting for and deleting the container itself.
func (bn *bench) runScenario() error {
	return bn.runOf(bn.b.trueDir, "run true (create+start+wait+delete in one call)",
		"  CPU time, run (user+sys of the runtime and every process it reaped)", "  max RSS of one process, run")
}

// seccompScenario: the same `run` under Docker's default seccomp profile,
// which the runtime compiles (runc in its init, rung in its seccomp stage).
func (bn *bench) seccompScenario() error {
	return bn.runOf(bn.b.seccompDir, "run true under docker's default seccomp profile",
		"  CPU time, that run (user+sys, with reaped children)", "  max RSS of one process, that run")
}

func (bn *bench) runOf(dir, figure, cpuFigure, rssFigure string) error {
	return bn.interleaved(func(r *runtime, measured bool) error {
		c := r.invoke(dir, "run", "--bundle", dir, bn.id(r))
		if c.err != nil {
			return c.err
		}
		if measured {
			bn.res.add(figure, "ms", r.name, ms(c.wall))
			bn.res.add(cpuFigure, "ms", r.name, cpuMs(c.rusage))
			bn.res.add(rssFigure, "KiB", r.name, float64(c.rusage.Maxrss))
		}
		return nil
	})
}

// lifecycle is create, start, wait, delete as containerd's shim does it.
type lifecycle struct {
	create, start, wait, del, total time.Duration
	createRU, startRU, delRU        *syscall.Rusage
	initRU                          *syscall.Rusage
	pid                             int
}

func (bn *bench) lifecycle(r *runtime, dir, id string, afterCreate func(pid int), sampleCreate func(pid int)) (*lifecycle, error) {
	lc := &lifecycle{}
	pidFile := filepath.Join(bn.base, id+".pid")
	defer os.Remove(pidFile)
	t0 := time.Now()
	c := r.invokeWith(dir, sampleCreate, "create", "--bundle", dir, "--pid-file", pidFile, id)
	if c.err != nil {
		return nil, c.err
	}
	lc.create, lc.createRU = c.wall, c.rusage
	pid, err := readPid(pidFile)
	if err != nil {
		return nil, fmt.Errorf("%s create %s: pid file: %w", r.name, id, err)
	}
	lc.pid = pid
	if afterCreate != nil {
		afterCreate(pid)
	}
	c = r.invoke(dir, "start", id)
	if c.err != nil {
		return nil, c.err
	}
	lc.start, lc.startRU = c.wall, c.rusage
	tw := time.Now()
	ru, err := waitInit(pid)
	if err != nil {
		return nil, err
	}
	lc.wait, lc.initRU = time.Since(tw), ru
	c = r.invoke(dir, "delete", id)
	if c.err != nil {
		return nil, c.err
	}
	lc.del, lc.delRU = c.wall, c.rusage
	lc.total = time.Since(t0)
	return lc, nil
}

func (bn *bench) phases() error {
	return bn.interleaved(func(r *runtime, measured bool) error {
		lc, err := bn.lifecycle(r, bn.b.trueDir, bn.id(r), nil, nil)
		if err != nil || !measured {
			return err
		}
		bn.res.add("create+start+wait+delete (four calls)", "ms", r.name, ms(lc.total))
		bn.res.add("  create", "ms", r.name, ms(lc.create))
		bn.res.add("  start", "ms", r.name, ms(lc.start))
		bn.res.add("  wait (start returned -> init reaped)", "ms", r.name, ms(lc.wait))
		bn.res.add("  delete", "ms", r.name, ms(lc.del))
		bn.res.add("  CPU time, all four calls and the init (user+sys)", "ms", r.name,
			cpuMs(lc.createRU)+cpuMs(lc.startRU)+cpuMs(lc.delRU)+cpuMs(lc.initRU))
		return nil
	})
}

// execScenario: `exec true` into a running `sleep`, waiting for its exit.
func (bn *bench) execScenario() error {
	ids := map[*runtime]string{}
	pids := map[*runtime]int{}
	defer func() {
		for r, id := range ids {
			_ = syscall.Kill(pids[r], syscall.SIGKILL)
			_, _ = waitInit(pids[r])
			if c := r.invoke(bn.b.sleepDir, "delete", id); c.err != nil {
				bn.note("exec: %v", c.err)
			}
		}
	}()
	for _, r := range bn.rts {
		id := bn.id(r)
		pidFile := filepath.Join(bn.base, id+".pid")
		if c := r.invoke(bn.b.sleepDir, "create", "--bundle", bn.b.sleepDir, "--pid-file", pidFile, id); c.err != nil {
			return c.err
		}
		pid, err := readPid(pidFile)
		os.Remove(pidFile)
		if err != nil {
			return err
		}
		ids[r], pids[r] = id, pid
		if c := r.invoke(bn.b.sleepDir, "start", id); c.err != nil {
			return c.err
		}
	}
	return bn.interleaved(func(r *runtime, measured bool) error {
		c := r.invoke(bn.b.sleepDir, "exec", ids[r], "true")
		if c.err != nil {
			return c.err
		}
		if measured {
			bn.res.add("exec true into a running container", "ms", r.name, ms(c.wall))
			bn.res.add("  CPU time, exec (user+sys, with reaped children)", "ms", r.name, cpuMs(c.rusage))
			bn.res.add("  max RSS of one process, exec", "KiB", r.name, float64(c.rusage.Maxrss))
		}
		return nil
	})
}

// rss is an untimed pass (the sampler competes for the two cores) over the
// same create/start/wait/delete, measuring memory: see rss.go for why two
// ways.
func (bn *bench) rss() error {
	names := map[string]map[string]sample{} // runtime -> process name -> peaks
	err := bn.interleaved(func(r *runtime, measured bool) error {
		var s *treeSampler
		var peaks map[int]procPeak
		var shmemBefore, shmemHeld, initPss, initAnon, initShmem float64
		shmemBefore = meminfo("Shmem")
		lc, err := bn.lifecycle(r, bn.b.trueDir, bn.id(r), func(pid int) {
			peaks = s.finish()
			// What a created, not yet started, container holds: its init,
			// and for runtimes that re-exec a sealed copy of themselves, that
			// copy (shmem).
			shmemHeld = meminfo("Shmem") - shmemBefore
			initPss, initAnon, initShmem = readRollupShmem(pid)
		}, func(pid int) { s = startSampler(pid) })
		if err != nil || !measured {
			return err
		}
		sum, pss, anon, nproc := 0.0, 0.0, 0.0, 0
		for pid, p := range peaks {
			if pid == lc.pid {
				continue // counted from its own rusage below
			}
			sum += p.hwm
			pss += p.pss
			anon += p.anon
			nproc++
			if names[r.name] == nil {
				names[r.name] = map[string]sample{}
			}
			names[r.name][p.name] = append(names[r.name][p.name], p.hwm)
		}
		initKiB := float64(lc.initRU.Maxrss)
		bn.res.add("peak RSS per create: sum of per-process peaks (host+plugins+init)", "KiB", r.name, sum+initKiB)
		bn.res.add("  runtime processes seen during create (init apart)", "n", r.name, float64(nproc))
		bn.res.add("  largest sampled instantaneous sum (init included while in the tree)", "KiB", r.name, s.maxSum)
		bn.res.add("  max RSS of one process, create (wait4 rusage)", "KiB", r.name, float64(lc.createRU.Maxrss))
		bn.res.add("  init peak before exec (wait4 rusage of the init)", "KiB", r.name, initKiB)
		// The shmem a created container holds, less what the init's PSS
		// already counts of it.
		bn.res.add("  PSS: sum of per-process peaks + init when created + shmem held", "KiB", r.name, pss+initPss+max(shmemHeld-initShmem, 0))
		bn.res.add("  anonymous memory: sum of per-process peaks + init when created", "KiB", r.name, anon+initAnon)
		bn.res.add("  shmem held by a created container (meminfo delta)", "KiB", r.name, shmemHeld)
		bn.res.add("  max RSS of one process, delete", "KiB", r.name, float64(lc.delRU.Maxrss))
		return nil
	})
	if err != nil {
		return err
	}
	if n, rss, pss := warmPluginMemory(); n > 0 {
		bn.note("rung-warm's %d warm plugins (once per host, in no create's tree): RSS %.1f MiB, PSS %.1f MiB in all", n, rss/1024, pss/1024)
	}
	for _, r := range bn.rts {
		var parts []string
		var ns []string
		for n := range names[r.name] {
			ns = append(ns, n)
		}
		sort.Strings(ns)
		for _, n := range ns {
			s := names[r.name][n]
			parts = append(parts, fmt.Sprintf("%s %.1f MiB (seen %d/%d runs)", n, s.median()/1024, len(s), bn.cfg.n))
		}
		bn.note("peak RSS by process name, %s: %s", r.name, strings.Join(parts, "; "))
	}
	return nil
}

// debug runs each rung build's create with --debug and aggregates its step
// timings.
func (bn *bench) debug() error {
	for _, r := range bn.rts {
		if strings.HasPrefix(r.name, "rung") {
			if err := bn.debugOne(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (bn *bench) debugOne(rung *runtime) error {
	steps, calls := map[string]sample{}, map[string]sample{}
	var startup, teardown, wall sample
	for i := 0; i < bn.cfg.warmup+bn.cfg.n; i++ {
		logf := filepath.Join(bn.base, fmt.Sprintf("debug-%d.json", i))
		dbg := *rung
		dbg.global = []string{"--debug", "--log", logf, "--log-format", "json"}
		id := bn.id(rung)
		pidFile := filepath.Join(bn.base, id+".pid")
		c := dbg.invoke(bn.b.trueDir, "create", "--bundle", bn.b.trueDir, "--pid-file", pidFile, id)
		if c.err != nil {
			return c.err
		}
		pid, err := readPid(pidFile)
		os.Remove(pidFile)
		if err != nil {
			return err
		}
		if c := rung.invoke(bn.b.trueDir, "start", id); c.err != nil {
			return c.err
		}
		if _, err := waitInit(pid); err != nil {
			return err
		}
		if c := rung.invoke(bn.b.trueDir, "delete", id); c.err != nil {
			return c.err
		}
		f, err := os.Open(logf)
		if err != nil {
			return err
		}
		cl := parseCreateLog(f)
		f.Close()
		os.Remove(logf)
		if i < bn.cfg.warmup || len(cl.marks) == 0 {
			continue
		}
		for k, v := range intervals(cl.marks) {
			steps[k] = append(steps[k], v)
		}
		for k, v := range cl.calls {
			calls[k] = append(calls[k], v)
		}
		startup = append(startup, ms(cl.began.Sub(c.start)))
		teardown = append(teardown, ms(c.start.Add(c.wall).Sub(cl.last)))
		wall = append(wall, ms(c.wall))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s create, per stage, from --debug (%d runs; time between consecutive log lines):\n", rung.name, len(wall))
	row := func(name string, s sample, what string, cum float64) {
		fmt.Fprintf(&b, "  %-13s %-26s %-62s cum %.1f\n", name, fmtMs(s), what, cum)
	}
	cum := startup.median()
	row("startup", startup, "exec rung, Go runtime start, CLI parsing, until Create began", cum)
	for _, st := range stageNames {
		s := steps[st.end]
		if len(s) == 0 {
			continue
		}
		cum += s.median()
		row(st.end, s, st.what, cum)
	}
	cum += teardown.median()
	row("teardown", teardown, "end the plugins (kill all at once; warm: close the connections), exit", cum)
	fmt.Fprintf(&b, "  %-13s %-26s (wall of create under --debug; it logs more than a plain create)", "wall", fmtMs(wall))
	// Inside "launched" (describe) and "prepared": which stage is the long
	// pole, as the host saw each call.
	keys := make([]string, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    plugin call %-30s %s", k, fmtMs(calls[k]))
	}
	bn.note("%s", b.String())
	return nil
}

// sequence: -seq containers one after another per runtime.
func (bn *bench) sequence() error {
	for _, r := range bn.rts {
		fails := 0
		var firstErr error
		t0 := time.Now()
		for i := 0; i < bn.cfg.seq; i++ {
			if c := r.invoke(bn.b.trueDir, "run", "--bundle", bn.b.trueDir, bn.id(r)); c.err != nil {
				fails++
				if firstErr == nil {
					firstErr = c.err
				}
			}
		}
		wall := time.Since(t0)
		leaks := findLeaks(bn.base, bn.idPrefix, []*runtime{r})
		bn.failed += fails
		bn.leaked += len(leaks)
		bn.res.add(fmt.Sprintf("%d in sequence: containers/s", bn.cfg.seq), "/s", r.name, float64(bn.cfg.seq)/wall.Seconds())
		bn.note("%d in sequence, %s: %.2f s, %d failed%s, %d leaks%s", bn.cfg.seq, r.name, wall.Seconds(), fails,
			errSuffix(firstErr), len(leaks), leakSuffix(leaks))
	}
	return nil
}

// parallel: -batches batches of -par containers at once per runtime.
func (bn *bench) parallel() error {
	for _, r := range bn.rts {
		fails := 0
		var firstErr error
		var walls sample
		var mu sync.Mutex
		for k := 0; k < bn.cfg.batches; k++ {
			var wg sync.WaitGroup
			t0 := time.Now()
			for i := 0; i < bn.cfg.par; i++ {
				id := bn.id(r)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if c := r.invoke(bn.b.trueDir, "run", "--bundle", bn.b.trueDir, id); c.err != nil {
						mu.Lock()
						fails++
						if firstErr == nil {
							firstErr = c.err
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			walls = append(walls, ms(time.Since(t0)))
			bn.res.add(fmt.Sprintf("%d at once: containers/s", bn.cfg.par), "/s", r.name, float64(bn.cfg.par)/(walls[len(walls)-1]/1000))
		}
		leaks := findLeaks(bn.base, bn.idPrefix, []*runtime{r})
		bn.failed += fails
		bn.leaked += len(leaks)
		bn.note("%d at once x %d batches, %s: batch wall %s, %d of %d failed%s, %d leaks%s", bn.cfg.par, bn.cfg.batches, r.name,
			fmtMs(walls), fails, bn.cfg.par*bn.cfg.batches, errSuffix(firstErr), len(leaks), leakSuffix(leaks))
	}
	return nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (first: " + err.Error() + ")"
}

func leakSuffix(l []string) string {
	if len(l) == 0 {
		return ""
	}
	if len(l) > 5 {
		l = append(l[:5:5], "...")
	}
	return " (" + strings.Join(l, "; ") + ")"
}

func (bn *bench) report() {
	fmt.Println()
	var cols, rungs []string
	for _, r := range bn.all {
		cols = append(cols, r.name)
		if strings.HasPrefix(r.name, "rung") {
			rungs = append(rungs, r.name)
		}
	}
	fmt.Printf("%-72s", "figure")
	for _, c := range cols {
		fmt.Printf(" %-26s", c)
	}
	for _, c := range rungs {
		fmt.Printf(" %-10s", c+"/runc")
	}
	fmt.Println()
	for _, fig := range bn.res.order {
		unit := bn.res.units[fig]
		fmt.Printf("%-72s", fig)
		for _, c := range cols {
			s := bn.res.get(fig, c)
			cell := "-"
			switch {
			case len(s) > 0 && unit == "ms":
				cell = fmtMs(s)
			case len(s) > 0 && unit == "KiB":
				cell = fmtKiB(s)
			case len(s) > 0:
				cell = fmt.Sprintf("%.1f%s", s.median(), strings.TrimPrefix(" "+unit, " n"))
			}
			if len(s) == 0 && bn.why(c) != "" {
				cell = "not runnable"
			}
			fmt.Printf(" %-26s", cell)
		}
		for _, c := range rungs {
			fmt.Printf(" %-10s", ratio(bn.res.get(fig, c), bn.res.get(fig, "runc")))
		}
		fmt.Println()
	}
	for _, r := range bn.all {
		if r.why != "" {
			fmt.Printf("\n%s: not runnable here (%s)\n", r.name, r.why)
		}
	}
	for _, n := range bn.notes {
		fmt.Println()
		fmt.Println(n)
	}
}

func (bn *bench) why(name string) string {
	for _, r := range bn.all {
		if r.name == name {
			return r.why
		}
	}
	return ""
}
