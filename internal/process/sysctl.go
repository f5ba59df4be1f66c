//go:build linux

package process

import (
	"errors"
	"fmt"
	"sort"

	"github.com/rung-runtime/rung/internal/procfs"
	"golang.org/x/sys/unix"
)

// ValidateSysctl checks the keys without touching the kernel (whether a
// sysctl is allowed in the container's namespaces is the namespace stage's
// decision, not made here).
func ValidateSysctl(sysctl map[string]string) []error {
	var errs []error
	for _, k := range sortedKeys(sysctl) {
		if _, err := procfs.SysctlPath(k); err != nil {
			errs = append(errs, fmt.Errorf("linux.sysctl[%q]: %w", k, err))
		}
	}
	return errs
}

// ApplySysctl writes each value to /proc/sys/<key> through the verified
// procfs, in key order so that failures are reproducible. The writes take
// effect in the namespaces the calling process is in (net, ipc, uts).
func ApplySysctl(sysctl map[string]string) error {
	if errs := ValidateSysctl(sysctl); len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, k := range sortedKeys(sysctl) {
		f, err := procfs.OpenSysctl(k, unix.O_WRONLY)
		if err != nil {
			return fmt.Errorf("linux.sysctl[%q]: %w", k, err)
		}
		_, err = unix.Write(int(f.Fd()), []byte(sysctl[k]))
		f.Close()
		if err != nil {
			return fmt.Errorf("linux.sysctl[%q]: write %q: %w", k, sysctl[k], err)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SetOOMScoreAdj writes process.oomScoreAdj to /proc/self/oom_score_adj.
// Lowering the value needs CAP_SYS_RESOURCE in the initial user namespace.
func SetOOMScoreAdj(adj *int) error {
	if adj == nil {
		return nil
	}
	if *adj < -1000 || *adj > 1000 {
		return fmt.Errorf("process.oomScoreAdj: %d is outside [-1000, 1000]", *adj)
	}
	if err := procfs.WriteSelf("oom_score_adj", fmt.Sprint(*adj)); err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("process.oomScoreAdj: %w (lowering the score needs CAP_SYS_RESOURCE)", err)
		}
		return fmt.Errorf("process.oomScoreAdj: %w", err)
	}
	return nil
}
