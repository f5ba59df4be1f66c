package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// session is what one test has made through this package: its temp dir,
// bundles, runtimes and container ids. It exists so the leak checker knows
// what to look for and so a failing test still cleans up in the right order
// (containers first, then their bundles), whatever order the test asked for
// things in.
type session struct {
	t       testing.TB
	base    string
	mu      sync.Mutex
	n       int
	bundles []string
	rts     []*Runtime
	ids     []string
}

var (
	sessMu   sync.Mutex
	sessions = map[testing.TB]*session{}
)

func sess(t testing.TB) *session {
	t.Helper()
	sessMu.Lock()
	defer sessMu.Unlock()
	if s := sessions[t]; s != nil {
		return s
	}
	base, err := os.MkdirTemp("", "rung-it-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	// 0755 rather than MkdirTemp's 0700: a container in a user namespace
	// runs as an unmapped host uid and must still reach its rootfs.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatalf("chmod %s: %v", base, err)
	}
	s := &session{t: t, base: base}
	sessions[t] = s
	t.Cleanup(s.cleanup)
	return s
}

func (s *session) mkdir(prefix string) string {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	d := filepath.Join(s.base, fmt.Sprintf("%s%d", prefix, n))
	if err := os.Mkdir(d, 0o755); err != nil {
		s.t.Fatalf("mkdir %s: %v", d, err)
	}
	return d
}

// addID records a container id for cleanup and leak checks. Only ids made by
// ID are recorded: the leak checker matches (and the last-resort cleanup
// kills) processes and removes cgroups by these strings, so a short or
// foreign one ("", "a/b", "sh") would match the whole host.
func (s *session) addID(id string) {
	if !isTestID(id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.ids {
		if x == id {
			return
		}
	}
	s.ids = append(s.ids, id)
}

// markers are the strings whose presence in a process, mount or cgroup means
// it belongs to this test.
func (s *session) markers() (ids, paths []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...), []string{s.base}
}

// cleanup runs after the test: force-delete every container the test made,
// then remove what a buggy runtime may have left (only things whose names
// carry this test's unique ids or paths), then the temp dir.
func (s *session) cleanup() {
	s.mu.Lock()
	rts := append([]*Runtime(nil), s.rts...)
	ids := append([]string(nil), s.ids...)
	s.mu.Unlock()
	for _, rt := range rts {
		for _, id := range ids {
			rt.exec(s.t, ExecOpts{Args: []string{"delete", "--force", id}, quiet: true})
		}
	}
	reapLeftovers(s.t, ids, []string{s.base})
	sessMu.Lock()
	delete(sessions, s.t)
	sessMu.Unlock()
	if os.Getenv("RUNG_TEST_KEEP") != "" {
		s.t.Logf("RUNG_TEST_KEEP: leaving %s", s.base)
		return
	}
	if err := os.RemoveAll(s.base); err != nil {
		s.t.Logf("cleanup: %v", err)
	}
}

var (
	nonID  = regexp.MustCompile(`[^a-z0-9]+`)
	testID = regexp.MustCompile(`^rt-[a-z0-9-]*-[0-9a-f]{10}(-[a-z0-9-]+)?$`)
)

// isTestID reports whether id has the shape ID produces (a test name piece
// and 40 random bits, optionally followed by a suffix), which is what makes
// it safe to match on.
func isTestID(id string) bool {
	return len(id) >= 14 && testID.MatchString(id)
}

// ID returns a container id unique to this test run, carrying a readable
// piece of the test name. Uniqueness is what lets the leak checker attribute
// processes and cgroups to one test while others run in parallel.
func ID(t testing.TB) string {
	t.Helper()
	name := t.Name()
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Trim(nonID.ReplaceAllString(strings.ToLower(strings.TrimPrefix(name, "Test")), "-"), "-")
	if len(name) > 20 {
		name = name[:20]
	}
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random: %v", err)
	}
	id := "rt-" + name + "-" + hex.EncodeToString(b[:])
	sess(t).addID(id)
	return id
}
