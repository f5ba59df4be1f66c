package initproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The init's Config travels in this hand-written binary form, not JSON:
// every init is a fresh process, and encoding/json's first decode of a type
// builds its reflection caches, ~650 µs of a ~750 µs cold decode here and
// tens of ms under TCG, on the path of every create (the host's first
// Marshal paid the same way). This form has nothing to warm up: ~6 µs,
// ~40 µs in a fresh process, most of that first-touch page faults. The
// Message frames stay JSON: their types are small, cheap to warm.
//
// Layout: configMagic, then Build (so that an init of another build can say
// so before parsing anything it might misread), then every field in
// declaration order. Integers are varints (zigzag when signed), strings and
// lists a uvarint count then their items, bools and the presence of a
// pointer one byte 0 or 1, maps their entries in ascending key order so the
// bytes are deterministic. An empty slice or map decodes as nil: the init
// tests them with len, and JSON's omitempty had already made them nil.
// Pointers keep their presence exactly (the init tests Process.Capabilities,
// Hooks, Linux, Umask, ... for nil).
//
// A new field in Config, Plan or any spec type the init's spec carries must
// be added to both sides here; TestConfigWireCarriesEveryField fails until
// it is.

// configMagic starts the frame; its NUL can start no JSON document, so an
// init reading an older host's JSON config can tell.
const configMagic = "\x00rungcfg"

// otherBuildError is the init's answer to a config from another build.
type otherBuildError struct{ host string }

func (e *otherBuildError) Error() string {
	return fmt.Sprintf("the init binary was built as %q, rung as %q: install rung and rung-init from one build", BuildID(), e.host)
}

// MarshalBinary encodes c with its spec in the init's form (toInitSpec).
func (c *Config) MarshalBinary() ([]byte, error) {
	e := &enc{b: make([]byte, 0, 4096)}
	e.b = append(e.b, configMagic...)
	e.str(c.Build)
	e.str(c.ID)
	e.str(c.Bundle)
	e.str(c.Rootfs)
	if w := toInitSpec(c.Spec); e.present(w != nil) {
		e.initSpec(w)
	}
	e.bool(c.NoPivot)
	e.bool(c.NoNewKeyring)
	e.bool(c.Exec)
	e.str(c.ExecRoot)
	e.int(c.FifoFd)
	e.int(c.ConsoleSocketFd)
	e.int(c.PreserveFds)
	e.bool(c.NewPidNS)
	e.bool(c.NewUTS)
	e.plan(&c.Plan)
	if e.present(c.State != nil) {
		e.state(c.State)
	}
	e.bool(c.Timing)
	return e.b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote, or fails leaving c
// zero. A config of another build gives an *otherBuildError before
// anything past Build is read.
func (c *Config) UnmarshalBinary(b []byte) error {
	*c = Config{}
	if len(b) < len(configMagic) || string(b[:len(configMagic)]) != configMagic {
		return errors.New("init config: not a rung config frame")
	}
	// One string for the whole frame: every decoded string is a slice of
	// it, one allocation instead of one per string.
	d := &dec{s: string(b[len(configMagic):])}
	build := d.str("build")
	if d.err != nil {
		return d.err
	}
	if build != BuildID() {
		return &otherBuildError{host: build}
	}
	c.Build = build
	c.ID = d.str("id")
	c.Bundle = d.str("bundle")
	c.Rootfs = d.str("rootfs")
	if d.present("spec") {
		var w initSpec
		d.initSpec(&w)
		c.Spec = w.spec()
	}
	c.NoPivot = d.bool("noPivot")
	c.NoNewKeyring = d.bool("noNewKeyring")
	c.Exec = d.bool("exec")
	c.ExecRoot = d.str("execRoot")
	c.FifoFd = d.int("fifoFd")
	c.ConsoleSocketFd = d.int("consoleSocketFd")
	c.PreserveFds = d.int("preserveFds")
	c.NewPidNS = d.bool("newPidNS")
	c.NewUTS = d.bool("newUTS")
	d.plan(&c.Plan)
	c.State = decPtr(d, "state", (*dec).state)
	c.Timing = d.bool("timing")
	if d.err == nil && d.off != len(d.s) {
		d.err = fmt.Errorf("init config: %d bytes after the end", len(d.s)-d.off)
	}
	if d.err != nil {
		*c = Config{}
		return d.err
	}
	return nil
}

// enc appends; it cannot fail.
type enc struct{ b []byte }

func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) int(v int)        { e.varint(int64(v)) }
func (e *enc) u32(v uint32)     { e.uvarint(uint64(v)) }

