package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Result of one point: what a TAP line said.
const (
	Pass = "ok"
	Fail = "fail"
	Skip = "skip"
	Todo = "todo"
)

// Status of a whole test binary, first match wins (the same rules as
// shared/tools/run-validation.sh, so numbers can be compared with it).
const (
	StTimeout = "TIMEOUT" // killed after the per-test timeout
	StFail    = "FAIL"    // at least one "not ok"
	StError   = "ERROR"   // exit status != 0 (util.Fatal: create failed, or an invalid config was accepted)
	StDiagErr = "DIAGERR" // no points but a YAML "error" diagnostic: how the hooks tests report failure
	StEmpty   = "EMPTY"   // exit 0, no points, no error: how the hooks and *_fail tests report success
	StBadPlan = "BADPLAN" // plan != number of points
	StOK      = "OK"
	StMissing = "MISSING" // the binary was not run (not built, or no result in the baseline)
)

// Good says whether a binary status counts as passing.
func Good(status string) bool { return status == StOK || status == StEmpty }

// Point is one top-level TAP line. Key names it stably across runs: the
// description without the number, plus "#n" for its n-th repeat within the
// same binary (runtimetest prints the same checks more than once).
type Point struct {
	Key    string
	Result string
	Line   string
}

// TAP is what one test binary printed.
type TAP struct {
	Points     []Point
	Plan       int // sum of every "1..N" (some binaries print several streams)
	HasPlan    bool
	DiagErrors int // YAML `"error": "..."` lines with a non-empty value
}

var (
	reLine = regexp.MustCompile(`^(not ok|ok)\b\s*(\d+)?\s*(.*)$`)
	rePlan = regexp.MustCompile(`^1\.\.(\d+)`)
	reDiag = regexp.MustCompile(`^    "error": "[^"]`)
	reSkip = regexp.MustCompile(`(?i)^#\s*skip\b`)
	reTodo = regexp.MustCompile(`(?i)^#\s*todo\b`)
)

// ParseTAP reads TAP output. Only top-level lines count: indented YAML
// diagnostics embed runtimetest's own output, which is not ours to count.
func ParseTAP(r io.Reader) (*TAP, error) {
	t := &TAP{}
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if m := rePlan.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			t.Plan += n
			t.HasPlan = true
			continue
		}
		if reDiag.MatchString(line) {
			t.DiagErrors++
			continue
		}
		m := reLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		desc := strings.TrimSpace(m[3])
		res := Pass
		if m[1] == "not ok" {
			res = Fail
		}
		switch {
		case reSkip.MatchString(desc):
			res = Skip
		case reTodo.MatchString(desc):
			res = Todo
		}
		desc = strings.TrimSpace(strings.TrimPrefix(desc, "- "))
		desc = strings.Map(func(r rune) rune {
			if r == '\t' {
				return ' '
			}
			return r
		}, desc)
		if desc == "" {
			desc = "(no description)"
		}
		seen[desc]++
		key := desc
		if n := seen[desc]; n > 1 {
			key = fmt.Sprintf("%s #%d", desc, n)
		}
		t.Points = append(t.Points, Point{Key: key, Result: res, Line: line})
	}
	return t, sc.Err()
}

// Counts returns pass, fail, skip, todo.
func (t *TAP) Counts() (pass, fail, skip, todo int) {
	for _, p := range t.Points {
		switch p.Result {
		case Pass:
			pass++
		case Fail:
			fail++
		case Skip:
			skip++
		case Todo:
			todo++
		}
	}
	return
}

// Status classifies a finished binary.
func (t *TAP) Status(exitCode int, timedOut bool) string {
	_, fail, _, _ := t.Counts()
	n := len(t.Points)
	switch {
	case timedOut:
		return StTimeout
	case fail > 0:
		return StFail
	case exitCode != 0:
		return StError
	case n == 0 && t.DiagErrors > 0:
		return StDiagErr
	case n == 0:
		return StEmpty
	case t.HasPlan && t.Plan != n:
		return StBadPlan
	}
	return StOK
}
