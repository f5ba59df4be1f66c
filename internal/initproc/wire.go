// Package initproc is the container's init (`rung init`, the host binary
// re-executed) and the host's side of the conversation with it. The init
// applies the host's rootfs and process setup and the plugins' typed plan;
// it never runs plugin code.
package initproc

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// MaxFrame bounds every host↔init message (CVE-2021-43784 class): a spec
// with thousands of mounts and env entries still fits.
const MaxFrame = 8 << 20

// WriteFrame sends v as a length-prefixed JSON frame.
func WriteFrame(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(data) > MaxFrame {
		return fmt.Errorf("init message of %d bytes exceeds %d", len(data), MaxFrame)
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(data)), uint32(len(data)))
	_, err = w.Write(append(buf, data...))
	return err
}

// ReadFrame reads one frame into v, refusing lengths above MaxFrame.
func ReadFrame(r io.Reader, v any) error {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return err
	}
	n := binary.LittleEndian.Uint32(l[:])
	if n > MaxFrame {
		return fmt.Errorf("init message of %d bytes exceeds %d", n, MaxFrame)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// Message types the init sends.
const (
	MsgHooks   = "hooks"   // rootfs prepared: run createRuntime/prestart now
	MsgReady   = "ready"   // waiting on the exec fifo (create) or about to exec (exec)
	MsgError   = "error"   // setup failed; Error says why
	MsgHooksOK = "hooksOK" // host → init: hooks ran
)

// Message is a frame from the init, or the host's answer to a hooks request.
type Message struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
}
