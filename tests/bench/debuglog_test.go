package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseCreateSteps(t *testing.T) {
	log := `{"level":"debug","msg":"rung-lsm: starting plugin","time":"2026-12-01T19:34:22.41550782Z"}
{"container":"c","level":"debug","ms":51.5,"msg":"plugins launched and bundle read","time":"2026-12-01T19:34:22.4515Z"}
{"container":"c","level":"debug","ms":57.5,"msg":"create step","step":"prepare","time":"x"}
not json
{"call":"validate+prepare","level":"debug","ms":2.5,"msg":"plugin call","stage":"cgroups","time":"x"}
{"container":"c","level":"debug","ms":64.5,"msg":"create step","step":"prepared","time":"2026-12-01T19:34:22.5Z"}
{"level":"info","msg":"create step without ms"}
`
	cl := parseCreateLog(strings.NewReader(log))
	marks := cl.marks
	if len(marks) != 3 || marks[0].step != "launched" || marks[2].step != "prepared" {
		t.Fatalf("marks = %+v", marks)
	}
	if want := time.Date(2026, 12, 1, 19, 34, 22, 400_000_000, time.UTC); !cl.began.Equal(want) {
		t.Errorf("began = %v, want %v", cl.began, want)
	}
	if d := cl.last.Sub(cl.began); d != 100*time.Millisecond {
		t.Errorf("began..last = %v", d)
	}
	if cl.calls["cgroups validate+prepare"] != 2.5 || len(cl.calls) != 1 {
		t.Errorf("calls = %v", cl.calls)
	}
	iv := intervals(marks)
	if iv["launched"] != 51.5 || iv["prepare"] != 6 || iv["prepared"] != 7 {
		t.Errorf("intervals = %v", iv)
	}
}

// The init's marks arrive with ready, logged after a host step that came
// later in time; intervals follow the clock.
func TestIntervalsFollowTheClock(t *testing.T) {
	iv := intervals([]stepMark{{"forked", 10}, {"init go", 9}, {"init config", 12}, {"created", 15}})
	if iv["init go"] != 9 || iv["forked"] != 1 || iv["init config"] != 2 || iv["created"] != 3 {
		t.Errorf("intervals = %v", iv)
	}
}
