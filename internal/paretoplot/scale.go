package paretoplot

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// The range of values the plot draws. A time must be positive for the log
// axis; beyond these bounds the margins around the data, and the ticks,
// would no longer be finite numbers. No planner's hours or dollars come
// near them.
const (
	minX    = 1e-300
	maxX    = 1e300
	maxAbsY = 1e300
)

// plottable reports whether p can be placed on the axes (NaN is not).
func plottable(p XY) bool {
	return p.X >= minX && p.X <= maxX && math.Abs(p.Y) <= maxAbsY
}

// tick is one mark on an axis; a minor tick has no label.
type tick struct {
	v     float64
	label string
}

// bounds returns axis ranges that hold every point with a margin and are
// never empty: one point, or points of one cost, still get axes whose
// ticks differ. The x range is for a log axis (a factor of 1.25 either
// side, at least a factor of 2 in all); the y range is linear and does not
// go below zero when no cost does. pts must be plottable and not empty.
func bounds(pts []XY) (xlo, xhi, ylo, yhi float64) {
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
		ymin, ymax = math.Min(ymin, p.Y), math.Max(ymax, p.Y)
	}
	xlo, xhi = xmin/1.25, xmax*1.25
	if xhi/xlo < 2 {
		mid := math.Sqrt(xlo) * math.Sqrt(xhi) // not Sqrt(xlo*xhi): that underflows
		xlo, xhi = mid/math.Sqrt2, mid*math.Sqrt2
	}
	span := ymax - ymin
	mag := math.Max(math.Abs(ymin), math.Abs(ymax))
	if span <= mag*1e-6 {
		// One cost (or costs that differ in the last digits): a range
		// around it wide enough for ticks that float64 tells apart.
		span = math.Max(mag*0.2, 1)
		mid := ymin/2 + ymax/2
		ymin, ymax = mid, mid
	}
	ylo, yhi = ymin-span*0.1, ymax+span*0.1
	if ymin >= 0 && ylo < 0 {
		ylo = 0
	}
	return xlo, xhi, ylo, yhi
}

// step is a tick interval m×10^e with m 1, 2 or 5.
type step struct {
	m int
	e int
}

func (s step) value() float64 { return float64(s.m) * math.Pow10(s.e) }

// at is i steps, computed so that 3×0.1 is 0.3 rather than
// 0.30000000000000004 where a power of ten divides exactly.
func (s step) at(i float64) float64 {
	if s.e < 0 && s.e > -23 {
		return i * float64(s.m) / math.Pow10(-s.e)
	}
	return i * s.value()
}

// niceStep is the smallest m×10^e (m 1, 2 or 5) not below r > 0.
func niceStep(r float64) step {
	e := int(math.Floor(math.Log10(r)))
	for {
		for _, m := range []int{1, 2, 5} {
			if float64(m)*math.Pow10(e) >= r*(1-1e-12) {
				return step{m, e}
			}
		}
		e++
	}
}

// linTicks labels a linear axis from lo to hi (hi > lo, both finite) at
// multiples of a 1, 2 or 5 step that gives between 3 and 9 ticks, every
// label distinct.
func linTicks(lo, hi float64) []tick {
	s := niceStep((hi - lo) / 8)
	sv := s.value()
	// One step either side: lo/sv rounds, and so does s.at.
	i0, i1 := math.Ceil(lo/sv)-1, math.Floor(hi/sv)+1
	var out []tick
	for i := i0; i <= i1 && len(out) < 100; i++ {
		v := s.at(i)
		if v < lo || v > hi {
			continue
		}
		if v == 0 {
			v = 0 // not -0
		}
		out = append(out, tick{v: v})
	}
	labelLinear(out, s)
	return out
}

// labelLinear labels ticks one step s apart: fixed decimals enough for the
// step, with thousands separated, or powers of ten where that would be
// long.
func labelLinear(ts []tick, s step) {
	decimals := max(0, -s.e)
	big := 0.0
	for _, t := range ts {
		big = math.Max(big, math.Abs(t.v))
	}
	if big < 1e9 && decimals <= 6 {
		for i := range ts {
			ts[i].label = groupThousands(strconv.FormatFloat(ts[i].v, 'f', decimals, 64))
		}
		return
	}
	labelExp(ts)
}

// labelExp labels ticks in exponent form with the fewest digits that tell
// them apart.
func labelExp(ts []tick) {
	for prec := 0; prec <= 16; prec++ {
		seen := make(map[string]bool, len(ts))
		ok := true
		for i := range ts {
			l := strconv.FormatFloat(ts[i].v, 'e', prec, 64)
			ts[i].label = l
			if seen[l] {
				ok = false
			}
			seen[l] = true
		}
		if ok {
			return
		}
	}
}

