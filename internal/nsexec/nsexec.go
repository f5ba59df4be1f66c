// Package nsexec is the pre-Go bootstrap of the container init and the host's
// side of its wire format. Importing it (for side effects, in the rung binary)
// installs the C constructor; see nsexec.c for why it must run before Go.
package nsexec

/*
#cgo CFLAGS: -Wall -Wextra -O2
#include "nsexec.h"

__attribute__((constructor)) static void rung_nsexec_ctor(void) { rung_nsexec(); }
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// Wire constants, mirrored from nsexec.h.
const (
	InitEnv       = C.RUNG_INIT_ENV
	magic         = uint32(C.RUNG_MAGIC)
	wireVersion   = uint16(C.RUNG_WIRE_VERSION)
	MaxBody       = int(C.RUNG_MAX_BODY)
	maxEntries    = int(C.RUNG_MAX_ENTRIES)
	maxJoins      = int(C.RUNG_MAX_JOINS)
	maxPath       = int(C.RUNG_MAX_PATH)
	maxCgroupFds  = int(C.RUNG_MAX_CGROUP_FDS)
	tCloneFlags   = uint16(C.RUNG_T_CLONE_FLAGS)
	tJoin         = uint16(C.RUNG_T_JOIN)
	tTimeOffsets  = uint16(C.RUNG_T_TIME_OFFSETS)
	tCgroupTasks  = uint16(C.RUNG_T_CGROUP_TASKS)
	ReplyAttach   = uint32(C.RUNG_REPLY_ATTACH)
	ReplyPid      = uint32(C.RUNG_REPLY_PID)
	ReplyError    = uint32(C.RUNG_REPLY_ERROR)
	goWord        = uint32(C.RUNG_GO)
	ExitBootstrap = int(C.RUNG_EXIT_BOOTSTRAP)
)

// Join is an existing namespace to enter, by path.
type Join struct {
	Flag int // CLONE_NEW* of the namespace
	Path string
}

// CgroupTasks is a cgroup v1 hierarchy the bootstrap joins itself: Fd is
// the number its tasks file, opened by the host, has in the bootstrap; Dir
// names the cgroup in an error.
type CgroupTasks struct {
	Fd  int
	Dir string
}

// Bootstrap is what the C bootstrap needs: cgroup v1 hierarchies to join,
// namespaces to join and to create.
type Bootstrap struct {
	CloneFlags  uintptr
	Joins       []Join
	TimeOffsets string // "monotonic S N\nboottime S N\n"
	CgroupTasks []CgroupTasks
}

const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET |
	unix.CLONE_NEWPID | unix.CLONE_NEWUSER | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// Encode serialises b, enforcing the same bounds the C side checks.
func (b *Bootstrap) Encode() ([]byte, error) {
	if b.CloneFlags&^namespaceFlags != 0 {
		return nil, fmt.Errorf("bootstrap: clone flags %#x are not namespaces", b.CloneFlags&^namespaceFlags)
	}
	if len(b.Joins) > maxJoins {
		return nil, fmt.Errorf("bootstrap: %d namespaces to join, at most %d", len(b.Joins), maxJoins)
	}
	var body []byte
	entry := func(t uint16, payload []byte) {
		body = binary.LittleEndian.AppendUint16(body, t)
		body = binary.LittleEndian.AppendUint16(body, uint16(len(payload)))
		body = append(body, payload...)
	}
	count := 0
	if b.CloneFlags != 0 {
		entry(tCloneFlags, binary.LittleEndian.AppendUint32(nil, uint32(b.CloneFlags)))
		count++
	}
	for _, j := range b.Joins {
		if j.Flag&^namespaceFlags != 0 || j.Flag == 0 || j.Flag&(j.Flag-1) != 0 {
			return nil, fmt.Errorf("bootstrap: join of unknown namespace flag %#x", j.Flag)
		}
		if j.Path == "" || len(j.Path) > maxPath || strings.IndexByte(j.Path, 0) >= 0 {
			return nil, fmt.Errorf("bootstrap: namespace path %q is empty, too long or has a NUL", j.Path)
		}
		entry(tJoin, append(binary.LittleEndian.AppendUint32(nil, uint32(j.Flag)), j.Path...))
		count++
	}
	if b.TimeOffsets != "" {
		if len(b.TimeOffsets) > maxPath {
			return nil, errors.New("bootstrap: time offsets too long")
		}
		entry(tTimeOffsets, []byte(b.TimeOffsets))
		count++
	}
	if len(b.CgroupTasks) > maxCgroupFds {
		return nil, fmt.Errorf("bootstrap: %d cgroup v1 hierarchies, at most %d", len(b.CgroupTasks), maxCgroupFds)
	}
	for _, c := range b.CgroupTasks {
		if c.Fd < 3 || c.Fd > 1024 {
			return nil, fmt.Errorf("bootstrap: cgroup tasks fd %d out of range", c.Fd)
		}
		if c.Dir == "" || len(c.Dir) > maxPath || strings.IndexByte(c.Dir, 0) >= 0 {
			return nil, fmt.Errorf("bootstrap: cgroup path %q is empty, too long or has a NUL", c.Dir)
		}
		entry(tCgroupTasks, append(binary.LittleEndian.AppendUint32(nil, uint32(c.Fd)), c.Dir...))
		count++
	}
	if len(body) > MaxBody || count > maxEntries {
		return nil, fmt.Errorf("bootstrap: message of %d bytes exceeds %d", len(body), MaxBody)
	}
	hdr := binary.LittleEndian.AppendUint32(nil, magic)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(wireVersion)|uint32(count)<<16)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(body)))
	return append(hdr, body...), nil
}

// Reply is one message from the bootstrap.
type Reply struct {
	Type  uint32
	Value int
	Text  string
}

// ReadReply reads one bootstrap reply, bounding an error text to 4 KiB.
func ReadReply(r io.Reader) (Reply, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Reply{}, err
	}
	rep := Reply{Type: binary.LittleEndian.Uint32(hdr[:4]), Value: int(int32(binary.LittleEndian.Uint32(hdr[4:])))}
	switch rep.Type {
	case ReplyAttach, ReplyPid:
		if rep.Value <= 0 {
			return rep, fmt.Errorf("bootstrap: reply %d with pid %d", rep.Type, rep.Value)
		}
	case ReplyError:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return rep, err
		}
		n := binary.LittleEndian.Uint32(l[:])
		if n > 4096 {
			return rep, fmt.Errorf("bootstrap: error text of %d bytes", n)
		}
		text := make([]byte, n)
		if _, err := io.ReadFull(r, text); err != nil {
			return rep, err
		}
		rep.Text = string(text)
	default:
		return rep, fmt.Errorf("bootstrap: unknown reply type %d", rep.Type)
	}
	return rep, nil
}

// Go is the word that releases the bootstrap after every Attach.
func Go() []byte { return binary.LittleEndian.AppendUint32(nil, goWord) }
