// Command hostileplugin is a stage plugin, built with rung's sdk, that
// answers the host with what a buggy or compromised plugin could send: plans
// past every bound, paths that climb out, crashes and hangs in the middle of
// a call. The security tests put it in a RUNG_PLUGIN_DIR in place of one of
// the real plugins.
//
// It is configured through the environment rung passes on to its plugins:
//
//	HOSTILE_STAGE  the stage it claims to be (default "seccomp")
//	HOSTILE_MODE   what it does wrong (see plan and misbehave below)
//	HOSTILE_DIR    a directory for its pid file and call log
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk"
)

type stage struct{ mode, name string }

func main() {
	name := os.Getenv("HOSTILE_STAGE")
	if name == "" {
		name = "seccomp"
	}
	sdk.Serve(stage{mode: os.Getenv("HOSTILE_MODE"), name: name})
}

// note records the call in HOSTILE_DIR/calls (and the pid in HOSTILE_DIR/pid),
// so a test can tell which calls reached the plugin.
func note(call string) {
	dir := os.Getenv("HOSTILE_DIR")
	if dir == "" {
		return
	}
	_ = os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	f, err := os.OpenFile(filepath.Join(dir, "calls"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		fmt.Fprintln(f, call)
		f.Close()
	}
}

// misbehave does what the mode says for this call: "die-in-<call>" kills the
// plugin with SIGKILL mid-call ("dieonce-in-<call>" only the first time), "exit-in-<call>" exits, "panic-in-<call>"
// panics, "hang-in-<call>" never answers (only the host's deadline ends the
// call), "print-in-<call>" writes to the plugin's stdout and stderr, which
// must never reach the container's.
func (s stage) misbehave(ctx context.Context, call string) error {
	note(call)
	verb, target, ok := strings.Cut(s.mode, "-in-")
	if !ok || target != call {
		return nil
	}
	switch verb {
	case "die":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	case "dieonce":
		flag := filepath.Join(os.Getenv("HOSTILE_DIR"), "died")
		if _, err := os.Stat(flag); err == nil {
			return nil
		}
		_ = os.WriteFile(flag, nil, 0o644)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	case "exit":
		os.Exit(3)
	case "panic":
		panic("hostile plugin panics in " + call)
	case "hang":
		// Truly stuck: not even the call's context ends it.
		select {}
	case "print":
		fmt.Fprintln(os.Stdout, "PLUGIN-STDOUT-LEAK")
		fmt.Fprintln(os.Stderr, "PLUGIN-STDERR-LEAK")
	case "error":
		return errors.New("hostile failure\n{\"level\":\"error\",\"msg\":\"INJECTED-LOG-LINE\"}\nsecond line")
	}
	return nil
}

func (s stage) Describe(ctx context.Context) (sdk.Description, error) {
	if err := s.misbehave(ctx, "describe"); err != nil {
		return sdk.Description{}, err
	}
	return sdk.Description{Name: "hostile-" + s.name, Version: "0.0.1", Stage: s.name, Features: []byte("{}")}, nil
}

func (s stage) Validate(ctx context.Context, _ *sdk.Container) ([]sdk.FieldError, error) {
	return nil, s.misbehave(ctx, "validate")
}

func (s stage) Prepare(ctx context.Context, c *sdk.Container) (*sdk.Plan, error) {
	if err := s.misbehave(ctx, "prepare"); err != nil {
		return nil, err
	}
	return plan(s.mode, c)
}

func (s stage) Attach(ctx context.Context, _ *sdk.Container, _ int) (map[string]string, error) {
	if err := s.misbehave(ctx, "attach"); err != nil {
		return nil, err
	}
	if s.mode == "huge-attach-state" {
		return map[string]string{"big": strings.Repeat("x", 8<<20)}, nil
	}
	return nil, nil
}

func (s stage) Destroy(ctx context.Context, _ *sdk.Container) error {
	return s.misbehave(ctx, "destroy")
}

func ns(t stagev1.NamespaceType, path string) *stagev1.Action { return sdk.NamespaceAction(t, path) }

// plan is the Prepare answer of each malformed-plan mode; any other mode
// gets a harmless plan with a little state, so Destroy is owed.
func plan(mode string, c *sdk.Container) (*sdk.Plan, error) {
	st := map[string]string{"hostile": "1"}
	one := func(a *stagev1.Action) (*sdk.Plan, error) {
		return &sdk.Plan{State: st, Actions: []*stagev1.Action{a}}, nil
	}
	switch mode {
	case "huge-seccomp":
		// 1 MiB: 131072 instructions, 32 times the kernel's BPF_MAXINSNS.
		return one(sdk.SeccompAction(&stagev1.SeccompFilter{Program: make([]byte, 1<<20)}))
	case "ragged-seccomp":
		return one(sdk.SeccompAction(&stagev1.SeccompFilter{Program: make([]byte, 12)}))
	case "empty-seccomp":
		return one(sdk.SeccompAction(&stagev1.SeccompFilter{}))
	case "relative-ns":
		return one(ns(stagev1.NamespaceType_NAMESPACE_NETWORK, "proc/1/ns/net"))
	case "nul-ns":
		return one(ns(stagev1.NamespaceType_NAMESPACE_NETWORK, "/proc/1/ns/net\x00/x"))
	case "long-ns":
		return one(ns(stagev1.NamespaceType_NAMESPACE_NETWORK, "/"+strings.Repeat("a/", 4096)))
	case "unknown-ns":
		return one(ns(stagev1.NamespaceType(99), ""))
	case "unspecified-ns":
		return one(ns(stagev1.NamespaceType_NAMESPACE_UNSPECIFIED, ""))
	case "many-joins":
		var acts []*stagev1.Action
		for i := 0; i < 40; i++ {
			acts = append(acts, ns(stagev1.NamespaceType_NAMESPACE_NETWORK, "/proc/self/ns/net"))
		}
		return &sdk.Plan{State: st, Actions: acts}, nil
	case "many-actions":
		var acts []*stagev1.Action
		for i := 0; i < 100000; i++ {
			acts = append(acts, ns(stagev1.NamespaceType_NAMESPACE_UTS, ""))
		}
		return &sdk.Plan{State: st, Actions: acts}, nil
	case "cgroup-dotdot":
		return one(sdk.CgroupAction("/sys/fs/cgroup/unified/rung/../../../../tmp"))
	case "cgroup-relative":
		return one(sdk.CgroupAction("sys/fs/cgroup/unified/rung"))
	case "cgroup-not-cgroup":
		// Clean and absolute, but no cgroup: the host must check what it
		// clones into.
		return one(sdk.CgroupAction(c.Bundle))
	case "cgroup-v1-not-cgroup":
		// The same for the v1 directories, whose tasks files the host
		// opens and hands to the bootstrap: a tmpfs or ext4 directory
		// must be refused before any file in it is opened.
		return one(&stagev1.Action{Kind: &stagev1.Action_Cgroup{Cgroup: &stagev1.CgroupPlacement{V1Paths: []string{c.Bundle}}}})
	case "cgroup-v1-symlink":
		// A symlink planted where a cgroup should be, pointing at one.
		link := filepath.Join(c.Bundle, "cgroup-link")
		if err := os.Symlink("/sys/fs/cgroup/pids", link); err != nil {
			return nil, err
		}
		return one(&stagev1.Action{Kind: &stagev1.Action_Cgroup{Cgroup: &stagev1.CgroupPlacement{V1Paths: []string{link}}}})
	case "empty-action":
		return one(&stagev1.Action{})
	case "procattr-newline":
		return one(sdk.ProcAttrAction("apparmor", "exec", "unconfined\nchangeprofile x"))
	case "procattr-path":
		return one(sdk.ProcAttrAction("apparmor", "../../../../proc/sys/kernel/core_pattern", "x"))
	case "procattr-lsm":
		return one(sdk.ProcAttrAction("../..", "exec", "x"))
	case "procattr-huge":
		return one(sdk.ProcAttrAction("apparmor", "exec", strings.Repeat("p", 1<<20)))
	case "mountlabel-comma":
		return one(sdk.MountLabelAction("system_u:object_r:x:s0,dev,suid"))
	case "timens-nanos":
		return one(sdk.TimeOffsetsAction(&stagev1.TimeOffsets{MonotonicNanos: 2e9}))
	case "landlock-relative":
		return one(sdk.LandlockAction(&stagev1.Landlock{Rules: []*stagev1.LandlockPathRule{{Path: "etc", AllowedAccess: 1}}}))
	case "landlock-many":
		ll := &stagev1.Landlock{}
		for i := 0; i < 100000; i++ {
			ll.Rules = append(ll.Rules, &stagev1.LandlockPathRule{Path: "/", AllowedAccess: 1})
		}
		return one(sdk.LandlockAction(ll))
	case "huge-state":
		// Past gRPC's default 4 MiB receive limit.
		return &sdk.Plan{State: map[string]string{"big": strings.Repeat("x", 8<<20)}}, nil
	}
	return &sdk.Plan{State: st}, nil
}
