package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rung-runtime/rung/sdk"
)

func container(cfg string, ann map[string]string) *sdk.Container {
	return &sdk.Container{ID: "c1", Config: []byte(cfg), Annotations: ann,
		Spec: &specs.Spec{Process: &specs.Process{NoNewPrivileges: true}}}
}

func abi(v int) stage { return stage{abi: func() (int, error) { return v, nil }} }

func TestPlanFromConfigAndAnnotation(t *testing.T) {
	c := container(`{"rules": [{"path": "/", "access": "ro"}, {"path": "/tmp", "access": ["read_file", "write_file"]}]}`,
		map[string]string{rulesAnnotation: `[{"path": "/bin", "access": "ro"}]`})
	plan, err := abi(7).Prepare(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Actions) != 2 {
		t.Fatalf("want the operator's and the container's rulesets, got %v", plan.Actions)
	}
	op, own := plan.Actions[0].GetLandlock(), plan.Actions[1].GetLandlock()
	if op.GetHandledAccessFs() != 0 || len(op.GetRules()) != 2 || op.GetRules()[0].GetAllowedAccess() != readOnly ||
		op.GetRules()[1].GetAllowedAccess() != rights["read_file"]|rights["write_file"] {
		t.Errorf("operator ruleset %v", op)
	}
	if own.GetHandledAccessFs() != 0 || own.GetRules()[0].GetPath() != "/bin" {
		t.Errorf("container ruleset %v", own)
	}
	if errs, err := abi(7).Validate(context.Background(), c); err != nil || len(errs) != 0 {
		t.Errorf("validate: %v %v", errs, err)
	}
}

func TestNothingConfiguredIsNoAction(t *testing.T) {
	plan, err := stage{abi: func() (int, error) { return 0, errors.New("ENOSYS") }}.Prepare(context.Background(), container("", nil))
	if err != nil || len(plan.Actions) != 0 {
		t.Errorf("no rules anywhere must not need Landlock: %v %v", plan, err)
	}
}

func TestErrors(t *testing.T) {
	ann := func(v string) map[string]string { return map[string]string{rulesAnnotation: v} }
	cases := []struct {
		s      stage
		c      *sdk.Container
		field  string // a field error, or
		errMsg string // a plain error
	}{
		{abi(7), container(`{"rules": [{"path": "rel", "access": "ro"}]}`, nil), "", "not a clean absolute path"},
		{abi(7), container(`{"rules": [{"path": "/", "access": "all"}]}`, nil), "", `access "all"`},
		{abi(7), container(`{"rules": [{"path": "/", "access": ["fly"]}]}`, nil), "", `unknown right "fly"`},
		{abi(7), container(`{"rules": [{"path": "/", "acess": "ro"}]}`, nil), "", "unknown field"},
		{abi(7), container(`{"rules": [{"path": "/"}]}`, nil), "", "no access rights"},
		{abi(2), container(`{"rules": [{"path": "/", "access": "ro"}], "handled": ["ioctl_dev"]}`, nil), "", "need Landlock ABI 5"},
		{stage{abi: func() (int, error) { return 0, errors.New("ENOSYS") }}, container(`{"rules": [{"path": "/", "access": "ro"}]}`, nil), "", "no Landlock"},
		{abi(7), container("", ann(`[]`)), "annotations." + rulesAnnotation, "deny the container every file"},
		{abi(7), container("", ann(`{"path": "/"}`)), "annotations." + rulesAnnotation, "JSON list"},
	}
	nnp := container("", ann(`[{"path": "/", "access": "ro"}]`))
	nnp.Spec.Process.NoNewPrivileges = false
	cases = append(cases, struct {
		s             stage
		c             *sdk.Container
		field, errMsg string
	}{abi(7), nnp, "process.noNewPrivileges", "must be true"})
	for _, tc := range cases {
		errs, err := tc.s.Validate(context.Background(), tc.c)
		switch {
		case tc.field != "":
			if err != nil || len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Message, tc.errMsg) {
				t.Errorf("%s %v: want field error %s %q, got %v %v", tc.c.Config, tc.c.Annotations, tc.field, tc.errMsg, errs, err)
			}
		default:
			if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
				t.Errorf("%s: want error %q, got %v %v", tc.c.Config, tc.errMsg, errs, err)
			}
		}
		if _, err := tc.s.Prepare(context.Background(), tc.c); err == nil {
			t.Errorf("%s %v: Prepare must refuse what Validate refuses", tc.c.Config, tc.c.Annotations)
		}
	}
}

func TestSysAdminNeedsNoNNP(t *testing.T) {
	c := container(`{"rules": [{"path": "/", "access": "ro"}]}`, nil)
	c.Spec.Process.NoNewPrivileges = false
	c.Spec.Process.Capabilities = &specs.LinuxCapabilities{Effective: []string{"CAP_SYS_ADMIN"}}
	if errs, err := abi(7).Validate(context.Background(), c); err != nil || len(errs) != 0 {
		t.Errorf("a process keeping CAP_SYS_ADMIN may restrict itself without no_new_privs: %v %v", errs, err)
	}
}
