package security

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/rung-runtime/rung/tests/testutil"
)

// The race tests share a host directory (a volume) between two containers:
// A runs the attacker's swap loop, exchanging an entry of the volume between
// a real directory and a symlink climbing out to the host marker with
// renameat2(RENAME_EXCHANGE); B is created over and over with a mount
// destination below that entry. A runtime that resolves the destination
// safely and then uses the path string again (mount(2) by path, os.MkdirAll)
// finds the symlink there some of the time. Each attempt is bounded in count
// and time: the race has no deadline to meet, only a budget to spend.
const (
	raceAttempts = 100
	raceBudget   = 10 * time.Second
)

// raceMu keeps the two race tests from running at once: each keeps a core
// busy swapping, and on a two-core host both together would starve the
// creates they race against.
var raceMu sync.Mutex

// swapper is container A.
type swapper struct {
	c  *tu.Container
	rt *tu.Runtime
}

// startSwapper creates and starts A with vol bound at /shared, swapping
// /shared/name with a symlink to target, and returns once it is swapping.
// The attacker stops by itself after limit (or when killed).
func startSwapper(t *testing.T, rt *tu.Runtime, vol, name, target string, limit time.Duration) *swapper {
	t.Helper()
	id := tu.ID(t)
	bundle := tu.BundleWith(t, func(s *specs.Spec, rootfs string) {
		withAttacker(t, rootfs)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/shared", Type: "bind", Source: vol, Options: []string{"rbind"}})
		s.Process.Args = []string{"/attacker", "swap", "/shared", name, target, strconv.Itoa(int(limit / time.Second))}
	})
	c := rt.Create(t, id, bundle)
	rt.Start(t, id)
	out := c.WaitOutput(t, "READY")
	if strings.Contains(out, "ERROR") {
		t.Fatalf("swapper could not start: %s", out)
	}
	return &swapper{c: c, rt: rt}
}

// finish waits for A's own time limit, checks it swapped all along and
// deletes it. It returns the number of swaps.
func (s *swapper) finish(t *testing.T) string {
	t.Helper()
	s.rt.WaitStatus(t, s.c.ID, specs.StateStopped)
	out := s.c.Stdout()
	s.rt.MustDelete(t, s.c.ID, false)
	r := report(out)
	if len(r["ERROR"]) > 0 || len(r["SWAPS"]) != 1 {
		t.Errorf("the swapper stopped racing early (the attempts raced nothing):\n%s%s", out, s.c.Stderr())
		return "?"
	}
	return r["SWAPS"][0]
}

// bMount is a mount in B's mount namespace, as B's init sees it.
type bMount struct {
	point, fstype, superOpts string
}

// mountsOf reads /proc/PID/mountinfo: its paths are relative to the
// process's root and mounts it cannot reach are left out, so a mount that
// landed outside B's rootfs before pivot_root does not appear.
func mountsOf(t *testing.T, pid int) []bMount {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	must(t, err)
	var out []bMount
	for _, line := range tu.Lines(string(b)) {
		f := strings.Fields(line)
		i := 6
		for i < len(f) && f[i] != "-" {
			i++
		}
		if len(f) < 5 || i+3 >= len(f) {
			continue
		}
		out = append(out, bMount{point: tu.UnescapeMount(f[4]), fstype: f[i+1], superOpts: f[i+3]})
	}
	return out
}

// raceB is container B's bundle, reused by every attempt with a new spec.
type raceB struct {
	bundle string
	vol    string
	rt     *tu.Runtime
	m      *marker
	ids    []string
	// Outcomes, for the log: refusals by message, mounts by where they
	// landed inside B.
	refused map[string]int
	landed  map[string]int
}

func newRaceB(t *testing.T, rt *tu.Runtime, vol string, m *marker) *raceB {
	return &raceB{bundle: tu.Bundle(t, nil), vol: vol, rt: rt, m: m, refused: map[string]int{}, landed: map[string]int{}}
}

// attempt creates B with the volume at /shared and then extra, and returns
// B's mounts if the create succeeded (B is deleted before returning). The
// host marker is checked after every attempt.
func (b *raceB) attempt(t *testing.T, extra specs.Mount) ([]bMount, bool) {
	t.Helper()
	id := tu.ID(t)
	b.ids = append(b.ids, id)
	s := tu.DefaultSpec()
	s.Process.Env = append(s.Process.Env, tu.BundleEnvVar+"="+b.bundle)
	s.Process.Args = []string{"true"}
	// Writable, so the runtime can make the mount point wherever the path
	// resolves: inside if it is right, outside if it was fooled.
	s.Root.Readonly = false
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/shared", Type: "bind", Source: b.vol, Options: []string{"rbind"}},
		extra)
	tu.WriteSpec(t, b.bundle, s)
	_ = os.Remove(filepath.Join(b.bundle, "init.pid"))
	c, res := b.rt.TryCreate(t, id, b.bundle, tu.CreateOpts{})
	if res.TimedOut {
		t.Fatalf("runtime hung: %s", res)
	}
	var mounts []bMount
	ok := res.Exit == 0
	if ok {
		mounts = mountsOf(t, c.Pid(t))
		b.rt.MustDelete(t, id, true)
	} else {
		// Refusing is a safe outcome, but it must be a clean one.
		errs := res.Errors()
		if len(errs) == 0 {
			t.Errorf("create failed without an error log line: %s", res)
		} else {
			msg := errs[len(errs)-1]
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error message must be one line, got %q", msg)
			}
			b.refused[msg]++
		}
		// A half-made B must not stay behind.
		b.rt.Delete(t, id, true)
	}
	b.m.check(t)
	return mounts, ok
}

