package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"io"
	"slices"
	"time"
)

// rung --debug logs, for create, "plugins launched and bundle read" and then
// one "create step" line per state.json save, each with ms since create
// began. A step's line is written just before the work it names, so the
// time between two lines is the work of the first one.
const launchedMsg = "plugins launched and bundle read"

// stepMark is one timestamped point of a create.
type stepMark struct {
	step string
	ms   float64
}

// createLog is what one create's JSON --log says about its timing.
type createLog struct {
	marks []stepMark
	// began is when Create's clock started (the launch line's time less
	// its ms): rung's exec, Go start-up and flag parsing come before it.
	// last is the time of the last create step, after which only the
	// plugins' teardown remains.
	began, last time.Time
	// calls is each "plugin call" line's ms, keyed "stage call" (a
	// create makes at most one call of a kind per stage).
	calls map[string]float64
}

// parseCreateLog reads one create's marks from a JSON --log, in order.
func parseCreateLog(r io.Reader) createLog {
	var out createLog
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for sc.Scan() {
		var e struct {
			Msg   string   `json:"msg"`
			Step  string   `json:"step"`
			Stage string   `json:"stage"`
			Call  string   `json:"call"`
			Ms    *float64 `json:"ms"`
			Time  string   `json:"time"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Ms == nil {
			continue
		}
		t, terr := time.Parse(time.RFC3339Nano, e.Time)
		switch e.Msg {
		case launchedMsg:
			out.marks = append(out.marks, stepMark{"launched", *e.Ms})
			if terr == nil {
				out.began = t.Add(-time.Duration(*e.Ms * float64(time.Millisecond)))
			}
		case "create step":
			out.marks = append(out.marks, stepMark{e.Step, *e.Ms})
			if terr == nil {
				out.last = t
			}
		case "plugin call":
			if out.calls == nil {
				out.calls = map[string]float64{}
			}
			out.calls[e.Stage+" "+e.Call] += *e.Ms
		}
	}
	return out
}

// stageNames explains each interval, named by the mark that ends it, in
// terms of what create.go and spawn.go do between the two log lines.
var stageNames = []struct{ end, what string }{
	{"launched", "launch plugins + Describe, dial warm ones, or take kept answers (overlaps reading config.json)"},
	{"prepare", "Validate of plugins that cannot validate in Prepare (none built in), reserve state dir"},
	{"prepared", "Prepare x4, each validating first"},
	{"spawn", "plan, exec fifo, seal of rung (overlay or memfd), encode bootstrap"},
	{"spawned", "clone+exec the bootstrap (cmd.Start)"},
	{"attach", "bootstrap: namespaces created, pid reported"},
	{"attached", "Attach of the stages that need it (none without a user namespace)"},
	{"forked", "release bootstrap, init forked, its config sent, pid saved, bootstrap reaped"},
	{"init go", "init: Go runtime start (marks from the init's own clock)"},
	{"init config", "init: config read and decoded (rung's binary wire form)"},
	{"init rootfs", "init: rootfs mounts, devices, propagation (rootfs.Prepare)"},
	{"init pivot", "init: pivot_root"},
	{"init finalize", "init: masked and read-only paths, hostname, sysctl"},
	{"init process", "init: process setup: caps, seccomp, user, fifo fd, up to ready"},
	{"created", "ready reached the host"},
}

// intervals turns one create's marks into per-stage durations, keyed by the
// ending mark; "launched" is measured from create's start.
func intervals(marks []stepMark) map[string]float64 {
	// The init's marks are logged when ready arrives, after steps of the
	// host's that ran at the same time: order by time, not by line.
	marks = slices.Clone(marks)
	slices.SortStableFunc(marks, func(a, b stepMark) int { return cmp.Compare(a.ms, b.ms) })
	out := map[string]float64{}
	prev := 0.0
	for _, m := range marks {
		out[m.step] = m.ms - prev
		prev = m.ms
	}
	return out
}
