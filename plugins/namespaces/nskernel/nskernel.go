// Package nskernel is the part of the rung-namespaces stage that touches the
// kernel: which namespace types exist, whether a path is a namespace to join,
// and the effects Attach makes on a waiting init from outside (its id maps,
// its loopback interface).
package nskernel

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/plugins/namespaces/nsplan"
)

// Supported returns the namespace types this kernel has, in the order
// `features` lists them, judged by the entries of /proc/self/ns.
func Supported() []specs.LinuxNamespaceType {
	var out []specs.LinuxNamespaceType
	for _, k := range nsplan.Kinds {
		if _, err := os.Lstat("/proc/self/ns/" + k.Proc); err == nil {
			out = append(out, k.Type)
		}
	}
	return out
}

// Host is the nsplan.Host of this machine.
type Host struct {
	supported map[specs.LinuxNamespaceType]bool
}

// NewHost looks up the kernel's namespace types once.
func NewHost() *Host {
	h := &Host{supported: map[specs.LinuxNamespaceType]bool{}}
	for _, t := range Supported() {
		h.supported[t] = true
	}
	return h
}

// Supported implements nsplan.Host.
func (h *Host) Supported(t specs.LinuxNamespaceType) bool { return h.supported[t] }

// CheckJoin implements nsplan.Host.
func (h *Host) CheckJoin(t specs.LinuxNamespaceType, path string) (bool, error) {
	return CheckJoin(t, path)
}

// CheckJoin checks that path is a namespace of type t and reports whether it
// is this process's own namespace of that type. It opens path with O_PATH
// first so that a FIFO or device planted at the path is neither blocked on
// nor opened for real, and only reopens it for the type ioctl once fstatfs
// has shown it is an nsfs file.
func CheckJoin(t specs.LinuxNamespaceType, path string) (own bool, err error) {
	k, ok := nsplan.KindOf(t)
	if !ok {
		return false, fmt.Errorf("unknown namespace type %q", t)
	}
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(pfd)
	if err := isFS(pfd, unix.NSFS_MAGIC); err != nil {
		return false, fmt.Errorf("%s is not a namespace: %w", path, err)
	}
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("reopen %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := checkType(fd, k); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return sameAsSelf(fd, k)
}

// isFS checks that fd lives on a filesystem with the given magic.
func isFS(fd int, magic int64) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("fstatfs: %w", err)
	}
	if int64(st.Type) != magic {
		return fmt.Errorf("filesystem type 0x%x, want 0x%x", uint64(st.Type), uint64(magic))
	}
	return nil
}

// checkType asks nsfs which kind of namespace fd is.
func checkType(fd int, k nsplan.Kind) error {
	got, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("ioctl NS_GET_NSTYPE: %w", err)
	}
	if got != k.CloneFlag {
		return fmt.Errorf("is a %s namespace, not %s", kindName(got), k.Type)
	}
	return nil
}

func kindName(flag int) string {
	for _, k := range nsplan.Kinds {
		if k.CloneFlag == flag {
			return string(k.Type)
		}
	}
	return fmt.Sprintf("0x%x", flag)
}

// sameAsSelf reports whether namespace fd is this process's own of kind k.
func sameAsSelf(fd int, k nsplan.Kind) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		return false, fmt.Errorf("fstat: %w", err)
	}
	self := "/proc/self/ns/" + k.Proc
	if err := unix.Stat(self, &b); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", self, err)
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}
