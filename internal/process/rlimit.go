//go:build linux

package process

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var rlimitByName = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// RlimitResource maps "RLIMIT_NOFILE" to its resource number.
func RlimitResource(name string) (int, bool) {
	r, ok := rlimitByName[name]
	return r, ok
}

// ValidateRlimits checks types and soft <= hard without touching the
// kernel: unknown and duplicate types are errors (runtime-spec: "MUST
// generate an error"), each naming process.rlimits[i].
func ValidateRlimits(rl []specs.POSIXRlimit) []error {
	var errs []error
	seen := make(map[string]int)
	for i, r := range rl {
		if _, ok := rlimitByName[r.Type]; !ok {
			errs = append(errs, fmt.Errorf("process.rlimits[%d]: unknown rlimit type %q", i, r.Type))
			continue
		}
		if j, dup := seen[r.Type]; dup {
			errs = append(errs, fmt.Errorf("process.rlimits[%d]: %s already set by process.rlimits[%d]", i, r.Type, j))
			continue
		}
		seen[r.Type] = i
		if r.Soft > r.Hard {
			errs = append(errs, fmt.Errorf("process.rlimits[%d]: %s soft limit %d is above its hard limit %d", i, r.Type, r.Soft, r.Hard))
		}
	}
	return errs
}

// SetRlimits applies the limits to the current process. unix.Prlimit goes
// through the Go runtime's own hook, so the runtime does not put back its
// saved RLIMIT_NOFILE when the init later execs the container process.
func SetRlimits(rl []specs.POSIXRlimit) error { return SetRlimitsOf(0, rl) }

// SetRlimitsOf sets the limits on process pid (0: the caller) with
// prlimit(2). The host uses it on a waiting init, so that a small limit
// cannot starve the init's Go runtime before execve.
func SetRlimitsOf(pid int, rl []specs.POSIXRlimit) error {
	if errs := ValidateRlimits(rl); len(errs) > 0 {
		return errors.Join(errs...)
	}
	for i, r := range rl {
		res := rlimitByName[r.Type]
		var old unix.Rlimit
		if err := unix.Prlimit(pid, res, nil, &old); err != nil {
			return fmt.Errorf("process.rlimits[%d]: read current %s: %w", i, r.Type, err)
		}
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Prlimit(pid, res, &lim, nil); err != nil {
			if errors.Is(err, unix.EPERM) && r.Hard > old.Max {
				return fmt.Errorf("process.rlimits[%d]: raising the %s hard limit from %s to %s needs CAP_SYS_RESOURCE in the initial user namespace: %w",
					i, r.Type, fmtLimit(old.Max), fmtLimit(r.Hard), err)
			}
			return fmt.Errorf("process.rlimits[%d]: set %s to soft %s, hard %s: %w", i, r.Type, fmtLimit(r.Soft), fmtLimit(r.Hard), err)
		}
	}
	return nil
}

func fmtLimit(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return fmt.Sprint(v)
}

// starving are the limits whose soft value, set on the waiting init, could
// starve its Go runtime before execve: the runtime reserves far more address
// space than it uses (a waiting rung-init maps 1.5 GB), so any thread or
// heap it needs after a small RLIMIT_AS (or DATA, or NPROC for threads)
// fails and the init dies. runc's older runtime reserved less and got by.
var starving = map[string]bool{"RLIMIT_AS": true, "RLIMIT_DATA": true, "RLIMIT_NPROC": true}

// EarlyRlimits are the limits the host sets on the waiting init: the
// starving ones with their soft value at their hard one, to be lowered by
// LowerDeferredRlimits right before execve (lowering needs no privilege).
func EarlyRlimits(rl []specs.POSIXRlimit) []specs.POSIXRlimit {
	out := append([]specs.POSIXRlimit(nil), rl...)
	for i := range out {
		if starving[out[i].Type] {
			out[i].Soft = out[i].Hard
		}
	}
	return out
}

// LowerDeferredRlimits sets the starving limits' soft values, the last
// thing before execve.
func LowerDeferredRlimits(rl []specs.POSIXRlimit) error {
	for i, r := range rl {
		if !starving[r.Type] || r.Soft == r.Hard {
			continue
		}
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Setrlimit(rlimitByName[r.Type], &lim); err != nil {
			return fmt.Errorf("process.rlimits[%d]: set %s soft limit %s: %w", i, r.Type, fmtLimit(r.Soft), err)
		}
	}
	return nil
}
