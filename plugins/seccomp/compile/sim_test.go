package compile

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// seccompData is struct seccomp_data.
type seccompData struct {
	nr   int32
	arch uint32
	ip   uint64
	args [6]uint64
}

func (d seccompData) bytes() []byte {
	b := make([]byte, seccompDataSize)
	binary.NativeEndian.PutUint32(b[0:], uint32(d.nr))
	binary.NativeEndian.PutUint32(b[4:], d.arch)
	binary.NativeEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.NativeEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// run interprets a seccomp cBPF program the way the kernel does, so tests can
// check what a compiled profile answers without loading it. It assumes verify
// passed but still refuses to read out of bounds.
func run(prog []insn, d seccompData) (uint32, error) {
	data := d.bytes()
	var a, x uint32
	var mem [bpfMemWords]uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		src := in.K
		if in.Code&bpfX != 0 && (in.Code&0x07 == bpfALU || in.Code&0x07 == bpfJMP) {
			src = x
		}
		cond := func(ok bool) {
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		}
		switch in.Code {
		case bpfLD | bpfW | bpfABS:
			if in.K+4 > seccompDataSize {
				return 0, fmt.Errorf("pc %d: load at %d out of bounds", pc, in.K)
			}
			a = binary.NativeEndian.Uint32(data[in.K:])
		case bpfLD | bpfW | bpfLEN:
			a = seccompDataSize
		case bpfLDX | bpfW | bpfLEN:
			x = seccompDataSize
		case bpfLD | bpfIMM:
			a = in.K
		case bpfLDX | bpfIMM:
			x = in.K
		case bpfLD | bpfMEM:
			a = mem[in.K%bpfMemWords]
		case bpfLDX | bpfMEM:
			x = mem[in.K%bpfMemWords]
		case bpfST:
			mem[in.K%bpfMemWords] = a
		case bpfSTX:
			mem[in.K%bpfMemWords] = x
		case bpfMISC | bpfTAX:
			x = a
		case bpfMISC | bpfTXA:
			a = x
		case bpfRET | bpfK:
			return in.K, nil
		case bpfRET | bpfA:
			return a, nil
		case bpfALU | bpfADD | bpfK, bpfALU | bpfADD | bpfX:
			a += src
		case bpfALU | bpfSUB | bpfK, bpfALU | bpfSUB | bpfX:
			a -= src
		case bpfALU | bpfMUL | bpfK, bpfALU | bpfMUL | bpfX:
			a *= src
		case bpfALU | bpfDIV | bpfK, bpfALU | bpfDIV | bpfX:
			if src == 0 {
				return 0, nil // the kernel returns 0 (kill) on division by zero
			}
			a /= src
		case bpfALU | bpfAND | bpfK, bpfALU | bpfAND | bpfX:
			a &= src
		case bpfALU | bpfOR | bpfK, bpfALU | bpfOR | bpfX:
			a |= src
		case bpfALU | bpfXOR | bpfK, bpfALU | bpfXOR | bpfX:
			a ^= src
		case bpfALU | bpfLSH | bpfK, bpfALU | bpfLSH | bpfX:
			a <<= src & 31
		case bpfALU | bpfRSH | bpfK, bpfALU | bpfRSH | bpfX:
			a >>= src & 31
		case bpfALU | bpfNEG:
			a = -a
		case bpfJMP | bpfJA:
			pc += int(in.K)
		case bpfJMP | bpfJEQ | bpfK, bpfJMP | bpfJEQ | bpfX:
			cond(a == src)
		case bpfJMP | bpfJGT | bpfK, bpfJMP | bpfJGT | bpfX:
			cond(a > src)
		case bpfJMP | bpfJGE | bpfK, bpfJMP | bpfJGE | bpfX:
			cond(a >= src)
		case bpfJMP | bpfJSET | bpfK, bpfJMP | bpfJSET | bpfX:
			cond(a&src != 0)
		default:
			return 0, fmt.Errorf("pc %d: unknown code %#x", pc, in.Code)
		}
	}
	return 0, errors.New("program ran off its end")
}
