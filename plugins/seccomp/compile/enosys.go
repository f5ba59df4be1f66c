package compile

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// x32Bit is __X32_SYSCALL_BIT: x32 syscalls arrive under AUDIT_ARCH_X86_64
// with bit 30 of the number set.
const x32Bit = 0x40000000

// retENOSYS is the filter's answer for syscalls newer than the profile.
const retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// stubArch is what the ENOSYS stub knows about one AUDIT_ARCH value: the
// highest syscall number the profile names for it. x86_64 carries two ABIs
// (plain and x32) under the one value.
type stubArch struct {
	audit       uint32
	max, x32Max uint32
	hasMax      bool
	hasX32      bool
	// s390 multiplexes syscall numbers above 255 through syscall 0 and
	// leaves an unknown one at 0, so 0 must get ENOSYS too (as runc).
	s390 bool
}

// enosysStub returns instructions to run before libseccomp's program: on an
// architecture the stub knows, a syscall number above the highest the
// profile names returns ENOSYS; everything else falls through to the
// program, whose first instruction follows the stub. This is runc's
// patchbpf, laid out forward with labels instead of built backwards.
//
// It is limited the way runc's is: a syscall added to Linux between two the
// profile names is below the maximum and still gets the default action.
func enosysStub(archs map[uint32]*stubArch) ([]insn, error) {
	if len(archs) == 0 {
		return nil, nil
	}
	keys := make([]uint32, 0, len(archs))
	for k := range archs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })

	a := newAsm()
	a.stmt(bpfLD|bpfW|bpfABS, 4) // seccomp_data.arch
	for _, k := range keys {
		a.jump(bpfJMP|bpfJEQ|bpfK, k, sectionLabel(k), "")
	}
	a.ja("filter")
	for _, k := range keys {
		s := archs[k]
		a.label(sectionLabel(k))
		a.stmt(bpfLD|bpfW|bpfABS, 0) // seccomp_data.nr
		if s.s390 {
			a.jump(bpfJMP|bpfJEQ|bpfK, 0, "enosys", "")
		}
		if k != unix.AUDIT_ARCH_X86_64 {
			a.jump(bpfJMP|bpfJGT|bpfK, s.max, "enosys", "filter")
			continue
		}
		x32 := sectionLabel(k) + ".x32"
		switch {
		case s.hasMax && s.hasX32:
			a.jump(bpfJMP|bpfJSET|bpfK, x32Bit, x32, "")
			a.jump(bpfJMP|bpfJGT|bpfK, s.max, "enosys", "filter")
			a.label(x32)
			a.jump(bpfJMP|bpfJGT|bpfK, s.x32Max, "enosys", "filter")
		case s.hasMax:
			// x32 calls are not this filter's ABI: libseccomp's program
			// gives them its bad-architecture action.
			a.jump(bpfJMP|bpfJSET|bpfK, x32Bit, "filter", "")
			a.jump(bpfJMP|bpfJGT|bpfK, s.max, "enosys", "filter")
		default:
			a.jump(bpfJMP|bpfJSET|bpfK, x32Bit, "", "filter")
			a.jump(bpfJMP|bpfJGT|bpfK, s.x32Max, "enosys", "filter")
		}
	}
	a.label("enosys")
	a.stmt(bpfRET|bpfK, retENOSYS)
	a.label("filter")
	return a.resolve()
}

func sectionLabel(audit uint32) string { return fmt.Sprintf("arch.%#x", audit) }

// asm is a tiny forward-only assembler: jumps name labels, resolved at the end.
type asm struct {
	prog   []insn
	labels map[string]int
	refs   []asmRef
}

type asmRef struct {
	pc     int
	jt, jf string // "" is the next instruction
	ja     string
}

func newAsm() *asm { return &asm{labels: map[string]int{}} }

func (a *asm) label(name string) { a.labels[name] = len(a.prog) }

func (a *asm) stmt(code uint16, k uint32) { a.prog = append(a.prog, insn{Code: code, K: k}) }

func (a *asm) jump(code uint16, k uint32, jt, jf string) {
	a.refs = append(a.refs, asmRef{pc: len(a.prog), jt: jt, jf: jf})
	a.prog = append(a.prog, insn{Code: code, K: k})
}

func (a *asm) ja(target string) {
	a.refs = append(a.refs, asmRef{pc: len(a.prog), ja: target})
	a.prog = append(a.prog, insn{Code: bpfJMP | bpfJA})
}

func (a *asm) offset(pc int, label string) (int, error) {
	if label == "" {
		return 0, nil
	}
	to, ok := a.labels[label]
	if !ok {
		return 0, fmt.Errorf("enosys stub: no label %q", label)
	}
	if to <= pc {
		return 0, fmt.Errorf("enosys stub: backward jump to %q", label)
	}
	return to - pc - 1, nil
}

func (a *asm) resolve() ([]insn, error) {
	for _, r := range a.refs {
		in := &a.prog[r.pc]
		if r.ja != "" {
			off, err := a.offset(r.pc, r.ja)
			if err != nil {
				return nil, err
			}
			in.K = uint32(off)
			continue
		}
		jt, err := a.offset(r.pc, r.jt)
		if err != nil {
			return nil, err
		}
		jf, err := a.offset(r.pc, r.jf)
		if err != nil {
			return nil, err
		}
		if jt > 255 || jf > 255 {
			return nil, fmt.Errorf("enosys stub: conditional jump of %d/%d instructions does not fit in 8 bits", jt, jf)
		}
		in.Jt, in.Jf = uint8(jt), uint8(jf)
	}
	return a.prog, nil
}