func (e *enc) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// present writes whether a pointer is set and returns it, for
// `if e.present(p != nil) { ... }`.
func (e *enc) present(v bool) bool {
	e.bool(v)
	return v
}

func encStrs[S ~string](e *enc, l []S) {
	e.uvarint(uint64(len(l)))
	for _, s := range l {
		e.str(string(s))
	}
}

func encList[T any](e *enc, l []T, f func(*enc, *T)) {
	e.uvarint(uint64(len(l)))
	for i := range l {
		f(e, &l[i])
	}
}

func (e *enc) strMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

// dec reads s from off. The first failure is kept in err and every later
// read returns a zero value, so decoders read on without checking and the
// caller looks at err once. Counts are checked against the bytes left
// before anything is allocated for them.
type dec struct {
	s   string
	off int
	err error
}

func (d *dec) fail(what, why string) {
	if d.err == nil {
		d.err = fmt.Errorf("init config: %s: %s", what, why)
	}
}

func (d *dec) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	if d.off < len(d.s) && d.s[d.off] < 0x80 { // most lengths and counts
		d.off++
		return uint64(d.s[d.off-1])
	}
	var v uint64
	for shift, i := 0, d.off; i < len(d.s); shift, i = shift+7, i+1 {
		c := d.s[i]
		if shift == 63 && c > 1 {
			d.fail(what, "varint overflows 64 bits")
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			d.off = i + 1
			return v
		}
	}
	d.fail(what, "truncated")
	return 0
}

func (d *dec) varint(what string) int64 {
	u := d.uvarint(what)
	return int64(u>>1) ^ -int64(u&1)
}

// signedIn and unsignedIn narrow a decoded varint to the field's type,
// refusing a value that does not fit rather than wrapping it.
func signedIn[T ~int | ~int32](d *dec, what string) T {
	v := d.varint(what)
	if int64(T(v)) != v {
		d.fail(what, "out of range")
		return 0
	}
	return T(v)
}

func unsignedIn[T ~uint | ~uint32](d *dec, what string) T {
	v := d.uvarint(what)
	if uint64(T(v)) != v {
		d.fail(what, "out of range")
		return 0
	}
	return T(v)
}

func (d *dec) int(what string) int    { return signedIn[int](d, what) }
func (d *dec) i32(what string) int32  { return signedIn[int32](d, what) }
func (d *dec) u32(what string) uint32 { return unsignedIn[uint32](d, what) }
func (d *dec) uint(what string) uint  { return unsignedIn[uint](d, what) }

func (d *dec) bool(what string) bool {
	if d.err != nil {
		return false
	}
	if d.off >= len(d.s) {
		d.fail(what, "truncated")
		return false
	}
	c := d.s[d.off]
	if c > 1 {
		d.fail(what, "invalid bool")
		return false
	}
	d.off++
	return c == 1
}

func (d *dec) present(what string) bool { return d.bool(what) }

func (d *dec) str(what string) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.off) {
		d.fail(what, fmt.Sprintf("string of %d bytes, %d left", n, len(d.s)-d.off))
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

// count reads a list's length, refusing one that the bytes left could not
// hold at minSize bytes an item: what it allocates, the input paid for.
func (d *dec) count(what string, minSize int) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if left := len(d.s) - d.off; n > uint64(left/minSize) {
		d.fail(what, fmt.Sprintf("%d items, %d bytes left", n, left))
		return 0
	}
	return int(n)
}

func decStrs[S ~string](d *dec, what string) []S {
	n := d.count(what, 1)
	if n == 0 {
		return nil
	}
	l := make([]S, n)
	for i := range l {
		l[i] = S(d.str(what))
	}
	return l
}

