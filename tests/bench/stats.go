package main

import (
	"fmt"
	"math"
	"sort"
	"syscall"
	"time"
)

// sample is one figure's measurements (durations as ms, sizes as KiB).
type sample []float64

func (s sample) sorted() []float64 {
	c := append([]float64(nil), s...)
	sort.Float64s(c)
	return c
}

// quantile interpolates linearly between order statistics (type 7, as R and
// numpy default), so the median of an even count is the mean of the middle two.
func (s sample) quantile(q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := s.sorted()
	pos := q * float64(len(c)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return c[lo] + (c[hi]-c[lo])*(pos-float64(lo))
}

func (s sample) median() float64 { return s.quantile(0.5) }

func (s sample) max() float64 {
	m := math.NaN()
	for _, v := range s {
		if math.IsNaN(m) || v > m {
			m = v
		}
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuMs is user+system time from an rusage. CPU time is the figure that
// survives a loaded host: wall time grows with other tenants, CPU time
// barely does, and on two cores it is what bounds throughput.
func cpuMs(ru *syscall.Rusage) float64 {
	if ru == nil {
		return 0
	}
	return ms(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()))
}

// fmtMs prints a median with its spread, e.g. "81.3 ms [74.0-95.2]".
func fmtMs(s sample) string {
	if len(s) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms [%.1f-%.1f]", s.median(), s.quantile(0.1), s.quantile(0.9))
}

func fmtKiB(s sample) string {
	if len(s) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB [%.1f-%.1f]", s.median()/1024, s.quantile(0.1)/1024, s.quantile(0.9)/1024)
}

// ratio is median(a)/median(b), or "-" when either is missing.
func ratio(a, b sample) string {
	if len(a) == 0 || len(b) == 0 || b.median() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a.median()/b.median())
}
