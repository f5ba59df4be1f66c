// Package cgtest has the test helpers the cgroup v1 and v2 stages share:
// the root check, test-named cgroups that each driver's own cgtest checks
// to be gone, waiting for the kernel, and the checks both stages make of
// Describe, Validate and the end of a container's life over the wire. What
// depends on the hierarchy (finding it, placing processes) stays in
// plugins/cgroupv1/internal/cgtest and plugins/cgroupv2/internal/cgtest.
package cgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

// NeedRoot skips the test unless it runs as root, which making cgroups
// takes.
func NeedRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
}

// Top returns a fresh top-level test cgroup name ("/PREFIXNAME-PID") for
// the test to create. The pid in it lets Leftovers tell this process's
// cgroups from those of tests running at the same time.
func Top(t *testing.T, prefix string) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("/%s%s-%d", prefix, name, os.Getpid())
}

// Leftovers lists the cgroups directly below root that Top named for this
// test process with prefix.
func Leftovers(root, prefix string) []string {
	left, _ := filepath.Glob(filepath.Join(root, fmt.Sprintf("%s*-%d", prefix, os.Getpid())))
	return left
}

// Eventually polls cond until it holds or a generous deadline passes; it
// waits for the kernel, it does not assert on timing.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Busybox is the static busybox the tests run in cgroups, or skips.
func Busybox(t *testing.T) string {
	t.Helper()
	const p = "/bin/busybox"
	if _, err := os.Stat(p); err != nil {
		t.Skipf("needs %s: %v", p, err)
	}
	return p
}

// Container is the container a stage is called with for specJSON, as the
// host passes it: the parsed spec, its bytes and an empty state.
func Container(t *testing.T, id, specJSON string) *sdk.Container {
	t.Helper()
	var sp specs.Spec
	if err := json.Unmarshal([]byte(specJSON), &sp); err != nil {
		t.Fatalf("bad spec %s: %v", specJSON, err)
	}
	return &sdk.Container{ID: id, Spec: &sp, SpecJSON: []byte(specJSON), State: map[string]string{}}
}

// CheckDescription checks what a cgroups stage says of itself: its name,
// the stage and fields it owns, that the host destroys through it, and
// exactly the linux.cgroup features in want.
func CheckDescription(t *testing.T, d sdk.Description, name string, want map[string]bool) {
	t.Helper()
	if d.Name != name || d.Stage != "cgroups" || d.NoDestroy || !slices.Equal(d.Handles, []string{"linux.cgroupsPath", "linux.resources"}) {
		t.Errorf("Describe = %+v", d)
	}
	var f struct {
		Linux struct {
			Cgroup map[string]bool `json:"cgroup"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(d.Features, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Linux.Cgroup) != len(want) {
		t.Errorf("features %s", d.Features)
	}
	for k, v := range want {
		if got, ok := f.Linux.Cgroup[k]; !ok || got != v {
			t.Errorf("features linux.cgroup.%s = %v, want %v", k, got, v)
		}
	}
}

// Validator is the part of a stage Refuses calls.
type Validator interface {
	Validate(context.Context, *sdk.Container) ([]sdk.FieldError, error)
}

// Refuses fails the test unless s's Validate of specJSON (container "c1")
// succeeds as a call and returns a FieldError on field with msg in its
// message.
func Refuses(t *testing.T, s Validator, specJSON, field, msg string) {
	t.Helper()
	errs, err := s.Validate(context.Background(), Container(t, "c1", specJSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e.Field == field && strings.Contains(e.Message, msg) {
			return
		}
	}
	t.Errorf("errors %v; want one on %s with %q", errs, field, msg)
}

// CheckPluginDescribe checks the Describe of a launched cgroups plugin:
// its name, its stage, the Resources service, that the host destroys
// through it, and the protocol version.
func CheckPluginDescribe(t *testing.T, conn *sdk.Conn, name string) {
	t.Helper()
	d, err := conn.Stage.Describe(context.Background(), &stagev1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != name || d.Stage != "cgroups" || !d.Resources || d.NoDestroy || d.ProtocolVersion != sdk.ProtocolVersion {
		t.Errorf("Describe = %v", d)
	}
}

// AttachOne attaches pid to a launched plugin's container c over the wire
// and checks that it is then the container's only process.
func AttachOne(t *testing.T, conn *sdk.Conn, c *stagev1.Container, pid int) {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Stage.Attach(ctx, &stagev1.AttachRequest{Container: c, Pid: int32(pid)}); err != nil {
		t.Fatal(err)
	}
	pids, err := conn.Resources.Pids(ctx, &stagev1.ContainerRef{Container: c})
	if err != nil || !slices.Equal(pids.Pids, []int32{int32(pid)}) {
		t.Fatalf("Pids = %v, %v", pids, err)
	}
}

// KillAndDestroy ends a launched plugin's running container c over the
// wire: it watches its events, kills every process, destroys it, and
// expects the event stream to end with the cgroup without an event.
func KillAndDestroy(t *testing.T, conn *sdk.Conn, c *stagev1.Container) {
	t.Helper()
	ctx := context.Background()
	events, err := conn.Resources.Events(ctx, &stagev1.EventsRequest{Container: c})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Resources.KillAll(ctx, &stagev1.KillAllRequest{Container: c, Signal: 9}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Stage.Destroy(ctx, &stagev1.DestroyRequest{Container: c}); err != nil {
		t.Fatal(err)
	}
	// The event stream ends with the cgroup (or never got to watch it).
	if ev, err := events.Recv(); err == nil {
		t.Errorf("unexpected event %v", ev)
	}
}
