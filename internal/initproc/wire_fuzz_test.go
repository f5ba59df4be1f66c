package initproc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"
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
	cfg, _ := json.Marshal(&Config{ID: "c", Rootfs: "/r", FifoFd: 4, Plan: Plan{
		Seccomp:   []Seccomp{{Program: make([]byte, 8), Flags: 1}},
		ProcAttrs: []ProcAttr{{LSM: "apparmor", Attr: "exec", Value: "p"}},
		Landlock:  []Landlock{{HandledAccessFS: 1, Rules: []LandlockRule{{Path: "/", Access: 1}}}},
	}})
	f.Add(frame(cfg))
	f.Add(frame([]byte(`{"type":"ready"}`)))
	f.Add(frame([]byte(`{"type":"error","error":"x"}`)))
	f.Add(binary.LittleEndian.AppendUint32(nil, MaxFrame+1))
	f.Add(binary.LittleEndian.AppendUint32(nil, 0xffffffff))
	f.Add(append(binary.LittleEndian.AppendUint32(nil, 100), "short"...))
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []any{&Message{}, &Config{}} {
			r := &limitReader{r: bytes.NewReader(data)}
			err := ReadFrame(r, v)
			if r.largest > MaxFrame {
				t.Fatalf("ReadFrame read into %d bytes, past MaxFrame", r.largest)
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
