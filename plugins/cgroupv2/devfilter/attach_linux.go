package devfilter

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Attach loads insts and attaches it to the cgroup directory open at dirFD,
// then detaches whatever device programs were attached there before, so an
// update replaces the filter without a moment of no filter at all. The
// attachment uses BPF_F_ALLOW_MULTI and is not a bpf_link, so it outlives
// this process and goes away with the cgroup.
func Attach(dirFD int, insts asm.Instructions) error {
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.CGroupDevice,
		License:      License,
		Instructions: insts,
	}, ebpf.ProgramOptions{})
	if err != nil {
		return fmt.Errorf("load device filter: %w", err)
	}
	defer prog.Close()

	old, err := attached(dirFD)
	if err != nil {
		return err
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  dirFD,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attach device filter: %w", err)
	}
	for _, id := range old {
		if err := detach(dirFD, id); err != nil {
			return fmt.Errorf("replace device filter: %w", err)
		}
	}
	return nil
}

// Detach removes every device program attached directly to the cgroup.
func Detach(dirFD int) error {
	ids, err := attached(dirFD)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := detach(dirFD, id); err != nil {
			return err
		}
	}
	return nil
}

// Attached returns how many device programs are attached directly to the cgroup.
func Attached(dirFD int) (int, error) {
	ids, err := attached(dirFD)
	return len(ids), err
}

func attached(dirFD int) ([]ebpf.ProgramID, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: dirFD, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return nil, fmt.Errorf("query device filters: %w", err)
	}
	ids := make([]ebpf.ProgramID, 0, len(res.Programs))
	for _, p := range res.Programs {
		ids = append(ids, p.ID)
	}
	return ids, nil
}

func detach(dirFD int, id ebpf.ProgramID) error {
	p, err := ebpf.NewProgramFromID(id)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open device filter %d: %w", id, err)
	}
	defer p.Close()
	err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: dirFD, Program: p, Attach: ebpf.AttachCGroupDevice})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