// logTicks marks a log axis from lo to hi (0 < lo < hi, finite) drawn
// over width pixels, whose labels are measured by width: 1, 2 and 5 times
// each power of ten where their labels fit, else the powers of ten (every
// k-th where even they crowd), with the other multiples as minor ticks. A
// range too narrow for two such labels gets every multiple, and one too
// narrow for that, linear ticks.
func logTicks(lo, hi, width float64, measure func(string) float64) []tick {
	if !(lo > 0) || !(hi > lo) || math.IsInf(hi, 0) {
		return nil
	}
	e0 := int(math.Floor(math.Log10(lo)))
	e1 := int(math.Ceil(math.Log10(hi)))
	type cand struct {
		v float64
		m int
		e int
	}
	var all []cand
	for e := e0; e <= e1; e++ {
		for m := 1; m <= 9; m++ {
			v := step{m, e}.at(1)
			if v >= lo && v <= hi {
				all = append(all, cand{v, m, e})
			}
		}
	}
	pos := func(v float64) float64 {
		return (math.Log(v) - math.Log(lo)) / (math.Log(hi) - math.Log(lo)) * width
	}
	build := func(keep func(c cand) bool, minors bool) []tick {
		var out []tick
		for _, c := range all {
			if keep(c) {
				out = append(out, tick{v: c.v, label: formatNum(c.v)})
			} else if minors {
				out = append(out, tick{v: c.v})
			}
		}
		return out
	}
	fits := func(ts []tick) bool {
		prev, prevW := math.Inf(-1), 0.0
		for _, t := range ts {
			if t.label == "" {
				continue
			}
			p, w := pos(t.v), measure(t.label)
			if p-prev < (w+prevW)/2+8 {
				return false
			}
			prev, prevW = p, w
		}
		return true
	}
	decades := e1 - e0
	few := decades <= 30 // minor ticks would blur together beyond that
	mantissa := func(ms ...int) func(c cand) bool {
		return func(c cand) bool { return slices.Contains(ms, c.m) }
	}
	if ts := build(mantissa(1, 2, 5), few); labelled(ts) >= 2 {
		if fits(ts) {
			return ts
		}
		if ts := build(mantissa(1), few); labelled(ts) >= 2 {
			if fits(ts) {
				return ts
			}
			// Even the powers of ten crowd: every k-th of them, and at
			// worst the first and the last.
			for k := 2; ; k++ {
				ts := build(func(c cand) bool { return c.m == 1 && (c.e-e0)%k == 0 }, false)
				if labelled(ts) < 2 {
					break
				}
				if fits(ts) {
					return ts
				}
			}
			ts = build(mantissa(1), false)
			first, last := -1, -1
			for i, t := range ts {
				if t.label != "" {
					if first < 0 {
						first = i
					}
					last = i
				}
			}
			return []tick{ts[first], ts[last]}
		}
	}
	if ts := build(func(cand) bool { return true }, false); labelled(ts) >= 2 && fits(ts) {
		return ts
	}
	// Narrower than the multiples of one power of ten: linear ticks.
	return linTicks(lo, hi)
}

func labelled(ts []tick) int {
	n := 0
	for _, t := range ts {
		if t.label != "" {
			n++
		}
	}
	return n
}

// formatNum writes v briefly: 0.2, 5, 1,000, 1e+20.
func formatNum(v float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if a := math.Abs(r); a == 0 || a >= 1e-4 && a < 1e9 {
		return groupThousands(strconv.FormatFloat(r, 'f', -1, 64))
	}
	return strconv.FormatFloat(r, 'g', -1, 64)
}

// groupThousands puts a comma between each three digits of the integer
// part of a formatted number of 4 or more integer digits: 2,500.
func groupThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	if len(intPart) < 4 {
		return sign + s
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String() + frac
}

// linear maps [lo, hi] onto [a, b].
type linear struct{ lo, hi, a, b float64 }

func (s linear) at(v float64) float64 { return s.a + (v-s.lo)/(s.hi-s.lo)*(s.b-s.a) }

// logarithmic maps [lo, hi] (positive) onto [a, b] by logarithm.
type logarithmic struct{ lo, hi, a, b float64 }

func (s logarithmic) at(v float64) float64 {
	return s.a + (math.Log(v)-math.Log(s.lo))/(math.Log(s.hi)-math.Log(s.lo))*(s.b-s.a)
}
