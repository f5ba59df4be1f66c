package compile

import (
	"errors"
	"fmt"
	"os"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Error is a compile failure that one spec field is to blame for.
type Error struct {
	// Field is the JSON path, e.g. "linux.seccomp.syscalls[3].names[1]".
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) *Error {
	return &Error{Field: Root + field, Err: fmt.Errorf(format, args...)}
}

// Result is a compiled profile, what the init needs to install it.
type Result struct {
	// Program is the struct sock_filter array in native byte order.
	Program []byte
	// Flags are the SECCOMP_FILTER_FLAG_* bits to pass to seccomp(2).
	Flags uint32
	// ListenerPath and ListenerMetadata are set when the filter has a
	// listener (some rule uses SCMP_ACT_NOTIFY).
	ListenerPath     string
	ListenerMetadata string

	// Skipped lists syscall names this host's libseccomp does not know;
	// their rules were left out, as runc does.
	Skipped []string
	// StubInstructions is the length of the ENOSYS stub in front of
	// libseccomp's program (0: none, the default action is permissive).
	StubInstructions int
	// Clone3ENOSYS says a clone3 → ENOSYS rule was added.
	Clone3ENOSYS bool
}

// Instructions is the program's length in instructions.
func (r *Result) Instructions() int { return len(r.Program) / insnSize }

// Compile turns s into a BPF program for this host. A nil s compiles to nil:
// no filter. The profile should have passed Check; Compile repeats the checks
// it depends on rather than trusting that.
func Compile(s *specs.LinuxSeccomp) (*Result, error) {
	if s == nil {
		return nil, nil
	}
	h := HostSupport()
	if errs := Check(s, h); len(errs) > 0 {
		return nil, &Error{Field: errs[0].Field, Err: errors.New(errs[0].Message)}
	}

	defAct := action(s.DefaultAction, s.DefaultErrnoRet)
	filter, err := libseccomp.NewFilter(defAct)
	if err != nil {
		return nil, fieldErr(".defaultAction", "libseccomp refuses %s: %w", s.DefaultAction, err)
	}
	defer filter.Release()
	// The init sets no_new_privs itself, after deciding from the spec; the
	// bit only matters to seccomp_load, which we never call, but it must not
	// leak into anything derived from the filter. libseccomp-golang turns
	// TSYNC on in NewFilter and offers no way off; like NNP it only affects
	// seccomp_load, and the flags we return never include it.
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("clearing the no_new_privs filter attribute: %w", err)
	}

	for i, a := range s.Architectures {
		if err := filter.AddArch(arches[a].scmp); err != nil {
			return nil, fieldErr(fmt.Sprintf(".architectures[%d]", i), "libseccomp cannot add %s: %w", a, err)
		}
	}

	res := &Result{}
	skipped := map[string]bool{}
	named := map[string]bool{}
	usesNotify := false
	for i, sc := range s.Syscalls {
		act := action(sc.Action, sc.ErrnoRet)
		if sc.Action == specs.ActNotify {
			usesNotify = true
		}
		conds := make([]libseccomp.ScmpCondition, 0, len(sc.Args))
		for k, arg := range sc.Args {
			c, err := libseccomp.MakeCondition(arg.Index, operators[arg.Op], arg.Value, arg.ValueTwo)
			if err != nil {
				return nil, fieldErr(fmt.Sprintf(".syscalls[%d].args[%d]", i, k), "%w", err)
			}
			conds = append(conds, c)
		}
		for j, name := range sc.Names {
			named[name] = true
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				// As runc: a syscall this libseccomp does not know cannot be
				// made by anything built against it either; skip it.
				skipped[name] = true
				continue
			}
			if act == defAct {
				// libseccomp refuses rules that repeat the default action.
				continue
			}
			if err := addRule(filter, nr, act, conds); err != nil {
				return nil, fieldErr(fmt.Sprintf(".syscalls[%d].names[%d]", i, j), "libseccomp refuses the rule for %s: %w", name, err)
			}
		}
	}
	for name := range skipped {
		res.Skipped = append(res.Skipped, name)
	}
	sort.Strings(res.Skipped)

	defInfo := actions[s.DefaultAction]
	enosysDefault := s.DefaultAction == specs.ActErrno && s.DefaultErrnoRet != nil && *s.DefaultErrnoRet == uint(unix.ENOSYS)
	patch := !defInfo.permissive && !enosysDefault

	var stub []insn
	if patch {
		// clone3 sits below the highest syscall of most profiles, so the
		// stub alone would leave it at the default action, and glibc only
		// falls back to clone on ENOSYS.
		if !named["clone3"] {
			if nr, err := libseccomp.GetSyscallFromName("clone3"); err == nil {
				if err := filter.AddRule(nr, libseccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
					return nil, fmt.Errorf("adding the clone3 ENOSYS rule: %w", err)
				}
				res.Clone3ENOSYS = true
			}
		}
		archs, err := stubArches(s, h, named)
		if err != nil {
			return nil, err
		}
		if stub, err = enosysStub(archs); err != nil {
			return nil, err
		}
	}

	raw, err := exportBPF(filter)
	if err != nil {
		return nil, err
	}
	prog, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("libseccomp's program: %w", err)
	}
	if len(prog)+len(stub) > MaxInstructions {
		return nil, &Error{Field: Root, Err: fmt.Errorf("the compiled filter has %d instructions (%d of them the ENOSYS stub); the kernel takes at most %d (BPF_MAXINSNS)", len(prog)+len(stub), len(stub), MaxInstructions)}
	}
	full := append(stub, prog...)
	if err := verify(full); err != nil {
		return nil, fmt.Errorf("compiled filter is not a valid seccomp program: %w", err)
	}
	res.Program = encode(full)
	res.StubInstructions = len(stub)

	for _, f := range s.Flags {
		if f == flagTSYNC {
			continue
		}
		res.Flags |= flags[f]
	}
	if usesNotify {
		res.Flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		res.ListenerPath = s.ListenerPath
		res.ListenerMetadata = s.ListenerMetadata
	} else {
		// The kernel refuses WAIT_KILLABLE_RECV without a listener; like
		// libseccomp we set it only when there is one.
		res.Flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
	}
	return res, nil
}

