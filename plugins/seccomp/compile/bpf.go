package compile

import (
	"encoding/binary"
	"fmt"
)

// insn is one classic BPF instruction, struct sock_filter.
type insn struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

const insnSize = 8

// Classic BPF opcode parts (linux/filter.h, linux/bpf_common.h).
const (
	bpfLD   = 0x00
	bpfLDX  = 0x01
	bpfST   = 0x02
	bpfSTX  = 0x03
	bpfALU  = 0x04
	bpfJMP  = 0x05
	bpfRET  = 0x06
	bpfMISC = 0x07

	bpfW   = 0x00
	bpfIMM = 0x00
	bpfABS = 0x20
	bpfMEM = 0x60
	bpfLEN = 0x80

	bpfADD = 0x00
	bpfSUB = 0x10
	bpfMUL = 0x20
	bpfDIV = 0x30
	bpfOR  = 0x40
	bpfAND = 0x50
	bpfLSH = 0x60
	bpfRSH = 0x70
	bpfNEG = 0x80
	bpfXOR = 0xa0

	bpfJA   = 0x00
	bpfJEQ  = 0x10
	bpfJGT  = 0x20
	bpfJGE  = 0x30
	bpfJSET = 0x40

	bpfK = 0x00
	bpfX = 0x08
	bpfA = 0x10

	bpfTAX = 0x00
	bpfTXA = 0x80

	// bpfMemWords is BPF_MEMWORDS, the scratch memory slots.
	bpfMemWords = 16
	// seccompDataSize is sizeof(struct seccomp_data).
	seccompDataSize = 64
)

func decode(b []byte) ([]insn, error) {
	if len(b)%insnSize != 0 {
		return nil, fmt.Errorf("program is %d bytes, not a whole number of %d-byte instructions", len(b), insnSize)
	}
	prog := make([]insn, len(b)/insnSize)
	for i := range prog {
		p := b[i*insnSize:]
		prog[i] = insn{
			Code: binary.NativeEndian.Uint16(p[0:]),
			Jt:   p[2],
			Jf:   p[3],
			K:    binary.NativeEndian.Uint32(p[4:]),
		}
	}
	return prog, nil
}

func encode(prog []insn) []byte {
	b := make([]byte, len(prog)*insnSize)
	for i, in := range prog {
		p := b[i*insnSize:]
		binary.NativeEndian.PutUint16(p[0:], in.Code)
		p[2], p[3] = in.Jt, in.Jf
		binary.NativeEndian.PutUint32(p[4:], in.K)
	}
	return b
}

// verify applies the checks the kernel makes before it accepts a seccomp
// program (bpf_check_classic, seccomp_check_filter), so that a bug in the ENOSYS
// stub or a surprise from libseccomp is an error here, in the plugin, and not
// an EINVAL in the container's init.
func verify(prog []insn) error {
	n := len(prog)
	if n == 0 || n > MaxInstructions {
		return fmt.Errorf("program has %d instructions; the kernel takes 1 to %d", n, MaxInstructions)
	}
	for pc, in := range prog {
		bad := func(why string) error {
			return fmt.Errorf("instruction %d (code %#04x k %#x): %s", pc, in.Code, in.K, why)
		}
		jumpOK := func(off uint64) bool { return uint64(pc)+1+off < uint64(n) }
		switch in.Code {
		case bpfLD | bpfW | bpfABS:
			if in.K >= seccompDataSize || in.K%4 != 0 {
				return bad("loads outside struct seccomp_data or unaligned")
			}
		case bpfLD | bpfW | bpfLEN, bpfLDX | bpfW | bpfLEN,
			bpfRET | bpfK, bpfRET | bpfA,
			bpfALU | bpfADD | bpfK, bpfALU | bpfADD | bpfX,
			bpfALU | bpfSUB | bpfK, bpfALU | bpfSUB | bpfX,
			bpfALU | bpfMUL | bpfK, bpfALU | bpfMUL | bpfX,
			bpfALU | bpfDIV | bpfX,
			bpfALU | bpfAND | bpfK, bpfALU | bpfAND | bpfX,
			bpfALU | bpfOR | bpfK, bpfALU | bpfOR | bpfX,
			bpfALU | bpfXOR | bpfK, bpfALU | bpfXOR | bpfX,
			bpfALU | bpfLSH | bpfX, bpfALU | bpfRSH | bpfX,
			bpfALU | bpfNEG,
			bpfLD | bpfIMM, bpfLDX | bpfIMM,
			bpfMISC | bpfTAX, bpfMISC | bpfTXA:
		case bpfALU | bpfDIV | bpfK:
			if in.K == 0 {
				return bad("divides by zero")
			}
		case bpfALU | bpfLSH | bpfK, bpfALU | bpfRSH | bpfK:
			if in.K >= 32 {
				return bad("shifts by 32 or more")
			}
		case bpfLD | bpfMEM, bpfLDX | bpfMEM, bpfST, bpfSTX:
			if in.K >= bpfMemWords {
				return bad("uses a scratch slot that does not exist")
			}
		case bpfJMP | bpfJA:
			if !jumpOK(uint64(in.K)) {
				return bad("jumps past the end")
			}
		case bpfJMP | bpfJEQ | bpfK, bpfJMP | bpfJEQ | bpfX,
			bpfJMP | bpfJGE | bpfK, bpfJMP | bpfJGE | bpfX,
			bpfJMP | bpfJGT | bpfK, bpfJMP | bpfJGT | bpfX,
			bpfJMP | bpfJSET | bpfK, bpfJMP | bpfJSET | bpfX:
			if !jumpOK(uint64(in.Jt)) || !jumpOK(uint64(in.Jf)) {
				return bad("jumps past the end")
			}
		default:
			return bad("is not an instruction seccomp allows")
		}
	}
	if last := prog[n-1].Code; last != bpfRET|bpfK && last != bpfRET|bpfA {
		return fmt.Errorf("program does not end with a return")
	}
	return checkMemory(prog)
}

// checkMemory is the kernel's check_load_and_stores: no path may read a
// scratch slot it has not written.
func checkMemory(prog []insn) error {
	const all = 1<<bpfMemWords - 1
	valid := make([]uint16, len(prog))
	for i := range valid {
		valid[i] = all
	}
	mem := uint16(0)
	for pc, in := range prog {
		mem &= valid[pc]
		switch in.Code {
		case bpfST, bpfSTX:
			mem |= 1 << in.K
		case bpfLD | bpfMEM, bpfLDX | bpfMEM:
			if mem&(1<<in.K) == 0 {
				return fmt.Errorf("instruction %d reads scratch slot %d before any write", pc, in.K)
			}
		case bpfJMP | bpfJA:
			valid[pc+1+int(in.K)] &= mem
			mem = all
		case bpfJMP | bpfJEQ | bpfK, bpfJMP | bpfJEQ | bpfX,
			bpfJMP | bpfJGE | bpfK, bpfJMP | bpfJGE | bpfX,
			bpfJMP | bpfJGT | bpfK, bpfJMP | bpfJGT | bpfX,
			bpfJMP | bpfJSET | bpfK, bpfJMP | bpfJSET | bpfX:
			valid[pc+1+int(in.Jt)] &= mem
			valid[pc+1+int(in.Jf)] &= mem
			mem = all
		}
	}
	return nil
}
