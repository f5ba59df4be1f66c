package nskernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
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

// LoopbackUp sets "lo" up in the init's network namespace. The work happens
// on a goroutine locked to its own OS thread, which enters the namespace and
// leaves it again; if it cannot get back, the thread is never unlocked, so Go
// ends it with the goroutine instead of letting other code run in the
// container's namespace.
func (p *Proc) LoopbackUp(ctx context.Context) error {
	fd, own, err := p.OpenNS(specs.NetworkNamespace)
	if err != nil {
		return err
	}
	if own {
		unix.Close(fd)
		return fmt.Errorf("init (pid %d) is still in the runtime's network namespace: it did not create its own", p.pid)
	}
	errc := make(chan error, 1)
	go func() {
		// The goroutine owns fd: the caller may give up on ctx first.
		defer unix.Close(fd)
		runtime.LockOSThread()
		back, err := loopbackUpIn(fd)
		if back {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("bring up lo of init (pid %d): %w", p.pid, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bring up lo of init (pid %d): %w", p.pid, ctx.Err())
	}
}

// loopbackUpIn runs on a locked thread. back is false only if the thread was
// left in the target namespace.
func loopbackUpIn(target int) (back bool, err error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, fmt.Errorf("open own network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := isFS(orig, unix.NSFS_MAGIC); err != nil {
		return true, fmt.Errorf("own network namespace: %w", err)
	}
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("setns: %w", err)
	}
	upErr := setLinkUp("lo")
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return false, errors.Join(upErr, fmt.Errorf("return to own network namespace: %w", err))
	}
	return true, upErr
}

// netlinkTimeout bounds each netlink request so a wedged kernel answer
// cannot hold Attach past the host's deadline.
const netlinkTimeout = 10 * time.Second

// setLinkUp works in the calling thread's network namespace: the handle's
// socket is created here and stays bound to this namespace.
func setLinkUp(name string) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer h.Close()
	if err := h.SetSocketTimeout(netlinkTimeout); err != nil {
		return fmt.Errorf("netlink socket timeout: %w", err)
	}
	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
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
// id maps for a new user namespace, loopback up in a new network namespace.
// done lists what was done, for the stored state.
func Attach(ctx context.Context, pid int, st *nsplan.State) (done []string, err error) {
	needUser := st.IsNew(specs.UserNamespace) && (len(st.UIDMappings) > 0 || len(st.GIDMappings) > 0)
	needNet := st.IsNew(specs.NetworkNamespace)
	if !needUser && !needNet {
		return nil, nil
	}
	p, err := OpenProc(pid)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if needUser {
		d, err := p.WriteIDMaps(st.UIDMappings, st.GIDMappings, nsplan.SetgroupsDeny(HaveSetgid()))
		done = append(done, d...)
		if err != nil {
			return done, err
		}
	}
	if needNet {
		if err := p.LoopbackUp(ctx); err != nil {
			return done, err
		}
		done = append(done, "loopback")
	}
	return done, nil
}
