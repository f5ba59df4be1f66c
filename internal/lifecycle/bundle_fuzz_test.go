package lifecycle

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/plancheck"
)

// seedSpec is a complete config.json of the shape `runc spec` writes.
const seedSpec = `{"ociVersion":"1.3.0","process":{"terminal":false,"user":{"uid":0,"gid":0},
"args":["sh"],"env":["PATH=/bin"],"cwd":"/","capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]},
"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true},
"root":{"path":"rootfs","readonly":true},"hostname":"x",
"mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["size=1m"]}],
"hooks":{"prestart":[{"path":"/bin/true","args":["true"],"timeout":5}]},
"linux":{"namespaces":[{"type":"pid"},{"type":"mount"}],"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],
"resources":{"memory":{"limit":1048576},"devices":[{"allow":false,"access":"rwm"}]},
"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"},"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}}`

// fuzzDir is a scratch dir for a fuzz target that writes a file per input:
// on tmpfs where there is one, as a disk's writeback can stall a worker for
// seconds and the fuzzer then fails with "context deadline exceeded".
func fuzzDir(prefix string) (string, error) {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", prefix); err == nil {
			return d, nil
		}
	}
	return os.MkdirTemp("", prefix)
}

// FuzzLoadBundle feeds config.json through LoadBundle (decode, the host's
// own field checks). Beyond never panicking: whatever it accepts has every
// field the host later relies on without checking again.
func FuzzLoadBundle(f *testing.F) {
	f.Add([]byte(seedSpec))
	f.Add([]byte(`{"ociVersion":"1.3.0","root":{"path":"rootfs"},"linux":{}}`))
	f.Add([]byte(`{"ociVersion":"1.3.0","root":{"path":"rootfs"},"process":{"args":[""],"cwd":"/"},"linux":{}}`))
	f.Add([]byte(`{"ociVersion":"1.3.0","root":{"path":"/"},"mounts":[{"destination":"/a\u0000b"}],"linux":{}}`))
	f.Add([]byte(`{"ociVersion":"1.3.0","root":{"path":"rootfs"},"process":{"args":["x"],"cwd":"rel","rlimits":[{"type":"RLIMIT_BOGUS"}]},"linux":{}}`))
	f.Add([]byte(`{"ociVersion":1}`))
	f.Add([]byte(`[`))
	dir, err := fuzzDir("rung-fuzz-bundle-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notadir"), nil, 0o644); err != nil {
		f.Fatal(err)
	}
	config := filepath.Join(dir, "config.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(config, data, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := LoadBundle(dir)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error is not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, "bundle ") {
				t.Fatalf("error does not name the bundle: %q", msg)
			}
			return
		}
		s := b.Spec
		if s == nil || s.Linux == nil || s.Root == nil || s.Version == "" {
			t.Fatalf("accepted a spec without ociVersion, root or linux: %+v", s)
		}
		if fi, err := os.Stat(b.Rootfs); err != nil || !fi.IsDir() {
			t.Fatalf("accepted rootfs %q that is not a directory (%v)", b.Rootfs, err)
		}
		if !filepath.IsAbs(b.Rootfs) || !filepath.IsAbs(b.Dir) {
			t.Fatalf("bundle %q or rootfs %q is not absolute", b.Dir, b.Rootfs)
		}
		if p := s.Process; p != nil {
			if len(p.Args) == 0 || p.Args[0] == "" || !filepath.IsAbs(p.Cwd) {
				t.Fatalf("accepted process with args %q cwd %q", p.Args, p.Cwd)
			}
		}
		for i, m := range s.Mounts {
			if m.Destination == "" || strings.IndexByte(m.Destination, 0) >= 0 {
				t.Fatalf("accepted mounts[%d].destination %q", i, m.Destination)
			}
		}
		if string(b.RawSpec) != string(data) {
			t.Fatalf("RawSpec differs from config.json")
		}
		// The spec is stored in state.json and sent to the init and the
		// plugins: it must encode.
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("accepted spec does not encode: %v", err)
		}
	})
}

// FuzzLoadProcess feeds the process JSON of `exec --process` through
// LoadProcess and the checks Exec applies before anything runs.
func FuzzLoadProcess(f *testing.F) {
	f.Add([]byte(`{"args":["sh","-c","true"],"cwd":"/","env":["A=b"],"user":{"uid":1000,"gid":1000,"additionalGids":[5]},
"capabilities":{"bounding":["CAP_CHOWN"],"effective":["CAP_CHOWN"],"permitted":["CAP_CHOWN"],"ambient":["CAP_CHOWN"],"inheritable":["CAP_CHOWN"]},
"rlimits":[{"type":"RLIMIT_NOFILE","hard":10,"soft":10}],"noNewPrivileges":true,"terminal":false,"consoleSize":{"height":1,"width":2}}`))
	f.Add([]byte(`{"args":["x"],"cwd":"/proc/self/fd/7"}`))
	f.Add([]byte(`{"args":[],"cwd":"/"}`))
	f.Add([]byte(`{"args":["x"],"cwd":"/","capabilities":{"bounding":["CAP_BOGUS"]}}`))
	f.Add([]byte(`{"args":["x"],"cwd":"/","rlimits":[{"type":"RLIMIT_NOFILE","hard":1,"soft":2}]}`))
	f.Add([]byte(`{"args":"x"}`))
	dir, err := fuzzDir("rung-fuzz-process-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "process.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := LoadProcess(file)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--process") {
				t.Fatalf("error does not name --process: %q", err)
			}
			return
		}
		if p == nil {
			t.Fatal("nil process without an error")
		}
		if err := validateProcess(p, "process"); err != nil {
			if !strings.HasPrefix(err.Error(), "process.") {
				t.Fatalf("error does not name the field: %q", err)
			}
			return
		}
		if len(p.Args) == 0 || p.Args[0] == "" || !filepath.IsAbs(p.Cwd) {
			t.Fatalf("accepted process with args %q cwd %q", p.Args, p.Cwd)
		}
	})
}

