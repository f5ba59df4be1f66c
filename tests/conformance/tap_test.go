package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `TAP version 13
ok 1 - has expected hostname
not ok 2 - mounts[0] (/proc) found in order
  ---
  {
    "error": "boom",
    "nested": "ok 7 - not a top-level line"
  }
  ...
ok 3 # SKIP no seccomp
ok 4 - has expected hostname
not ok 5 # TODO later
1..5
`

func TestParseTAP(t *testing.T) {
	tp, err := ParseTAP(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	pass, fail, skip, todo := tp.Counts()
	if pass != 2 || fail != 1 || skip != 1 || todo != 1 {
		t.Fatalf("counts = %d %d %d %d, want 2 1 1 1", pass, fail, skip, todo)
	}
	if tp.Plan != 5 || !tp.HasPlan || tp.DiagErrors != 1 {
		t.Fatalf("plan %d/%v diag %d", tp.Plan, tp.HasPlan, tp.DiagErrors)
	}
	keys := []string{"has expected hostname", "mounts[0] (/proc) found in order", "# SKIP no seccomp", "has expected hostname #2", "# TODO later"}
	for i, k := range keys {
		if tp.Points[i].Key != k {
			t.Errorf("point %d key %q, want %q", i, tp.Points[i].Key, k)
		}
	}
	if got := tp.Status(0, false); got != StFail {
		t.Errorf("status %s, want FAIL", got)
	}
}

func TestStatus(t *testing.T) {
	cases := []struct {
		tap      string
		exit     int
		timedOut bool
		want     string
	}{
		{"ok 1 - a\n1..1\n", 0, false, StOK},
		{"ok 1 - a\n1..1\n", 0, true, StTimeout},
		{"ok 1 - a\n1..1\n", 1, false, StError},
		{"1..0\n", 0, false, StEmpty},
		{"  ---\n  {\n    \"error\": \"Hooks MUST be called\"\n  }\n1..0\n", 0, false, StDiagErr},
		{"  {\n    \"error\": \"\"\n  }\n", 0, false, StEmpty},
		{"ok 1 - a\n1..2\n", 0, false, StBadPlan},
		{"ok 1 - a\nok 2 - b\n", 0, false, StOK},
	}
	for i, c := range cases {
		tp, _ := ParseTAP(strings.NewReader(c.tap))
		if got := tp.Status(c.exit, c.timedOut); got != c.want {
			t.Errorf("case %d: %s, want %s", i, got, c.want)
		}
	}
}

func outcome(test, tap string, exit int) *Outcome {
	tp, _ := ParseTAP(strings.NewReader(tap))
	return NewOutcome(test, tp, exit, false, 0)
}

func TestBaselineRoundTripAndRegressions(t *testing.T) {
	now := []*Outcome{
		outcome("b", "ok 1 - x\nnot ok 2 - y\n1..2\n", 0),
		outcome("a", "ok 1 - z\n1..1\n", 0),
	}
	var buf bytes.Buffer
	if err := WriteBaseline(&buf, []string{"hdr"}, now, nil); err != nil {
		t.Fatal(err)
	}
	want := "# hdr\na\tstatus\tOK\na\tok\tz\nb\tstatus\tFAIL\nb\tok\tx\nb\tfail\ty\n"
	if buf.String() != want {
		t.Fatalf("baseline:\n%s\nwant:\n%s", buf.String(), want)
	}
	base, err := ReadBaseline(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r := Regressions(base, now); len(r) != 0 {
		t.Fatalf("same run regressed: %v", r)
	}

	later := []*Outcome{
		outcome("a", "not ok 1 - z\n1..1\n", 0), // point and status regress
		outcome("b", "ok 1 - y\n1..1\n", 0),     // x gone, y now passes
	}
	r := Regressions(base, later)
	got := []string{}
	for _, c := range r {
		got = append(got, c.String())
	}
	wantR := []string{"a: (binary status): OK -> FAIL", "a: z: ok -> fail", "b: x: ok -> missing"}
	if strings.Join(got, "|") != strings.Join(wantR, "|") {
		t.Fatalf("regressions %q, want %q", got, wantR)
	}
	imp := Improvements(base, later)
	if len(imp) != 2 || imp[0].Key != "" || imp[1].Key != "y" {
		t.Fatalf("improvements %v", imp)
	}
}

func TestFlakyIsKeptAndIgnored(t *testing.T) {
	base, err := ReadBaseline(strings.NewReader("p\tstatus\tflaky\np\tflaky\trace\np\tok\tsteady\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := []*Outcome{outcome("p", "not ok 1 - race\nok 2 - steady\n1..2\n", 0)}
	if r := Regressions(base, now); len(r) != 0 {
		t.Fatalf("flaky lines regressed: %v", r)
	}
	var buf bytes.Buffer
	if err := WriteBaseline(&buf, nil, []*Outcome{outcome("p", "ok 1 - steady\n1..1\n", 0)}, base); err != nil {
		t.Fatal(err)
	}
	want := "p\tstatus\tflaky\np\tok\tsteady\np\tflaky\trace\n"
	if buf.String() != want {
		t.Fatalf("rewritten baseline:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestBehind(t *testing.T) {
	runc := outcome("t", "ok 1 - a\nok 2 - b\nnot ok 3 - c\n1..3\n", 0)
	rung := outcome("t", "ok 1 - a\nnot ok 2 - b\nok 3 - c\n1..3\n", 0)
	b := Behind(runc, rung)
	if len(b) != 1 || b[0].Key != "b" {
		t.Fatalf("behind = %v", b)
	}
	// A *_fail test: runc accepted the bad config and ran runtimetest;
	// the runtime that refused it (EMPTY) is not behind.
	runcFail := outcome("x_fail", "ok 1 - a\n1..1\n", 1)
	rungFail := outcome("x_fail", "", 0)
	if b := Behind(runcFail, rungFail); len(b) != 0 {
		t.Fatalf("behind on a refused bad config: %v", b)
	}
}

func TestReadBaselineErrors(t *testing.T) {
	for _, in := range []string{"a\tok\n", "a\tmaybe\tk\n", "a\tok\tk\na\tfail\tk\n"} {
		if _, err := ReadBaseline(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