func (b *raceB) logOutcomes(t *testing.T, n int, swaps string) {
	t.Helper()
	t.Logf("%d creates raced %s swaps: %d succeeded, %d refused", n, swaps, sumCounts(b.landed), sumCounts(b.refused))
	for _, k := range sortedKeys(b.landed) {
		t.Logf("  mount inside B at %s: %d", k, b.landed[k])
	}
	for _, k := range sortedKeys(b.refused) {
		t.Logf("  refused %dx: %.300s", b.refused[k], k)
	}
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func raceSetup(t *testing.T) (*tu.Runtime, *marker, *tu.LeakSnapshot, string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("races a container against up to %d creates for %v; run without -short", raceAttempts, raceBudget)
	}
	rt, _ := setup(t)
	m := newMarker(t)
	snap := tu.Snapshot()
	vol := filepath.Join(filepath.Dir(tu.RootfsOf(tu.Bundle(t, nil))), "volume")
	must(t, os.Mkdir(vol, 0o755))
	return rt, m, snap, vol
}

// CVE-2021-30465: B mounts a tmpfs at /shared/x while A swaps x between a
// directory and a symlink to the host marker. Every mount B gets must be in
// B's own namespace, reachable from its root (a mount made on the host path
// before pivot_root would be cut off with the old root), and nothing may show
// on or in the marker. Each tmpfs gets a unique size to recognise it by.
func TestMountDestinationRace(t *testing.T) {
	t.Parallel()
	rt, m, snap, vol := raceSetup(t)
	raceMu.Lock()
	defer raceMu.Unlock()
	a := startSwapper(t, rt, vol, "x", escape(m.Dir), raceBudget+2*time.Second)
	b := newRaceB(t, rt, vol, m)
	deadline := time.Now().Add(raceBudget)
	n := 0
	for ; n < raceAttempts && time.Now().Before(deadline); n++ {
		size := fmt.Sprintf("size=%dk", 4*(1024+n))
		// One escape fails every later check of the marker: stop there.
		if t.Failed() {
			break
		}
		mounts, ok := b.attempt(t, specs.Mount{Destination: "/shared/x", Type: "tmpfs", Source: "tmpfs", Options: []string{size}})
		if !ok {
			continue
		}
		found := ""
		for _, bm := range mounts {
			if bm.fstype == "tmpfs" && strings.Contains(","+bm.superOpts+",", ","+size+",") {
				found = bm.point
			}
		}
		if found == "" {
			t.Errorf("attempt %d: create succeeded but the tmpfs for /shared/x (%s) is not in the container's mount namespace: it was mounted outside the rootfs", n, size)
			continue
		}
		b.landed[found]++
	}
	swaps := a.finish(t)
	b.logOutcomes(t, n, swaps)
	m.check(t)
	tu.CheckNoLeaks(t, snap, append(b.ids, a.c.ID)...)
}

// CVE-2024-45310: B's mount destinations /shared/a/n<i> (a tmpfs, so the
// runtime must mkdir) and /shared/a/f<i> (a file bind, so it must create an
// empty file) do not exist yet, while A swaps a between a directory and a
// symlink to the host marker. Whatever the runtime creates must be inside
// the volume or B's rootfs; the marker must stay as it was.
func TestMkdirMountpointRace(t *testing.T) {
	t.Parallel()
	rt, m, snap, vol := raceSetup(t)
	src := filepath.Join(filepath.Dir(vol), "bind-source")
	must(t, os.WriteFile(src, []byte("bind-source"), 0o644))
	raceMu.Lock()
	defer raceMu.Unlock()
	a := startSwapper(t, rt, vol, "a", escape(m.Dir), raceBudget+2*time.Second)
	b := newRaceB(t, rt, vol, m)
	deadline := time.Now().Add(raceBudget)
	n := 0
	for ; n < raceAttempts && time.Now().Before(deadline); n++ {
		mnt := specs.Mount{Destination: fmt.Sprintf("/shared/a/n%d", n), Type: "tmpfs", Source: "tmpfs", Options: []string{"size=64k"}}
		if n%2 == 1 {
			mnt = specs.Mount{Destination: fmt.Sprintf("/shared/a/f%d", n), Type: "bind", Source: src, Options: []string{"bind"}}
		}
		if t.Failed() {
			break
		}
		mounts, ok := b.attempt(t, mnt)
		if !ok {
			continue
		}
		// The entry a may have been renamed to a.link since the mount was
		// made (the mount follows the directory), so match the last name.
		leaf := "/" + filepath.Base(mnt.Destination)
		found := ""
		for _, bm := range mounts {
			if strings.HasSuffix(bm.point, leaf) {
				found = bm.point
			}
		}
		if found == "" {
			t.Errorf("attempt %d: create succeeded but the mount for %s is not in the container's mount namespace: it was mounted outside the rootfs", n, mnt.Destination)
			continue
		}
		b.landed[strings.TrimSuffix(found, leaf)+"/"+strings.TrimRight(leaf[1:], "0123456789")+"N"]++
	}
	swaps := a.finish(t)
	b.logOutcomes(t, n, swaps)
	m.check(t)
	tu.CheckNoLeaks(t, snap, append(b.ids, a.c.ID)...)
}
