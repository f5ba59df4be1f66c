package compile

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/sdk"
)

// Root is the JSON path of the object this package compiles.
const Root = "linux.seccomp"

// Validate reports every problem in s, each naming its JSON path under
// linux.seccomp: first the ones a reading of the profile finds, then, if there
// are none, whatever compiling it on this host finds (libseccomp refusing a
// rule, a program over the kernel's size limit). A nil s is valid. Validate
// has no side effects.
func Validate(s *specs.LinuxSeccomp) []sdk.FieldError {
	if s == nil {
		return nil
	}
	if errs := Check(s, HostSupport()); len(errs) > 0 {
		return errs
	}
	if _, err := Compiled(s); err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			return []sdk.FieldError{{Field: fe.Field, Message: fe.Err.Error()}}
		}
		return []sdk.FieldError{{Field: Root, Message: err.Error()}}
	}
	return nil
}

// Check is the part of Validate that needs no libseccomp filter: the shape of
// the profile, and whether h supports each action, architecture and flag it
// uses.
func Check(s *specs.LinuxSeccomp, h *Host) []sdk.FieldError {
	var errs []sdk.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, sdk.FieldError{Field: Root + field, Message: fmt.Sprintf(format, args...)})
	}
	if s == nil {
		return nil
	}
	if !h.Enabled {
		add("", "this host's kernel has no seccomp filter support")
		return errs
	}

	checkAction := func(field string, a specs.LinuxSeccompAction) bool {
		switch {
		case a == "":
			add(field, "is required (one of %s)", knownActions())
			return false
		case !known(a):
			add(field, "unknown action %q (known: %s)", a, knownActions())
			return false
		case !h.actions[a]:
			add(field, "action %s is not supported on this host: %v", a, h.actionErr[a])
			return false
		}
		return true
	}
	checkErrno := func(field string, a specs.LinuxSeccompAction, v *uint) {
		if v == nil || !known(a) {
			return
		}
		info := actions[a]
		switch {
		case info.errnoMax == 0:
			add(field, "is set but action %s returns no errno (only %s and %s take one)", a, specs.ActErrno, specs.ActTrace)
		case *v > info.errnoMax:
			add(field, "%d is out of range for %s (0 to %d)", *v, a, info.errnoMax)
		}
	}

	if checkAction(".defaultAction", s.DefaultAction) && s.DefaultAction == specs.ActNotify {
		// runc refuses it too: every syscall of the init after it installs
		// the filter (including the ones that hand the notify fd over) would
		// wait for a listener that does not have the fd yet.
		add(".defaultAction", "%s cannot be the default action", specs.ActNotify)
	}
	checkErrno(".defaultErrnoRet", s.DefaultAction, s.DefaultErrnoRet)

	for i, a := range s.Architectures {
		field := fmt.Sprintf(".architectures[%d]", i)
		if _, ok := arches[a]; !ok {
			add(field, "unknown architecture %q (known: %s)", a, joinArches())
		} else if !h.archs[a] {
			add(field, "architecture %s cannot be used on this host (libseccomp %s, native %s): %v", a, h.Library, h.Native, h.archErr[a])
		}
	}

	for i, f := range s.Flags {
		field := fmt.Sprintf(".flags[%d]", i)
		if _, ok := flags[f]; !ok {
			add(field, "unknown flag %q (known: %s)", f, joinFlags())
		} else if !h.flagsOK[f] {
			add(field, "flag %s is not supported by this host's kernel", f)
		}
	}

	usesNotify := false
	names := 0
	for i, sc := range s.Syscalls {
		field := fmt.Sprintf(".syscalls[%d]", i)
		if len(sc.Names) == 0 {
			add(field+".names", "must name at least one syscall")
		}
		names += len(sc.Names)
		okAction := checkAction(field+".action", sc.Action)
		if sc.Action == specs.ActNotify {
			usesNotify = true
		}
		for j, name := range sc.Names {
			nfield := fmt.Sprintf("%s.names[%d]", field, j)
			switch {
			case name == "":
				add(nfield, "is empty")
			case strings.ContainsRune(name, 0):
				add(nfield, "contains a NUL byte")
			case okAction && sc.Action == specs.ActNotify && name == "write":
				// As runc: the init writes after the filter is in place and
				// before the listener has the notify fd, so it would hang.
				add(nfield, "%s cannot be used for write", specs.ActNotify)
			}
		}
		checkErrno(field+".errnoRet", sc.Action, sc.ErrnoRet)
		if len(sc.Args) > MaxArgs {
			add(field+".args", "has %d conditions; at most %d are allowed", len(sc.Args), MaxArgs)
		}
		for k, arg := range sc.Args {
			afield := fmt.Sprintf("%s.args[%d]", field, k)
			if arg.Index >= MaxArgs {
				add(afield+".index", "%d is out of range: a syscall has arguments 0 to %d", arg.Index, MaxArgs-1)
			}
			if _, ok := operators[arg.Op]; !ok {
				if arg.Op == "" {
					add(afield+".op", "is required (one of %s)", joinOperators())
				} else {
					add(afield+".op", "unknown operator %q (known: %s)", arg.Op, joinOperators())
				}
			}
		}
	}
	if names > maxNames {
		add(".syscalls", "names %d syscalls in all; at most %d are allowed", names, maxNames)
	}

	switch {
	case usesNotify && s.ListenerPath == "":
		add(".listenerPath", "is required when a rule uses %s", specs.ActNotify)
	case len(s.ListenerPath) > maxSunPath:
		add(".listenerPath", "is %d bytes; a unix socket path holds at most %d", len(s.ListenerPath), maxSunPath)
	case strings.ContainsRune(s.ListenerPath, 0):
		add(".listenerPath", "contains a NUL byte")
	}
	if len(s.ListenerMetadata) > maxMetadata {
		add(".listenerMetadata", "is %d bytes; at most %d are allowed", len(s.ListenerMetadata), maxMetadata)
	}
	return errs
}

func known(a specs.LinuxSeccompAction) bool {
	_, ok := actions[a]
	return ok
}

func knownActions() string {
	var out []string
	for _, a := range actionOrder {
		out = append(out, string(a))
	}
	return strings.Join(out, ", ")
}

func joinArches() string {
	var out []string
	for _, a := range archOrder {
		out = append(out, string(a))
	}
	return strings.Join(out, ", ")
}

func joinFlags() string {
	var out []string
	for _, f := range flagOrder {
		out = append(out, string(f))
	}
	return strings.Join(out, ", ")
}

func joinOperators() string {
	var out []string
	for _, o := range operatorOrder {
		out = append(out, string(o))
	}
	return strings.Join(out, ", ")
}
