// Package install loads a compiled seccomp program into the calling thread.
// It is what the container init imports: pure Go over golang.org/x/sys, no
// cgo and no libseccomp, so that the init links nothing the plugin does.
//
// The program comes from the seccomp stage (a stagev1.SeccompFilter): the
// struct sock_filter array in native byte order and SECCOMP_FILTER_FLAG_*
// bits.
package install

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxInstructions is the kernel's BPF_MAXINSNS.
const MaxInstructions = 4096

// InstructionSize is sizeof(struct sock_filter).
const InstructionSize = 8

// The SECCOMP_FILTER_FLAG_* bits a stage may hand the init.
const (
	FlagTSYNC            = unix.SECCOMP_FILTER_FLAG_TSYNC
	FlagLog              = unix.SECCOMP_FILTER_FLAG_LOG
	FlagSpecAllow        = unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
	FlagNewListener      = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	FlagWaitKillableRecv = unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
)

// Check validates the shape of a program without loading it: non-empty, a
// whole number of instructions, at most MaxInstructions. The kernel checks
// the instructions themselves.
func Check(program []byte) error {
	switch {
	case len(program) == 0:
		return errors.New("seccomp program is empty")
	case len(program)%InstructionSize != 0:
		return fmt.Errorf("seccomp program is %d bytes, not a whole number of %d-byte instructions", len(program), InstructionSize)
	case len(program)/InstructionSize > MaxInstructions:
		return fmt.Errorf("seccomp program has %d instructions; the kernel takes at most %d", len(program)/InstructionSize, MaxInstructions)
	}
	return nil
}

// Install loads program as a seccomp filter with seccomp(2) and returns the
// notify (listener) fd, or -1 if flags has no FlagNewListener.
//
// The filter binds the calling thread only (there is no TSYNC unless flags
// asks for it), so the caller must hold runtime.LockOSThread and call execve
// from this same thread, with nothing but the exec left to do. The thread
// needs no_new_privs set (PR_SET_NO_NEW_PRIVS) or CAP_SYS_ADMIN in its user
// namespace; Install sets neither.
//
// The listener fd is close-on-exec (the kernel makes it so), so the caller
// must pass it on, to the listener at listenerPath, before execve.
func Install(program []byte, flags uint32) (notifyFd int, err error) {
	if err := Check(program); err != nil {
		return -1, err
	}
	filter := make([]unix.SockFilter, len(program)/InstructionSize)
	for i := range filter {
		p := program[i*InstructionSize:]
		filter[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(p[0:]),
			Jt:   p[2],
			Jf:   p[3],
			K:    binary.NativeEndian.Uint32(p[4:]),
		}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, flags %#x, %d instructions): %w", flags, len(filter), errno)
	}
	if flags&FlagNewListener == 0 {
		return -1, nil
	}
	return int(r), nil
}

// SendListener hands the notify fd to the seccomp agent listening on the unix
// socket at path, as the runtime-spec asks: one message whose data is state
// (the JSON of a specs.ContainerProcessState whose "fds" is ["seccompFd"])
// and whose SCM_RIGHTS carry fd. It does not close fd.
//
// path is resolved in the caller's mount namespace, so the caller must be
// in the host's (the agent's socket is a host path).
func SendListener(path string, state []byte, fd int) error {
	if len(state) == 0 {
		return errors.New("seccomp listener: empty state")
	}
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("seccomp listener %s: socket: %w", path, err)
	}
	defer unix.Close(s)
	if err := unix.Connect(s, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("seccomp listener %s: connect: %w", path, err)
	}
	n, err := unix.SendmsgN(s, state, unix.UnixRights(fd), nil, 0)
	if err != nil {
		return fmt.Errorf("seccomp listener %s: sendmsg: %w", path, err)
	}
	// The fd went with the first byte; anything the stream did not take
	// in one go follows without it.
	for n < len(state) {
		m, err := unix.Write(s, state[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("seccomp listener %s: write: %w", path, err)
		}
		n += m
	}
	return nil
}