// action is the libseccomp action for a checked spec action.
func action(a specs.LinuxSeccompAction, errnoRet *uint) libseccomp.ScmpAction {
	info := actions[a]
	if info.errnoMax == 0 {
		return info.scmp
	}
	code := uint(unix.EPERM)
	if errnoRet != nil {
		code = *errnoRet
	}
	// SetReturnCode keeps the low 16 bits, which Check bounded code to.
	return info.scmp.SetReturnCode(int16(uint16(code)))
}

// addRule adds the rule for one syscall the way runc does: conditions on
// distinct arguments are ANDed in one rule; if any argument is tested more
// than once, libseccomp cannot AND those, so every condition becomes a rule
// of its own and they are ORed.
func addRule(f *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds []libseccomp.ScmpCondition) error {
	if len(conds) == 0 {
		return f.AddRule(nr, act)
	}
	seen := map[uint]bool{}
	repeated := false
	for _, c := range conds {
		if seen[c.Argument] {
			repeated = true
		}
		seen[c.Argument] = true
	}
	if !repeated {
		return f.AddRuleConditional(nr, act, conds)
	}
	for _, c := range conds {
		if err := f.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
			return err
		}
	}
	return nil
}

// stubArches finds, for every architecture in the filter (the native one and
// those listed), the highest syscall number among the names the profile
// uses, whatever their action. Names unknown on an architecture, and
// libseccomp's negative pseudo-numbers, do not count.
func stubArches(s *specs.LinuxSeccomp, h *Host, named map[string]bool) (map[uint32]*stubArch, error) {
	inFilter := map[specs.Arch]bool{}
	if h.Native != "" {
		inFilter[h.Native] = true
	}
	for _, a := range s.Architectures {
		inFilter[a] = true
	}
	out := map[uint32]*stubArch{}
	for a := range inFilter {
		info, ok := arches[a]
		if !ok {
			return nil, fmt.Errorf("enosys stub: no table entry for %s", a)
		}
		var max int32 = -1
		for name := range named {
			nr, err := libseccomp.GetSyscallFromNameByArch(name, info.scmp)
			if err != nil || nr < 0 {
				continue
			}
			if int32(nr) > max {
				max = int32(nr)
			}
		}
		if max < 0 {
			continue // nothing to compare with: leave this arch to the filter
		}
		sa := out[info.audit]
		if sa == nil {
			sa = &stubArch{audit: info.audit}
			out[info.audit] = sa
		}
		if a == specs.ArchS390 || a == specs.ArchS390X {
			sa.s390 = true
		}
		if a == specs.ArchX32 {
			sa.x32Max, sa.hasX32 = uint32(max)|x32Bit, true
		} else {
			sa.max, sa.hasMax = uint32(max), true
		}
	}
	return out, nil
}

// exportBPF has libseccomp write the program into a memfd, which holds any
// size without the reader goroutine a pipe would need.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("rung-seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating a memfd for the BPF export: %w", err)
	}
	file := os.NewFile(uintptr(fd), "rung-seccomp-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("exporting the BPF program: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("sizing the BPF export: %w", err)
	}
	if st.Size() == 0 {
		return nil, errors.New("libseccomp exported an empty program")
	}
	if n := st.Size() / insnSize; n > MaxInstructions {
		return nil, &Error{Field: Root, Err: fmt.Errorf("the compiled filter has %d instructions; the kernel takes at most %d (BPF_MAXINSNS)", n, MaxInstructions)}
	}
	raw := make([]byte, st.Size())
	if _, err := file.ReadAt(raw, 0); err != nil {
		return nil, fmt.Errorf("reading the BPF export: %w", err)
	}
	return raw, nil
}
