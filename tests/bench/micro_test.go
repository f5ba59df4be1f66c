package main

// Micro-benchmarks of the pieces of a rung create, to put a number on each
// lever. They only run with -bench (never in `make test`) and assert
// nothing:
//
//	go test -run '^$' -bench . -benchtime 30x ./tests/bench
//
// They use the plugin binaries in <repo>/bin (or $RUNG_PLUGIN_DIR) and need
// root (plugins refuse binaries not owned by root).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/internal/logging"
	"github.com/rung-runtime/rung/internal/state"
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/tests/testutil"
)

func pluginSpecs(b *testing.B) []launcher.Spec {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("plugins are launched only from root-owned binaries by root")
	}
	if os.Getenv("RUNG_PLUGIN_DIR") == "" {
		dir := filepath.Join(testutil.RepoRoot(), "bin")
		if _, err := os.Stat(filepath.Join(dir, "rung-namespaces")); err != nil {
			b.Skipf("plugin binaries missing in %s (run make): %v", dir, err)
		}
		b.Setenv("RUNG_PLUGIN_DIR", dir)
	}
	return launcher.Defaults()
}

// BenchmarkLaunch is the host's LaunchAll (fork+exec, go-plugin's handshake
// line, gRPC dial, Describe) and then Set.Close (kill and reap, all at
// once), reported apart.
func BenchmarkLaunch(b *testing.B) {
	all := pluginSpecs(b)
	cases := map[string][]launcher.Spec{"four": all}
	for _, s := range all {
		cases[s.Stage] = []launcher.Spec{s}
	}
	for name, specs := range cases {
		b.Run(name, func(b *testing.B) {
			var launch, closing time.Duration
			var before, after unix.Rusage
			_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &before)
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				set, err := launcher.LaunchAll(context.Background(), logging.Discard(), specs, nil)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				set.Close()
				launch += t1.Sub(t0)
				closing += time.Since(t1)
			}
			_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &after)
			b.ReportMetric(ms(launch)/float64(b.N), "launch-ms")
			b.ReportMetric(ms(closing)/float64(b.N), "close-ms")
			// CPU of the plugin processes themselves (the launcher reaps them).
			cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / time.Duration(b.N)
			b.ReportMetric(ms(cpu), "plugin-cpu-ms")
			// Not ru_maxrss: a vforked child's is charged with the parent's
			// RSS at the moment it exec'd.
		})
	}
}

// BenchmarkCloseConcurrent is Set.Close's work done for all four plugins at
// once instead of one after another: the prototype of a cheaper teardown.
func BenchmarkCloseConcurrent(b *testing.B) {
	specs := pluginSpecs(b)
	var closing time.Duration
	for i := 0; i < b.N; i++ {
		set, err := launcher.LaunchAll(context.Background(), logging.Discard(), specs, nil)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var wg sync.WaitGroup
		for _, p := range set {
			wg.Add(1)
			go func() { defer wg.Done(); p.Close() }()
		}
		wg.Wait()
		closing += time.Since(t1)
	}
	b.ReportMetric(ms(closing)/float64(b.N), "close-ms")
}

// BenchmarkRPC is one Describe on a live plugin connection: what a stage
// would cost per call if its process were already running.
func BenchmarkRPC(b *testing.B) {
	specs := pluginSpecs(b)
	set, err := launcher.LaunchAll(context.Background(), logging.Discard(), specs[:1], nil)
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := set[0].Stage().Describe(context.Background(), &stagev1.DescribeRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealedCopy is lifecycle.sealedSelf's work on the rung binary:
// memfd_create, sendfile of the whole file, seals.
func BenchmarkSealedCopy(b *testing.B) {
	bin := filepath.Join(testutil.RepoRoot(), "bin", "rung")
	if v := os.Getenv("RUNG_BIN"); v != "" {
		bin = v
	}
	fi, err := os.Stat(bin)
	if err != nil {
		b.Skipf("%s: %v", bin, err)
	}
	b.SetBytes(fi.Size())
	for i := 0; i < b.N; i++ {
		src, err := os.Open(bin)
		if err != nil {
			b.Fatal(err)
		}
		fd, err := unix.MemfdCreate("rung-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			b.Fatal(err)
		}
		for copied := int64(0); copied < fi.Size(); {
			n, err := unix.Sendfile(fd, int(src.Fd()), nil, int(fi.Size()-copied))
			if err != nil || n == 0 {
				b.Fatal(err)
			}
			copied += int64(n)
		}
		seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
		src.Close()
	}
}

// BenchmarkStateSave is one state.json save of a created container's
// record; create does one per step.
func BenchmarkStateSave(b *testing.B) {
	dir := b.TempDir()
	st := state.Store{Root: dir}
	if err := st.Reserve("c"); err != nil {
		b.Fatal(err)
	}
	rec := &state.Container{ID: "c", Bundle: dir, Status: state.Created,
		Plugins: map[string]*state.PluginRecord{}, Steps: []string{"prepare", "prepared", "spawn", "spawned"}}
	spec := testutil.DefaultSpec()
	raw, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	rec.SetSpec(raw, spec)
	for _, s := range []string{"namespaces", "cgroups", "seccomp", "lsm"} {
		rec.Plugins[s] = &state.PluginRecord{Stage: s, Binary: "/usr/libexec/rung/rung-" + s, Prepared: true,
			State: map[string]string{"k": "v"}}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := st.Save(rec); err != nil {
			b.Fatal(err)
		}
	}
}
