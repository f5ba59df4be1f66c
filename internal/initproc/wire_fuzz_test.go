package initproc

import (
	"bytes"
	"encoding/binary"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// limitReader records the largest buffer a read was made into, which is
// what a declared frame length made ReadFrame allocate.
type limitReader struct {
	r       io.Reader
	largest int
}

func (l *limitReader) Read(b []byte) (int, error) {
	l.largest = max(l.largest, len(b))
	return l.r.Read(b)
}

func frame(payload []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// FuzzReadFrame: the host reads frames from the init (a process inside the
// container's namespaces) and the init reads its config from the host. Any
// bytes must be refused or decoded within MaxFrame, never a panic and
// never an allocation past the bound; and what WriteFrame sends comes back.
func FuzzReadFrame(f *testing.F) {
	cfg, _ := seedConfig().MarshalBinary()
	f.Add(frame(cfg))
	f.Add(frame([]byte(`{"type":"ready"}`)))
	f.Add(frame([]byte(`{"type":"error","error":"x"}`)))
	f.Add(binary.LittleEndian.AppendUint32(nil, MaxFrame+1))
	f.Add(binary.LittleEndian.AppendUint32(nil, 0xffffffff))
	f.Add(append(binary.LittleEndian.AppendUint32(nil, 100), "short"...))
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, read := range []func(io.Reader) error{
			func(r io.Reader) error { return ReadFrame(r, &Message{}) },
			func(r io.Reader) error { return ReadConfig(r, &Config{}) },
		} {
			r := &limitReader{r: bytes.NewReader(data)}
			err := read(r)
			if r.largest > MaxFrame {
				t.Fatalf("read into %d bytes, past MaxFrame", r.largest)
			}
			if len(data) >= 4 && binary.LittleEndian.Uint32(data) > MaxFrame && err == nil {
				t.Fatalf("accepted a frame declaring %d bytes", binary.LittleEndian.Uint32(data))
			}
		}
		// Round trip of what the host and the init send each other.
		if !utf8.Valid(data) {
			return
		}
		var buf bytes.Buffer
		m := Message{Type: MsgError, Error: string(data)}
		if err := WriteFrame(&buf, m); err != nil {
			t.Fatalf("WriteFrame: %v", err)
		}
		var back Message
		if err := ReadFrame(&buf, &back); err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip: %+v -> %+v, %v", m, back, err)
		}
	})
}

func seedConfig() *Config {
	umask, timeout := uint32(0o22), 5
	return &Config{Build: BuildID(), ID: "c", Rootfs: "/r", FifoFd: 4,
		Spec: &specs.Spec{
			Version: "1.3.0",
			Process: &specs.Process{Args: []string{"sh"}, Env: []string{"PATH=/bin"}, Cwd: "/",
				User:         specs.User{UID: 1, GID: 2, Umask: &umask, AdditionalGids: []uint32{3, 4}},
				Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}},
				Rlimits:      []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}},
			Root:   &specs.Root{Path: "rootfs"},
			Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid"}}},
			Hooks:  &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true", Timeout: &timeout}}},
			Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}},
				Devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, UID: &umask}},
				Sysctl:  map[string]string{"a": "1", "b": "2"}, MaskedPaths: []string{"/proc/kcore"}},
		},
		Plan: Plan{
			Seccomp:   []Seccomp{{Program: make([]byte, 8), Flags: 1}},
			ProcAttrs: []ProcAttr{{LSM: "apparmor", Attr: "exec", Value: "p"}},
			Landlock:  []Landlock{{HandledAccessFS: 1, Rules: []LandlockRule{{Path: "/", Access: 1}}}},
		},
		State: &specs.State{ID: "c", Pid: 9, Annotations: map[string]string{"k": "v", "j": "w"}},
	}
}

// FuzzConfigWire: the init decodes its config from bytes the host wrote;
// whatever the bytes, no panic, and what decodes is what it re-encodes to.
func FuzzConfigWire(f *testing.F) {
	for _, c := range []*Config{seedConfig(), {Build: BuildID()}, {Build: BuildID(), Spec: &specs.Spec{}, State: &specs.State{}}} {
		b, _ := c.MarshalBinary()
		f.Add(b)
	}
	other := &enc{b: []byte(configMagic)}
	other.str("other/init-wire-1")
	f.Add(other.b)
	f.Add([]byte(configMagic))
	f.Add([]byte(`{"build":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if err := c.UnmarshalBinary(data); err != nil {
			if !reflect.DeepEqual(c, Config{}) {
				t.Fatalf("failed decode (%v) left %+v", err, c)
			}
			return
		}
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("re-encoded config: %v\n got %+v\nwant %+v", err, back, c)
		}
	})
}