func decList[T any](d *dec, what string, minSize int, f func(*dec, *T)) []T {
	n := d.count(what, minSize)
	if n == 0 {
		return nil
	}
	l := make([]T, n)
	for i := range l {
		if f(d, &l[i]); d.err != nil {
			return nil
		}
	}
	return l
}

func decPtr[T any](d *dec, what string, f func(*dec, *T)) *T {
	if !d.present(what) {
		return nil
	}
	v := new(T)
	f(d, v)
	return v
}

func (d *dec) strMap(what string) map[string]string {
	n := d.count(what, 2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	prev := ""
	for i := range n {
		k := d.str(what)
		if i > 0 && k <= prev {
			d.fail(what, "keys out of order")
		}
		if d.err != nil {
			return nil
		}
		m[k] = d.str(what)
		prev = k
	}
	return m
}

func (d *dec) u32Ptr(what string) *uint32 {
	return decPtr(d, what, func(d *dec, v *uint32) { *v = d.u32(what) })
}

func (d *dec) intPtr(what string) *int {
	return decPtr(d, what, func(d *dec, v *int) { *v = d.int(what) })
}

// The smallest encodings of list items, which bound what a count may
// declare.
const (
	minRlimit    = 3 // type, hard, soft
	minMount     = 6 // destination, type, source, options, uidMappings, gidMappings
	minIDMapping = 3
	minHook      = 4 // path, args, env, timeout presence
	minNamespace = 2
	minDevice    = 7 // path, type, major, minor, three presence bytes
	minSeccomp   = 4
	minProcAttr  = 3
	minLandlock  = 2
	minRule      = 2
	minGid       = 1
)

func (e *enc) initSpec(w *initSpec) {
	e.str(w.Version)
	if e.present(w.Process != nil) {
		e.process(w.Process)
	}
	if e.present(w.Root != nil) {
		e.str(w.Root.Path)
		e.bool(w.Root.Readonly)
	}
	e.str(w.Hostname)
	e.str(w.Domainname)
	encList(e, w.Mounts, (*enc).mount)
	if e.present(w.Hooks != nil) {
		e.hooks(w.Hooks)
	}
	if l := w.Linux; e.present(l != nil) {
		encList(e, l.Namespaces, func(e *enc, n *specs.LinuxNamespace) {
			e.str(string(n.Type))
			e.str(n.Path)
		})
		encList(e, l.Devices, (*enc).device)
		e.strMap(l.Sysctl)
		e.str(l.RootfsPropagation)
		encStrs(e, l.MaskedPaths)
		encStrs(e, l.ReadonlyPaths)
		e.str(l.MountLabel)
	}
}

func (d *dec) initSpec(w *initSpec) {
	w.Version = d.str("spec.ociVersion")
	w.Process = decPtr(d, "spec.process", (*dec).process)
	w.Root = decPtr(d, "spec.root", func(d *dec, r *specs.Root) {
		r.Path = d.str("spec.root.path")
		r.Readonly = d.bool("spec.root.readonly")
	})
	w.Hostname = d.str("spec.hostname")
	w.Domainname = d.str("spec.domainname")
	w.Mounts = decList(d, "spec.mounts", minMount, (*dec).mount)
	w.Hooks = decPtr(d, "spec.hooks", (*dec).hooks)
	w.Linux = decPtr(d, "spec.linux", func(d *dec, l *initLinux) {
		l.Namespaces = decList(d, "spec.linux.namespaces", minNamespace, func(d *dec, n *specs.LinuxNamespace) {
			n.Type = specs.LinuxNamespaceType(d.str("spec.linux.namespaces.type"))
			n.Path = d.str("spec.linux.namespaces.path")
		})
		l.Devices = decList(d, "spec.linux.devices", minDevice, (*dec).device)
		l.Sysctl = d.strMap("spec.linux.sysctl")
		l.RootfsPropagation = d.str("spec.linux.rootfsPropagation")
		l.MaskedPaths = decStrs[string](d, "spec.linux.maskedPaths")
		l.ReadonlyPaths = decStrs[string](d, "spec.linux.readonlyPaths")
		l.MountLabel = d.str("spec.linux.mountLabel")
	})
}

func (e *enc) process(p *specs.Process) {
	e.bool(p.Terminal)
	if e.present(p.ConsoleSize != nil) {
		e.uvarint(uint64(p.ConsoleSize.Height))
		e.uvarint(uint64(p.ConsoleSize.Width))
	}
	u := &p.User
	e.u32(u.UID)
	e.u32(u.GID)
	if e.present(u.Umask != nil) {
		e.u32(*u.Umask)
	}
	encList(e, u.AdditionalGids, func(e *enc, g *uint32) { e.u32(*g) })
	e.str(u.Username)
	encStrs(e, p.Args)
	e.str(p.CommandLine)
	encStrs(e, p.Env)
	e.str(p.Cwd)
	if c := p.Capabilities; e.present(c != nil) {
		encStrs(e, c.Bounding)
		encStrs(e, c.Effective)
		encStrs(e, c.Inheritable)
		encStrs(e, c.Permitted)
		encStrs(e, c.Ambient)
	}
	encList(e, p.Rlimits, func(e *enc, r *specs.POSIXRlimit) {
		e.str(r.Type)
		e.uvarint(r.Hard)
		e.uvarint(r.Soft)
	})
	e.bool(p.NoNewPrivileges)
	e.str(p.ApparmorProfile)
	if e.present(p.OOMScoreAdj != nil) {
		e.int(*p.OOMScoreAdj)
	}
	if s := p.Scheduler; e.present(s != nil) {
		e.str(string(s.Policy))
		e.varint(int64(s.Nice))
		e.varint(int64(s.Priority))
		encStrs(e, s.Flags)
		e.uvarint(s.Runtime)
		e.uvarint(s.Deadline)
		e.uvarint(s.Period)
	}
	e.str(p.SelinuxLabel)
	if iop := p.IOPriority; e.present(iop != nil) {
		e.str(string(iop.Class))
		e.int(iop.Priority)
	}
	if a := p.ExecCPUAffinity; e.present(a != nil) {
		e.str(a.Initial)
		e.str(a.Final)
	}
}

func (d *dec) process(p *specs.Process) {
	p.Terminal = d.bool("process.terminal")
	p.ConsoleSize = decPtr(d, "process.consoleSize", func(d *dec, b *specs.Box) {
		b.Height = d.uint("process.consoleSize.height")
		b.Width = d.uint("process.consoleSize.width")
	})
	u := &p.User
	u.UID = d.u32("process.user.uid")
	u.GID = d.u32("process.user.gid")
	u.Umask = d.u32Ptr("process.user.umask")
	u.AdditionalGids = decList(d, "process.user.additionalGids", minGid, func(d *dec, g *uint32) {
		*g = d.u32("process.user.additionalGids")
	})
	u.Username = d.str("process.user.username")
	p.Args = decStrs[string](d, "process.args")
	p.CommandLine = d.str("process.commandLine")
	p.Env = decStrs[string](d, "process.env")
	p.Cwd = d.str("process.cwd")
	p.Capabilities = decPtr(d, "process.capabilities", func(d *dec, c *specs.LinuxCapabilities) {
		c.Bounding = decStrs[string](d, "process.capabilities.bounding")
		c.Effective = decStrs[string](d, "process.capabilities.effective")
		c.Inheritable = decStrs[string](d, "process.capabilities.inheritable")
		c.Permitted = decStrs[string](d, "process.capabilities.permitted")
		c.Ambient = decStrs[string](d, "process.capabilities.ambient")
	})
	p.Rlimits = decList(d, "process.rlimits", minRlimit, func(d *dec, r *specs.POSIXRlimit) {
		r.Type = d.str("process.rlimits.type")
		r.Hard = d.uvarint("process.rlimits.hard")
		r.Soft = d.uvarint("process.rlimits.soft")
	})
	p.NoNewPrivileges = d.bool("process.noNewPrivileges")
	p.ApparmorProfile = d.str("process.apparmorProfile")
	p.OOMScoreAdj = d.intPtr("process.oomScoreAdj")
	p.Scheduler = decPtr(d, "process.scheduler", func(d *dec, s *specs.Scheduler) {
		s.Policy = specs.LinuxSchedulerPolicy(d.str("process.scheduler.policy"))
		s.Nice = d.i32("process.scheduler.nice")
		s.Priority = d.i32("process.scheduler.priority")
		s.Flags = decStrs[specs.LinuxSchedulerFlag](d, "process.scheduler.flags")
		s.Runtime = d.uvarint("process.scheduler.runtime")
		s.Deadline = d.uvarint("process.scheduler.deadline")
		s.Period = d.uvarint("process.scheduler.period")
	})
	p.SelinuxLabel = d.str("process.selinuxLabel")
	p.IOPriority = decPtr(d, "process.ioPriority", func(d *dec, iop *specs.LinuxIOPriority) {
		iop.Class = specs.IOPriorityClass(d.str("process.ioPriority.class"))
		iop.Priority = d.int("process.ioPriority.priority")
	})
	p.ExecCPUAffinity = decPtr(d, "process.execCPUAffinity", func(d *dec, a *specs.CPUAffinity) {
		a.Initial = d.str("process.execCPUAffinity.initial")
		a.Final = d.str("process.execCPUAffinity.final")
	})
}

func (e *enc) idMapping(m *specs.LinuxIDMapping) {
	e.u32(m.ContainerID)
	e.u32(m.HostID)
	e.u32(m.Size)
}

func (d *dec) idMapping(m *specs.LinuxIDMapping) {
	m.ContainerID = d.u32("idMapping.containerID")
	m.HostID = d.u32("idMapping.hostID")
	m.Size = d.u32("idMapping.size")
}

func (e *enc) mount(m *specs.Mount) {
	e.str(m.Destination)
	e.str(m.Type)
	e.str(m.Source)
	encStrs(e, m.Options)
	encList(e, m.UIDMappings, (*enc).idMapping)
	encList(e, m.GIDMappings, (*enc).idMapping)
}

func (d *dec) mount(m *specs.Mount) {
	m.Destination = d.str("spec.mounts.destination")
	m.Type = d.str("spec.mounts.type")
	m.Source = d.str("spec.mounts.source")
	m.Options = decStrs[string](d, "spec.mounts.options")
	m.UIDMappings = decList(d, "spec.mounts.uidMappings", minIDMapping, (*dec).idMapping)
	m.GIDMappings = decList(d, "spec.mounts.gidMappings", minIDMapping, (*dec).idMapping)
}

func (e *enc) hook(h *specs.Hook) {
	e.str(h.Path)
	encStrs(e, h.Args)
	encStrs(e, h.Env)
	if e.present(h.Timeout != nil) {
		e.int(*h.Timeout)
	}
}

func (d *dec) hook(h *specs.Hook) {
	h.Path = d.str("spec.hooks.path")
	h.Args = decStrs[string](d, "spec.hooks.args")
	h.Env = decStrs[string](d, "spec.hooks.env")
	h.Timeout = d.intPtr("spec.hooks.timeout")
}

func (e *enc) hooks(h *specs.Hooks) {
	encList(e, h.Prestart, (*enc).hook) //nolint:staticcheck // still run, so still sent
	encList(e, h.CreateRuntime, (*enc).hook)
	encList(e, h.CreateContainer, (*enc).hook)
	encList(e, h.StartContainer, (*enc).hook)
	encList(e, h.Poststart, (*enc).hook)
	encList(e, h.Poststop, (*enc).hook)
}

func (d *dec) hooks(h *specs.Hooks) {
	h.Prestart = decList(d, "spec.hooks.prestart", minHook, (*dec).hook) //nolint:staticcheck // still run, so still sent
	h.CreateRuntime = decList(d, "spec.hooks.createRuntime", minHook, (*dec).hook)
	h.CreateContainer = decList(d, "spec.hooks.createContainer", minHook, (*dec).hook)
	h.StartContainer = decList(d, "spec.hooks.startContainer", minHook, (*dec).hook)
	h.Poststart = decList(d, "spec.hooks.poststart", minHook, (*dec).hook)
	h.Poststop = decList(d, "spec.hooks.poststop", minHook, (*dec).hook)
}

func (e *enc) device(v *specs.LinuxDevice) {
	e.str(v.Path)
	e.str(v.Type)
	e.varint(v.Major)
	e.varint(v.Minor)
	if e.present(v.FileMode != nil) {
		e.u32(uint32(*v.FileMode))
	}
	if e.present(v.UID != nil) {
		e.u32(*v.UID)
	}
	if e.present(v.GID != nil) {
		e.u32(*v.GID)
	}
}

func (d *dec) device(v *specs.LinuxDevice) {
	v.Path = d.str("spec.linux.devices.path")
	v.Type = d.str("spec.linux.devices.type")
	v.Major = d.varint("spec.linux.devices.major")
	v.Minor = d.varint("spec.linux.devices.minor")
	if m := d.u32Ptr("spec.linux.devices.fileMode"); m != nil {
		v.FileMode = new(os.FileMode(*m))
	}
	v.UID = d.u32Ptr("spec.linux.devices.uid")
	v.GID = d.u32Ptr("spec.linux.devices.gid")
}

func (e *enc) plan(p *Plan) {
	encList(e, p.Seccomp, func(e *enc, s *Seccomp) {
		e.str(string(s.Program))
		e.u32(s.Flags)
		e.str(s.ListenerPath)
		e.str(s.ListenerMetadata)
	})
	encList(e, p.ProcAttrs, func(e *enc, a *ProcAttr) {
		e.str(a.LSM)
		e.str(a.Attr)
		e.str(a.Value)
	})
	e.str(p.MountLabel)
	encList(e, p.Landlock, func(e *enc, l *Landlock) {
		e.uvarint(l.HandledAccessFS)
		encList(e, l.Rules, func(e *enc, r *LandlockRule) {
			e.str(r.Path)
			e.uvarint(r.Access)
		})
	})
	e.bool(p.Loopback)
}

func (d *dec) plan(p *Plan) {
	p.Seccomp = decList(d, "plan.seccomp", minSeccomp, func(d *dec, s *Seccomp) {
		if prog := d.str("plan.seccomp.program"); prog != "" {
			s.Program = []byte(prog)
		}
		s.Flags = d.u32("plan.seccomp.flags")
		s.ListenerPath = d.str("plan.seccomp.listenerPath")
		s.ListenerMetadata = d.str("plan.seccomp.listenerMetadata")
	})
	p.ProcAttrs = decList(d, "plan.procAttrs", minProcAttr, func(d *dec, a *ProcAttr) {
		a.LSM = d.str("plan.procAttrs.lsm")
		a.Attr = d.str("plan.procAttrs.attr")
		a.Value = d.str("plan.procAttrs.value")
	})
	p.MountLabel = d.str("plan.mountLabel")
	p.Landlock = decList(d, "plan.landlock", minLandlock, func(d *dec, l *Landlock) {
		l.HandledAccessFS = d.uvarint("plan.landlock.handledAccessFS")
		l.Rules = decList(d, "plan.landlock.rules", minRule, func(d *dec, r *LandlockRule) {
			r.Path = d.str("plan.landlock.rules.path")
			r.Access = d.uvarint("plan.landlock.rules.access")
		})
	})
	p.Loopback = d.bool("plan.loopback")
}

func (e *enc) state(s *specs.State) {
	e.str(s.Version)
	e.str(s.ID)
	e.str(string(s.Status))
	e.int(s.Pid)
	e.str(s.Bundle)
	e.strMap(s.Annotations)
}

func (d *dec) state(s *specs.State) {
	s.Version = d.str("state.ociVersion")
	s.ID = d.str("state.id")
	s.Status = specs.ContainerState(d.str("state.status"))
	s.Pid = d.int("state.pid")
	s.Bundle = d.str("state.bundle")
	s.Annotations = d.strMap("state.annotations")
}
