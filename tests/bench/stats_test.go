package main

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	s := sample{5, 1, 3, 2, 4}
	if got := s.median(); got != 3 {
		t.Errorf("median of 1..5 = %v, want 3", got)
	}
	if got := (sample{4, 1, 3, 2}).median(); got != 2.5 {
		t.Errorf("median of 1..4 = %v, want 2.5", got)
	}
	if got := s.quantile(0.1); math.Abs(got-1.4) > 1e-9 {
		t.Errorf("p10 of 1..5 = %v, want 1.4", got)
	}
	if got := (sample{}).median(); !math.IsNaN(got) {
		t.Errorf("median of nothing = %v, want NaN", got)
	}
	if got := ratio(sample{3}, sample{2}); got != "1.50x" {
		t.Errorf("ratio = %q", got)
	}
	if got := ratio(nil, sample{2}); got != "-" {
		t.Errorf("ratio with a missing side = %q", got)
	}
}
