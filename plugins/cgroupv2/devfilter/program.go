package devfilter

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// Kernel encoding of struct bpf_cgroup_dev_ctx.access_type: device type in
// the low 16 bits, access bits in the high 16.
const (
	devBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devChar  = 2 // BPF_DEVCG_DEV_CHAR
)

// License is the license string the program is loaded with.
const License = "Apache"

// Program compiles f into a BPF_PROG_TYPE_CGROUP_DEVICE program that returns
// 1 (allow) or 0 (deny) with the same answers as f.Allowed.
func Program(f Filter) (asm.Instructions, error) {
	// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
	insts := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.And.Imm32(asm.R2, 0xFFFF), // R2: device type
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),                // R3: requested access
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word), // R4: major
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word), // R5: minor
	}
	verdict := func(allow bool) asm.Instructions {
		v := int32(0)
		if allow {
			v = 1
		}
		return asm.Instructions{asm.Mov.Imm32(asm.R0, v), asm.Return()}
	}
	for i, e := range f.Exceptions {
		if e.Allow == f.DefaultAllow {
			return nil, fmt.Errorf("exception %q has the default action", e)
		}
		next := fmt.Sprintf("exception_%d", i+1)
		var typ int32
		switch e.Type {
		case 'b':
			typ = devBlock
		case 'c':
			typ = devChar
		default:
			return nil, fmt.Errorf("exception %q: type must be b or c", e)
		}
		// 32-bit compares: device numbers are u32 and the immediates would
		// be sign-extended in a 64-bit compare.
		block := asm.Instructions{asm.JNE.Imm32(asm.R2, typ, next)}
		if e.Major != Wildcard {
			block = append(block, asm.JNE.Imm32(asm.R4, int32(uint32(e.Major)), next))
		}
		if e.Minor != Wildcard {
			block = append(block, asm.JNE.Imm32(asm.R5, int32(uint32(e.Minor)), next))
		}
		acc := int32(accessBits(e.Access))
		if acc != accAll {
			block = append(block, asm.Mov.Reg32(asm.R1, asm.R3), asm.And.Imm32(asm.R1, acc))
			if f.DefaultAllow {
				// A deny exception applies if the request asks for any of its access.
				block = append(block, asm.JEq.Imm32(asm.R1, 0, next))
			} else {
				// An allow exception applies only if it covers the whole request.
				block = append(block, asm.JNE.Reg32(asm.R1, asm.R3, next))
			}
		}
		block = append(block, verdict(e.Allow)...)
		block[0] = block[0].WithSymbol(fmt.Sprintf("exception_%d", i))
		insts = append(insts, block...)
	}
	last := verdict(f.DefaultAllow)
	last[0] = last[0].WithSymbol(fmt.Sprintf("exception_%d", len(f.Exceptions)))
	return append(insts, last...), nil
}
