package nskernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/plugins/namespaces/nsplan"
)

// Proc is a handle on /proc/<pid> of a waiting init, opened so that every
// file under it is reached without following a symlink and checked to be on
// procfs: a path that leads anywhere else must not receive an id map.
type Proc struct {
	pid int
	dir int // O_PATH fd of /proc/<pid>
}

const resolveStrict = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// OpenProc opens /proc/<pid>, checking that /proc is procfs.
func OpenProc(pid int) (*Proc, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("invalid init pid %d", pid)
	}
	root, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /proc: %w", err)
	}
	defer unix.Close(root)
	if err := isFS(root, unix.PROC_SUPER_MAGIC); err != nil {
		return nil, fmt.Errorf("/proc is not procfs: %w", err)
	}
	dir, err := openBeneath(root, strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, fmt.Errorf("open /proc/%d: %w", pid, err)
	}
	return &Proc{pid: pid, dir: dir}, nil
}

// Close releases the handle.
func (p *Proc) Close() error {
	if p.dir < 0 {
		return nil
	}
	err := unix.Close(p.dir)
	p.dir = -1
	return err
}

// openBeneath opens name under dir without following any symlink, on the
// same mount, and checks the result is on procfs.
func openBeneath(dir int, name string, flags int) (int, error) {
	fd, err := unix.Openat2(dir, name, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveStrict})
	if errors.Is(err, unix.ENOSYS) {
		// Kernels before 5.6: a single component with O_NOFOLLOW is the
		// same guarantee for the names used here.
		fd, err = unix.Openat(dir, name, flags|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return -1, err
	}
	if err := isFS(fd, unix.PROC_SUPER_MAGIC); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("not on procfs: %w", err)
	}
	return fd, nil
}

// OpenNS opens the init's namespace of type t (its ns/<name> magic link,
// which has to be followed) and checks that it is an nsfs file of that type.
// own reports whether it is also the plugin's own namespace, i.e. the init
// has not made a new one.
func (p *Proc) OpenNS(t specs.LinuxNamespaceType) (fd int, own bool, err error) {
	k, ok := nsplan.KindOf(t)
	if !ok {
		return -1, false, fmt.Errorf("unknown namespace type %q", t)
	}
	name := "ns/" + k.Proc
	fd, err = unix.Openat(p.dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false, fmt.Errorf("open /proc/%d/%s: %w", p.pid, name, err)
	}
	fail := func(err error) (int, bool, error) {
		unix.Close(fd)
		return -1, false, fmt.Errorf("/proc/%d/%s: %w", p.pid, name, err)
	}
	if err := isFS(fd, unix.NSFS_MAGIC); err != nil {
		return fail(err)
	}
	if err := checkType(fd, k); err != nil {
		return fail(err)
	}
	own, err = sameAsSelf(fd, k)
	if err != nil {
		return fail(err)
	}
	return fd, own, nil
}

func (p *Proc) read(name string) ([]byte, error) {
	fd, err := openBeneath(p.dir, name, unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("open /proc/%d/%s: %w", p.pid, name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// A full map is at most 340 lines of 3 padded 10-digit fields.
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read /proc/%d/%s: %w", p.pid, name, err)
	}
	return b, nil
}

// write puts data into /proc/<pid>/<name> in one write(2), as the id map
// files require.
func (p *Proc) write(name string, data []byte) error {
	fd, err := openBeneath(p.dir, name, unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("open /proc/%d/%s: %w", p.pid, name, err)
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, data)
	if err != nil {
		return fmt.Errorf("write /proc/%d/%s: %w", p.pid, name, err)
	}
	if n != len(data) {
		return fmt.Errorf("write /proc/%d/%s: short write (%d of %d bytes)", p.pid, name, n, len(data))
	}
	return nil
}

// WriteIDMaps sets the uid and gid maps of the init's new user namespace.
// It first makes sure the init really is in a user namespace other than the
// plugin's (otherwise the write would target the host's own). A map already
// holding exactly these mappings (a repeated Attach) is left alone.
func (p *Proc) WriteIDMaps(uid, gid []specs.LinuxIDMapping, setgroupsDeny bool) (done []string, err error) {
	fd, own, err := p.OpenNS(specs.UserNamespace)
	if err != nil {
		return nil, err
	}
	unix.Close(fd)
	if own {
		return nil, fmt.Errorf("init (pid %d) is still in the runtime's user namespace: it did not create its own", p.pid)
	}
	if len(uid) > 0 {
		if err := p.writeMap("uid_map", uid); err != nil {
			return done, err
		}
		done = append(done, "uid_map")
	}
	if len(gid) > 0 {
		if setgroupsDeny {
			if err := p.denySetgroups(); err != nil {
				return done, err
			}
			done = append(done, "setgroups")
		}
		if err := p.writeMap("gid_map", gid); err != nil {
			return done, err
		}
		done = append(done, "gid_map")
	}
	return done, nil
}

func (p *Proc) writeMap(name string, m []specs.LinuxIDMapping) error {
	if len(m) > nsplan.MaxIDMappings {
		return fmt.Errorf("%s: %d mappings, more than the kernel's %d", name, len(m), nsplan.MaxIDMappings)
	}
	data := nsplan.RenderIDMap(m)
	if len(data) > nsplan.MaxMapBytes {
		return fmt.Errorf("%s: %d bytes, more than the kernel's %d", name, len(data), nsplan.MaxMapBytes)
	}
	cur, err := p.read(name)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(cur))) > 0 {
		if nsplan.SameIDMap(cur, m) {
			return nil
		}
		return fmt.Errorf("/proc/%d/%s is already set to other mappings", p.pid, name)
	}
	return p.write(name, data)
}

func (p *Proc) denySetgroups() error {
	cur, err := p.read("setgroups")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(cur)) == "deny" {
		return nil
	}
	return p.write("setgroups", []byte("deny"))
}

// HaveSetgid reports whether this process has CAP_SETGID in its effective
// set, which decides whether gid_map needs setgroups "deny" first.
func HaveSetgid() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	const c = unix.CAP_SETGID
	return data[c/32].Effective&(1<<(c%32)) != 0
}

// Attach makes the out-of-process effects st asks for on the init at pid:
// the id maps of a new user namespace (lo of a new network namespace is the
// init's own work). done lists what was done, for the stored state.
func Attach(ctx context.Context, pid int, st *nsplan.State) (done []string, err error) {
	if !nsplan.NeedsAttach(st) {
		return nil, nil
	}
	p, err := OpenProc(pid)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.WriteIDMaps(st.UIDMappings, st.GIDMappings, nsplan.SetgroupsDeny(HaveSetgid()))
}
