package stagetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rung-runtime/rung/proto/stagev1"
)

var cloneFlags = map[stagev1.NamespaceType]uintptr{
	stagev1.NamespaceType_NAMESPACE_MOUNT:   unix.CLONE_NEWNS,
	stagev1.NamespaceType_NAMESPACE_UTS:     unix.CLONE_NEWUTS,
	stagev1.NamespaceType_NAMESPACE_IPC:     unix.CLONE_NEWIPC,
	stagev1.NamespaceType_NAMESPACE_NETWORK: unix.CLONE_NEWNET,
	stagev1.NamespaceType_NAMESPACE_PID:     unix.CLONE_NEWPID,
	stagev1.NamespaceType_NAMESPACE_USER:    unix.CLONE_NEWUSER,
	stagev1.NamespaceType_NAMESPACE_CGROUP:  unix.CLONE_NEWCGROUP,
	stagev1.NamespaceType_NAMESPACE_TIME:    unix.CLONE_NEWTIME,
}

// startChild starts a sleeping process standing in for the container's
// init: in the new namespaces the plan asks for and cloned into its cgroup.
// It returns nil and the reason when it cannot (not root), and a note when
// the child differs from what the host would make (namespaces to join).
func startChild(actions []*stagev1.Action) (*exec.Cmd, string, error) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return nil, "no sleep binary in PATH for the child", nil
	}
	var flags uintptr
	var cgroup string
	var joins []string
	for _, a := range actions {
		switch k := a.GetKind().(type) {
		case *stagev1.Action_Namespace:
			if p := k.Namespace.GetPath(); p != "" {
				joins = append(joins, p)
			} else {
				flags |= cloneFlags[k.Namespace.GetType()]
			}
		case *stagev1.Action_Cgroup:
			cgroup = k.Cgroup.GetPath()
		}
	}
	if (flags != 0 || cgroup != "") && os.Geteuid() != 0 {
		return nil, "needs root to start the child in the planned namespaces and cgroup", nil
	}
	// The time namespace applies to children only, and the kit cannot
	// write offsets before the exec; leave it to the real host.
	flags &^= unix.CLONE_NEWTIME
	cmd := exec.Command(sleep, "3600")
	attr := &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if cgroup != "" {
		fd, err := unix.Open(cgroup, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, "", fmt.Errorf("the plan's cgroup %s: %w", cgroup, err)
		}
		defer unix.Close(fd)
		attr.UseCgroupFD, attr.CgroupFD = true, fd
	}
	if flags&unix.CLONE_NEWUSER != 0 {
		// Go writes no maps unless asked: the child waits unmapped, as the
		// init does, for the stage to write them in Attach.
		attr.GidMappingsEnableSetgroups = false
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	note := ""
	if len(joins) > 0 {
		note = "the child did not join " + strings.Join(joins, ", ") + " (the kit only creates namespaces)"
	}
	return cmd, note, nil
}

func stopChild(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// cgroupGone checks that Destroy removed the cgroup the plan placed the
// init in.
func cgroupGone(actions []*stagev1.Action) error {
	for _, a := range actions {
		if cg, ok := a.GetKind().(*stagev1.Action_Cgroup); ok {
			if _, err := os.Lstat(cg.Cgroup.GetPath()); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cgroup %s still exists after destroy (err %v)", cg.Cgroup.GetPath(), err)
			}
		}
	}
	return nil
}
