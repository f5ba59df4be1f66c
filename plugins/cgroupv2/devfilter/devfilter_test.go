package devfilter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
)

// run interprets the small subset of eBPF that Program emits, so the
// compiled program can be checked against Filter.Allowed without a kernel.
func run(t *testing.T, insts asm.Instructions, typ byte, major, minor uint32, access string) bool {
	t.Helper()
	syms := map[string]int{}
	for i, ins := range insts {
		if s := ins.Symbol(); s != "" {
			syms[s] = i
		}
	}
	devType := uint32(devChar)
	if typ == 'b' {
		devType = devBlock
	}
	ctx := []uint32{accessBits(access)<<16 | devType, major, minor}
	var r [11]uint64
	for pc, steps := 0, 0; pc < len(insts); steps++ {
		if steps > 10000 {
			t.Fatal("program does not terminate")
		}
		ins := insts[pc]
		op := ins.OpCode
		src := uint32(ins.Constant)
		if op.Source() == asm.RegSource {
			src = uint32(r[ins.Src])
		}
		switch op.Class() {
		case asm.LdXClass:
			if ins.Src != asm.R1 || op.Size() != asm.Word || ins.Offset%4 != 0 || ins.Offset > 8 {
				t.Fatalf("unexpected load %v", ins)
			}
			r[ins.Dst] = uint64(ctx[ins.Offset/4])
		case asm.ALUClass:
			d := uint32(r[ins.Dst])
			switch op.ALUOp() {
			case asm.And:
				d &= src
			case asm.RSh:
				d >>= src
			case asm.Mov:
				d = src
			default:
				t.Fatalf("unexpected ALU op %v", ins)
			}
			r[ins.Dst] = uint64(d)
		case asm.Jump32Class:
			d := uint32(r[ins.Dst])
			var taken bool
			switch op.JumpOp() {
			case asm.JNE:
				taken = d != src
			case asm.JEq:
				taken = d == src
			default:
				t.Fatalf("unexpected jump %v", ins)
			}
			if taken {
				to, ok := syms[ins.Reference()]
				if !ok {
					t.Fatalf("jump to unknown label %q", ins.Reference())
				}
				pc = to
				continue
			}
		case asm.JumpClass:
			if op.JumpOp() != asm.Exit {
				t.Fatalf("unexpected 64-bit jump %v", ins)
			}
			return r[asm.R0] == 1
		default:
			t.Fatalf("unexpected instruction %v", ins)
		}
		pc++
	}
	t.Fatal("program ran off its end")
	return false
}

func rule(s string) Rule {
	// "allow c 1:3 rwm"
	f := strings.Fields(s)
	r := Rule{Allow: f[0] == "allow", Type: f[1][0], Major: Wildcard, Minor: Wildcard}
	if len(f) > 2 {
		var maj, min string
		maj, min, _ = strings.Cut(f[2], ":")
		if maj != "*" {
			fmt.Sscan(maj, &r.Major)
		}
		if min != "*" {
			fmt.Sscan(min, &r.Minor)
		}
		r.Access = f[3]
	} else {
		r.Access = "rwm"
	}
	return r
}

func rules(ss ...string) []Rule {
	var out []Rule
	for _, s := range ss {
		out = append(out, rule(s))
	}
	return out
}

type probe struct {
	typ          byte
	major, minor uint32
	access       string
	want         bool
}