// FuzzPlan is the host's decoding of a plugin's Prepare answer: any bytes a
// plugin sends as a PrepareResponse go through the checks in plan.add, and
// whatever passes must be safe for the init and the bootstrap: bounded
// seccomp programs, clean absolute paths, a bootstrap message that encodes
// or is refused, and actions that survive the state store's round trip.
func FuzzPlan(f *testing.F) {
	seed := func(acts ...*stagev1.Action) {
		b, err := proto.Marshal(&stagev1.PrepareResponse{State: map[string]string{"k": "v"}, Actions: acts})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ns := func(t stagev1.NamespaceType, p string) *stagev1.Action {
		return &stagev1.Action{Kind: &stagev1.Action_Namespace{Namespace: &stagev1.Namespace{Type: t, Path: p}}}
	}
	seed(ns(stagev1.NamespaceType_NAMESPACE_PID, ""), ns(stagev1.NamespaceType_NAMESPACE_NETWORK, "/proc/1/ns/net"),
		ns(stagev1.NamespaceType_NAMESPACE_TIME, ""))
	seed(&stagev1.Action{Kind: &stagev1.Action_Cgroup{Cgroup: &stagev1.CgroupPlacement{Path: "/sys/fs/cgroup/rung/x"}}})
	seed(&stagev1.Action{Kind: &stagev1.Action_Seccomp{Seccomp: &stagev1.SeccompFilter{Program: make([]byte, 16), Flags: 1}}})
	seed(&stagev1.Action{Kind: &stagev1.Action_ProcAttr{ProcAttr: &stagev1.ProcAttr{Lsm: "apparmor", Attr: "exec", Value: "rung-default"}}},
		&stagev1.Action{Kind: &stagev1.Action_MountLabel{MountLabel: &stagev1.MountLabel{Label: "system_u:object_r:x:s0"}}})
	seed(&stagev1.Action{Kind: &stagev1.Action_TimeOffsets{TimeOffsets: &stagev1.TimeOffsets{MonotonicSecs: -5, BoottimeNanos: 7}}})
	seed(&stagev1.Action{Kind: &stagev1.Action_Landlock{Landlock: &stagev1.Landlock{HandledAccessFs: 3,
		Rules: []*stagev1.LandlockPathRule{{Path: "/usr", AllowedAccess: 1}}}}})
	seed(&stagev1.Action{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp stagev1.PrepareResponse
		if err := proto.Unmarshal(data, &resp); err != nil {
			return
		}
		var pl plan
		if err := pl.add(resp.GetActions()); err != nil {
			// A plugin's strings are quoted in the error, so its newlines
			// cannot forge lines in the runtime's log.
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if d := pl.cgroupDir; d != "" && (!filepath.IsAbs(d) || filepath.Clean(d) != d) {
			t.Fatalf("accepted cgroup dir %q", d)
		}
		for _, s := range pl.init.Seccomp {
			if n := len(s.Program); n == 0 || n%8 != 0 || n/8 > plancheck.MaxSeccompInsns {
				t.Fatalf("accepted a seccomp program of %d bytes", n)
			}
		}
		for _, j := range pl.bootstrap.Joins {
			if !filepath.IsAbs(j.Path) || strings.IndexByte(j.Path, 0) >= 0 {
				t.Fatalf("accepted namespace path %q", j.Path)
			}
		}
		for _, a := range pl.init.ProcAttrs {
			if strings.ContainsAny(a.Value, "\x00\n") || len(a.Value) > plancheck.MaxAttrValue {
				t.Fatalf("accepted proc attr value %q", a.Value)
			}
		}
		for _, l := range pl.init.Landlock {
			for _, r := range l.Rules {
				if !filepath.IsAbs(r.Path) {
					t.Fatalf("accepted landlock path %q", r.Path)
				}
			}
		}
		if strings.ContainsAny(pl.init.MountLabel, ",\x00\n\"") {
			t.Fatalf("accepted mount label %q", pl.init.MountLabel)
		}
		// The bootstrap message either encodes within its bounds or is
		// refused; it never panics.
		if msg, err := pl.bootstrap.Encode(); err == nil && len(msg) > 12+65536 {
			t.Fatalf("bootstrap message of %d bytes", len(msg))
		}
		// What create stores must come back the same for exec and delete.
		stored, err := encodeActions(resp.GetActions())
		if err != nil {
			t.Fatalf("accepted actions do not encode for the state store: %v", err)
		}
		back, err := decodeActions(stored)
		if err != nil {
			t.Fatalf("stored actions do not decode: %v", err)
		}
		// Unknown fields are dropped on the way (the host ignores them
		// anyway); the plan they make must be the same.
		var again plan
		if err := again.add(back); err != nil {
			t.Fatalf("stored actions no longer pass: %v", err)
		}
		if !reflect.DeepEqual(pl, again) {
			t.Fatalf("the plan changed in the state store: %+v -> %+v", pl, again)
		}
	})
}
