package paretoplot

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// approxWidth stands in for the font in tests of ticks alone: 7 pixels a
// character, about Go Regular's at 12 pixels.
func approxWidth(s string) float64 { return 7 * float64(len(s)) }

// checkTicks fails unless ts lie within [lo, hi] in increasing order, at
// least two carry labels, and the labels are distinct numbers that read
// back in increasing order.
func checkTicks(t *testing.T, what string, ts []tick, lo, hi float64) {
	t.Helper()
	prev, prevLabel := math.Inf(-1), math.Inf(-1)
	seen := map[string]bool{}
	n := 0
	for _, tk := range ts {
		if !(tk.v > prev) || tk.v < lo || tk.v > hi {
			t.Fatalf("%s: tick %v out of order or outside %g–%g: %v", what, tk.v, lo, hi, ts)
		}
		prev = tk.v
		if tk.label == "" {
			continue
		}
		n++
		if seen[tk.label] {
			t.Fatalf("%s: label %q repeats: %v", what, tk.label, ts)
		}
		seen[tk.label] = true
		v, err := strconv.ParseFloat(strings.ReplaceAll(tk.label, ",", ""), 64)
		if err != nil {
			t.Fatalf("%s: label %q is not a number: %v", what, tk.label, err)
		}
		if !(v > prevLabel) {
			t.Fatalf("%s: label %q does not exceed the one before: %v", what, tk.label, ts)
		}
		prevLabel = v
	}
	if n < 2 {
		t.Fatalf("%s: %d labelled ticks, want 2 or more: %v", what, n, ts)
	}
}

func TestBounds(t *testing.T) {
	for _, pts := range [][]XY{
		{{0.9, 33.7}},
		{{1, 0}},
		{{1, 10}, {100, 10}},
		{{5, 0}, {5, 100}},
		{{3, -20}, {4, 50}},
		{{1e-300, -1e300}, {1e300, 1e300}},
		{{1, 1e6}, {1, 1e6 + 1e-9}}, // costs float64 barely tells apart
	} {
		x0, x1, y0, y1 := bounds(pts)
		if !(x0 > 0 && x0 < x1 && y0 < y1) || math.IsInf(x1, 0) || math.IsInf(y0, 0) || math.IsInf(y1, 0) {
			t.Errorf("%v: range x %g–%g, y %g–%g", pts, x0, x1, y0, y1)
			continue
		}
		neg := false
		for _, q := range pts {
			if q.X <= x0 || q.X >= x1 || q.Y < y0 || q.Y > y1 {
				t.Errorf("%v: point %v outside x %g–%g, y %g–%g", pts, q, x0, x1, y0, y1)
			}
			neg = neg || q.Y < 0
		}
		if y0 < 0 && !neg {
			t.Errorf("%v: negative cost axis %g with no negative cost", pts, y0)
		}
		checkTicks(t, "y", linTicks(y0, y1), y0, y1)
		checkTicks(t, "x", logTicks(x0, x1, 680, approxWidth), x0, x1)
	}
}

// TestOneCostTicks is the defect: with one placement every y tick
// read the same value. Its ticks now differ, three or more of them.
func TestOneCostTicks(t *testing.T) {
	_, _, y0, y1 := bounds([]XY{{0.9, 33.7}})
	ts := linTicks(y0, y1)
	checkTicks(t, "y", ts, y0, y1)
	if len(ts) < 3 {
		t.Errorf("%d ticks, want 3 or more: %v", len(ts), ts)
	}
}

func TestLogTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []string // the labels, in order
	}{
		{0.5, 300, []string{"0.5", "1", "2", "5", "10", "20", "50", "100", "200"}},
		{0.64, 1.13, []string{"0.7", "0.8", "0.9", "1"}},
		{1.05, 1.95, []string{"1.2", "1.4", "1.6", "1.8"}}, // no multiple of a power of ten but 1: linear
		{0.01, 1e6, []string{"0.01", "0.1", "1", "10", "100", "1,000", "10,000", "100,000", "1,000,000"}},
		{2e-7, 3e-6, []string{"2e-07", "5e-07", "1e-06", "2e-06"}},
	} {
		ts := logTicks(tc.lo, tc.hi, 680, approxWidth)
		checkTicks(t, strconv.FormatFloat(tc.lo, 'g', -1, 64), ts, tc.lo, tc.hi)
		var got []string
		for _, tk := range ts {
			if tk.label != "" {
				got = append(got, tk.label)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%g–%g: labels %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// TestLogTicksCrowded: over 600 decades the powers of ten would overlap;
// every k-th is labelled and none overlaps the next.
func TestLogTicksCrowded(t *testing.T) {
	ts := logTicks(1e-300, 1e300, 680, approxWidth)
	checkTicks(t, "1e-300–1e300", ts, 1e-300, 1e300)
	s := logarithmic{1e-300, 1e300, 0, 680}
	prev, prevW := math.Inf(-1), 0.0
	for _, tk := range ts {
		if tk.label == "" {
			continue
		}
		x, w := s.at(tk.v), approxWidth(tk.label)
		if x-prev < (w+prevW)/2 {
			t.Fatalf("label %q at %.1f overlaps the one before at %.1f", tk.label, x, prev)
		}
		prev, prevW = x, w
	}
}

// FuzzScale draws any two points' axes: the ranges hold them and are not
// empty, the ticks are in order inside them, and their labels are distinct
// numbers in increasing order. Values the plot does not draw are skipped.
func FuzzScale(f *testing.F) {
	f.Add(0.9, 33.7, 0.9, 33.7, 680.0)
	f.Add(1.0, 0.0, 1.0, 0.0, 680.0)
	f.Add(0.5, 8000.0, 300.0, 54000.0, 680.0)
	f.Add(1e-300, -1e300, 1e300, 1e300, 100.0)
	f.Add(1.0, 1e6, 1.0, 1e6+1e-9, 680.0)
	f.Fuzz(func(t *testing.T, x1, y1, x2, y2, width float64) {
		pts := []XY{{x1, y1}, {x2, y2}}
		for _, p := range pts {
			if !plottable(p) {
				return
			}
		}
		if !(width >= 100 && width <= 4000) {
			return
		}
		xlo, xhi, ylo, yhi := bounds(pts)
		for _, v := range []float64{xlo, xhi, ylo, yhi} {
			if math.IsInf(v, 0) || math.IsNaN(v) {
				t.Fatalf("%v: bounds x %g–%g, y %g–%g", pts, xlo, xhi, ylo, yhi)
			}
		}
		if !(xlo > 0 && xlo < xhi && ylo < yhi) {
			t.Fatalf("%v: empty bounds x %g–%g, y %g–%g", pts, xlo, xhi, ylo, yhi)
		}
		for _, p := range pts {
			if p.X < xlo || p.X > xhi || p.Y < ylo || p.Y > yhi {
				t.Fatalf("%v outside x %g–%g, y %g–%g", p, xlo, xhi, ylo, yhi)
			}
		}
		checkTicks(t, "y", linTicks(ylo, yhi), ylo, yhi)
		checkTicks(t, "x", logTicks(xlo, xhi, width, approxWidth), xlo, xhi)
	})
}
