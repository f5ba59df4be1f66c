package lifecycle

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sealedSelf returns a sealed memfd copy of the running binary to re-execute
// as the init. A container that reaches the init's /proc/self/exe then finds
// a sealed anonymous file, not the host's rung (CVE-2019-5736).
//
// The fd is placed above every fd of files, because exec.Cmd rearranges
// those in the child before execve and could reuse a low number.
func sealedSelf(files []*os.File) (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("sealing the init binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("rung-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("sealing the init binary: memfd: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "rung-init")
	fi, err := src.Stat()
	if err != nil {
		mem.Close()
		return nil, err
	}
	for copied := int64(0); copied < fi.Size(); {
		n, err := unix.Sendfile(fd, int(src.Fd()), nil, int(fi.Size()-copied))
		if err != nil || n == 0 {
			mem.Close()
			return nil, fmt.Errorf("sealing the init binary: copy: %v", err)
		}
		copied += int64(n)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("sealing the init binary: seals: %w", err)
	}
	high := 3 + len(files)
	for _, f := range files {
		if n := int(f.Fd()); n > high {
			high = n
		}
	}
	high += len(files) + 8
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, high)
	mem.Close()
	if err != nil {
		return nil, fmt.Errorf("sealing the init binary: %w", err)
	}
	return os.NewFile(uintptr(dup), "rung-init"), nil
}