func TestEmulateAndProgram(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rules  []Rule
		probes []probe
	}{
		{"empty list denies all", nil, []probe{
			{'c', 1, 3, "r", false}, {'b', 8, 0, "m", false},
		}},
		{"allow all", rules("allow a"), []probe{
			{'c', 1, 3, "rwm", true}, {'b', 8, 0, "w", true},
		}},
		{"deny all then allow null", rules("deny a", "allow c 1:3 rwm"), []probe{
			{'c', 1, 3, "rw", true}, {'c', 1, 7, "r", false}, {'b', 1, 3, "r", false},
		}},
		{"last rule wins: later deny removes access", rules("allow c 1:3 rwm", "deny c 1:3 w"), []probe{
			{'c', 1, 3, "r", true}, {'c', 1, 3, "w", false}, {'c', 1, 3, "rw", false}, {'c', 1, 3, "m", true},
		}},
		{"last rule wins: later allow restores", rules("deny c 1:3 rwm", "allow c 1:3 r"), []probe{
			{'c', 1, 3, "r", true}, {'c', 1, 3, "w", false},
		}},
		{"a reset drops earlier rules", rules("allow c 1:3 rwm", "deny a"), []probe{
			{'c', 1, 3, "r", false},
		}},
		{"blacklist: deny rule names any access", rules("allow a", "deny c 1:7 w"), []probe{
			{'c', 1, 7, "r", true}, {'c', 1, 7, "w", false}, {'c', 1, 7, "rw", false}, {'c', 1, 8, "rw", true},
		}},
		{"blacklist: allow after deny", rules("allow a", "deny c 1:7 rwm", "allow c 1:7 r"), []probe{
			{'c', 1, 7, "r", true}, {'c', 1, 7, "w", false},
		}},
		{"wildcards", rules("deny a", "allow c 136:* rwm", "allow b *:* m", "allow c *:5 r"), []probe{
			{'c', 136, 0, "rw", true}, {'c', 136, 99, "rw", true}, {'c', 137, 0, "r", false},
			{'b', 253, 1, "m", true}, {'b', 253, 1, "r", false}, {'c', 1, 5, "r", true}, {'c', 1, 5, "w", false},
		}},
		{"large device numbers", rules("deny a", "allow c 4294967295:2147483648 rw"), []probe{
			{'c', 4294967295, 2147483648, "r", true}, {'c', 4294967295, 0, "r", false}, {'c', 0x7fffffff, 2147483648, "r", false},
		}},
		{"partial coverage is not enough", rules("deny a", "allow c 1:3 r", "allow c 1:* w"), []probe{
			{'c', 1, 3, "r", true}, {'c', 1, 3, "w", true}, {'c', 1, 3, "rw", false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Emulate(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			insts, err := Program(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.probes {
				if got := f.Allowed(p.typ, p.major, p.minor, p.access); got != p.want {
					t.Errorf("emulator: %c %d:%d %s = %v, want %v", p.typ, p.major, p.minor, p.access, got, p.want)
				}
				if got := run(t, insts, p.typ, p.major, p.minor, p.access); got != p.want {
					t.Errorf("program: %c %d:%d %s = %v, want %v", p.typ, p.major, p.minor, p.access, got, p.want)
				}
			}
		})
	}
}

// TestProgramMatchesEmulator compares program and emulator on every device
// number a rule set mentions (and its neighbours) for every access.
func TestProgramMatchesEmulator(t *testing.T) {
	sets := [][]Rule{
		rules("deny a", "allow c 1:3 rwm", "allow c 1:5 rw", "allow c *:* m", "allow b 8:* r", "deny c 1:5 w"),
		rules("allow a", "deny b 8:0 rw", "deny c 10:200 m", "deny c *:9 r"),
		rules("allow c 5:1 rwm", "deny c 5:1 rwm", "allow c 5:1 w"),
	}
	nums := []uint32{0, 1, 3, 5, 8, 9, 10, 200, 1 << 31, 1<<32 - 1}
	for i, set := range sets {
		f, err := Emulate(set)
		if err != nil {
			t.Fatal(err)
		}
		insts, err := Program(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []byte{'b', 'c'} {
			for _, maj := range nums {
				for _, min := range nums {
					for _, acc := range []string{"r", "w", "m", "rw", "rm", "wm", "rwm"} {
						if e, p := f.Allowed(typ, maj, min, acc), run(t, insts, typ, maj, min, acc); e != p {
							t.Errorf("set %d: %c %d:%d %s: emulator %v, program %v", i, typ, maj, min, acc, e, p)
						}
					}
				}
			}
		}
	}
}

func TestEmulateErrors(t *testing.T) {
	for _, tc := range []struct {
		rules []Rule
		err   string
	}{
		{rules("deny a", "allow c 1:* rwm", "deny c 1:3 r"), "punch a hole"},
		{rules("deny a", "allow c *:* rw", "deny c 1:3 w"), "punch a hole"},
		{rules("allow a", "deny c *:3 rw", "allow c 1:3 r"), "punch a hole"},
		{[]Rule{{Type: 'x', Access: "r"}}, "unknown device type"},
		{[]Rule{{Type: 'c', Major: 1, Minor: 1}}, "empty access"},
	} {
		if _, err := Emulate(tc.rules); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Emulate(%v) = %v, want error with %q", tc.rules, err, tc.err)
		}
	}
	// Removing an access the wildcard does not have is fine.
	if _, err := Emulate(rules("deny a", "allow c *:* m", "deny c 1:3 rw")); err != nil {
		t.Errorf("disjoint access: %v", err)
	}
}
