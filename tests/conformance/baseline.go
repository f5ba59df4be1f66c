package main

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The baseline is a TSV file, one line per binary and per point:
//
//	TEST <tab> status <tab> STATUS          the binary's status
//	TEST <tab> ok|fail|skip|todo <tab> KEY  one point
//
// A result of "flaky" (in place of status or ok/fail) marks a line that is
// known to change between runs on this host; it is never a regression and
// -update-baseline keeps the mark. Lines starting with # are comments.

// Flaky marks a baseline line that is not checked.
const Flaky = "flaky"

// Outcome is one binary's result for one runtime.
type Outcome struct {
	Test    string
	Status  string
	Points  map[string]string // key -> result
	Order   []string          // keys in TAP order
	Seconds float64
	Exit    int
}

// NewOutcome builds an Outcome from parsed TAP.
func NewOutcome(test string, t *TAP, exitCode int, timedOut bool, secs float64) *Outcome {
	o := &Outcome{Test: test, Status: t.Status(exitCode, timedOut), Points: map[string]string{}, Seconds: secs, Exit: exitCode}
	for _, p := range t.Points {
		o.Points[p.Key] = p.Result
		o.Order = append(o.Order, p.Key)
	}
	return o
}

// Baseline maps test -> recorded outcome (Points may hold Flaky).
type Baseline map[string]*Outcome

// ReadBaseline parses a baseline file.
func ReadBaseline(r io.Reader) (Baseline, error) {
	b := Baseline{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("baseline line %d: want 3 tab-separated fields, got %d", n, len(f))
		}
		o := b[f[0]]
		if o == nil {
			o = &Outcome{Test: f[0], Status: StMissing, Points: map[string]string{}}
			b[f[0]] = o
		}
		switch f[1] {
		case "status":
			o.Status = f[2]
		case Pass, Fail, Skip, Todo, Flaky:
			if _, dup := o.Points[f[2]]; dup {
				return nil, fmt.Errorf("baseline line %d: %s point %q listed twice", n, f[0], f[2])
			}
			o.Points[f[2]] = f[1]
			o.Order = append(o.Order, f[2])
		default:
			return nil, fmt.Errorf("baseline line %d: unknown result %q", n, f[1])
		}
	}
	return b, sc.Err()
}

// WriteBaseline writes outcomes in baseline form, keeping the flaky marks
// of old (which may be nil).
func WriteBaseline(w io.Writer, header []string, outs []*Outcome, old Baseline) error {
	bw := bufio.NewWriter(w)
	for _, h := range header {
		fmt.Fprintf(bw, "# %s\n", h)
	}
	sorted := append([]*Outcome(nil), outs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Test < sorted[j].Test })
	for _, o := range sorted {
		var prev *Outcome
		if old != nil {
			prev = old[o.Test]
		}
		st := o.Status
		if prev != nil && prev.Status == Flaky {
			st = Flaky
		}
		fmt.Fprintf(bw, "%s\tstatus\t%s\n", o.Test, st)
		keys := o.Order
		if prev != nil {
			// Flaky points absent from this run stay listed.
			for _, k := range prev.Order {
				if prev.Points[k] == Flaky {
					if _, ok := o.Points[k]; !ok {
						keys = append(keys, k)
					}
				}
			}
		}
		for _, k := range keys {
			res := o.Points[k]
			if prev != nil && prev.Points[k] == Flaky {
				res = Flaky
			}
			fmt.Fprintf(bw, "%s\t%s\t%s\n", o.Test, res, k)
		}
	}
	return bw.Flush()
}

// Change is one difference between two outcomes of the same test.
type Change struct {
	Test, Key string // Key is "" for the binary's status
	Was, Now  string
}

func (c Change) String() string {
	what := c.Key
	if what == "" {
		what = "(binary status)"
	}
	return fmt.Sprintf("%s: %s: %s -> %s", c.Test, what, c.Was, c.Now)
}

// Regressions lists what passed in the baseline and does not now: a point
// that was "ok" and is now failing, skipped or gone, and a binary whose
// status was OK/EMPTY and no longer is. Flaky lines and tests absent from
// the baseline are not checked; tests not run now (TESTS= subset) neither.
func Regressions(base Baseline, now []*Outcome) []Change {
	var out []Change
	for _, o := range now {
		b := base[o.Test]
		if b == nil {
			continue
		}
		if b.Status != Flaky && Good(b.Status) && !Good(o.Status) {
			out = append(out, Change{o.Test, "", b.Status, o.Status})
		}
		for _, k := range b.Order {
			if b.Points[k] != Pass {
				continue
			}
			if r := o.Points[k]; r != Pass {
				if r == "" {
					r = "missing"
				}
				out = append(out, Change{o.Test, k, Pass, r})
			}
		}
	}
	return out
}

// Improvements lists what passes now and did not in the baseline (a hint
// to refresh it).
func Improvements(base Baseline, now []*Outcome) []Change {
	var out []Change
	for _, o := range now {
		b := base[o.Test]
		if b == nil {
			out = append(out, Change{o.Test, "", "not in baseline", o.Status})
			continue
		}
		if b.Status != Flaky && !Good(b.Status) && Good(o.Status) {
			out = append(out, Change{o.Test, "", b.Status, o.Status})
		}
		for _, k := range o.Order {
			if o.Points[k] != Pass {
				continue
			}
			if r := b.Points[k]; r != Pass && r != Flaky {
				if r == "" {
					r = "missing"
				}
				out = append(out, Change{o.Test, k, r, Pass})
			}
		}
	}
	return out
}

// Behind lists the points the reference runtime (runc) passes and the
// runtime under test does not, for binaries the latter does not pass as a
// whole: a *_fail test that runc wrongly accepts prints runtimetest's
// points, but the runtime that rejects the config is the one that is right.
func Behind(ref, got *Outcome) []Change {
	if ref == nil || got == nil || Good(got.Status) {
		return nil
	}
	var out []Change
	if Good(ref.Status) {
		out = append(out, Change{got.Test, "", ref.Status, got.Status})
	}
	for _, k := range ref.Order {
		if ref.Points[k] != Pass {
			continue
		}
		if r := got.Points[k]; r != Pass {
			if r == "" {
				r = "missing"
			}
			out = append(out, Change{got.Test, k, Pass, r})
		}
	}
	return out
}
