package paretoplot

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"
)

// XY is one placement: X its time to result in hours, Y its cost in USD.
type XY struct{ X, Y float64 }

// Chart is one plot. Points are drawn in their order, so the i-th drawable
// point is the i-th mark of the feasible layer.
type Chart struct {
	Title  string
	XLabel string // the time axis, log scale
	YLabel string // the cost axis, linear

	Points []XY // every feasible placement
	Front  []XY // the Pareto front, joined in order of X
	Chosen *XY  // the chosen placement, ringed; nil for none

	PointsName, FrontName, ChosenName string // legend entries

	// Empty is said in the middle of a plot with no point to draw.
	Empty string
}

// Width and Height are the size of the plot in pixels, for both formats
// (the SVG's user units are these pixels).
const (
	Width  = 768
	Height = 480
)

// Formats are the file formats Encode writes.
var Formats = []string{"svg", "png"}

// Encode writes the chart in format, "svg" or "png".
func (c *Chart) Encode(format string) ([]byte, error) {
	var buf bytes.Buffer
	switch format {
	case "svg":
		s := newSVG(&buf)
		c.draw(s)
		s.end()
	case "png":
		r := newRaster()
		c.draw(r)
		if err := r.encode(&buf); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("plot format %q: want svg or png", format)
	}
	return buf.Bytes(), nil
}

// pt is a position in pixels, y down.
type pt struct{ x, y float64 }

type anchor int

const (
	start anchor = iota
	middle
	end
)

// surface is what a chart is drawn on. Each call names the class of its
// marks, which the SVG keeps for readers and tests.
type surface interface {
	// rect fills an axis-aligned rectangle.
	rect(x0, y0, x1, y1 float64, c color.NRGBA, class string)
	// line strokes a polyline of width w with round joins.
	line(ps []pt, w float64, c color.NRGBA, class string)
	// dots fills a disc of radius r at each point.
	dots(ps []pt, r float64, c color.NRGBA, class string)
	// ring strokes a circle of radius r with width w.
	ring(p pt, r, w float64, c color.NRGBA, class string)
	// text writes s at size px with its baseline through p, anchored at
	// its start, middle or end; vertical text reads upwards.
	text(p pt, s string, size float64, a anchor, vertical bool, c color.NRGBA, class string)
}

var (
	ink       = color.NRGBA{0x20, 0x20, 0x20, 0xff}
	gridColor = color.NRGBA{0xe4, 0xe4, 0xe4, 0xff}
	dotColor  = color.NRGBA{0x70, 0x70, 0x70, 0x70}
	frontBlue = color.NRGBA{0x00, 0x3f, 0xc8, 0xff}
	chosenRed = color.NRGBA{0xdc, 0x00, 0x00, 0xff}
)

// Sizes in pixels.
const (
	pad       = 10.0
	titleSize = 15.0
	labelSize = 13.0
	tickSize  = 12.0
	tickLen   = 5.0
	dotR      = 2.0
	frontR    = 3.0
	frontW    = 1.5
	ringR     = 7.0
	ringW     = 1.75
)

// layout is where a chart's parts go, in pixels.
type layout struct {
	left, top, right, bottom float64 // the plotting area
	x                        logarithmic
	y                        linear
	xticks, yticks           []tick
	points, front            []XY // drawable, front sorted by X
	chosen                   *XY  // nil when absent or not drawable
	skipped                  int  // points not drawable
	legend                   [][]legendEntry
}

// layout places the chart's parts; with no drawable point it has no axes
// (x and y are zero).
func (c *Chart) layout() *layout {
	l := &layout{left: pad + labelSize + 8, top: pad + titleSize + 28, right: Width - 24,
		bottom: Height - pad - labelSize - 8 - tickSize - 4 - tickLen}
	for _, p := range c.Points {
		if plottable(p) {
			l.points = append(l.points, p)
		} else {
			l.skipped++
		}
	}
	for _, p := range c.Front {
		if plottable(p) {
			l.front = append(l.front, p)
		}
	}
	sort.SliceStable(l.front, func(i, j int) bool { return l.front[i].X < l.front[j].X })
	if len(l.points) == 0 {
		return l
	}
	all := l.points
	if c.Chosen != nil && plottable(*c.Chosen) {
		ch := *c.Chosen
		l.chosen = &ch
		all = append(all[:len(all):len(all)], ch)
	}
	all = append(all[:len(all):len(all)], l.front...)
	l.legend = c.legendRows(l)
	l.top += float64(len(l.legend)-1) * (tickSize + 6)
	xlo, xhi, ylo, yhi := bounds(all)
	l.yticks = linTicks(ylo, yhi)
	wide := 0.0
	for _, t := range l.yticks {
		wide = math.Max(wide, textWidth(t.label, tickSize))
	}
	l.left += wide + 6 + tickLen
	l.x = logarithmic{xlo, xhi, l.left, l.right}
	l.y = linear{ylo, yhi, l.bottom, l.top}
	l.xticks = logTicks(xlo, xhi, l.right-l.left, func(s string) float64 { return textWidth(s, tickSize) })
	return l
}

// at is where p is drawn.
func (l *layout) at(p XY) pt { return pt{l.x.at(p.X), l.y.at(p.Y)} }

func (c *Chart) draw(s surface) {
	l := c.layout()
	s.rect(0, 0, Width, Height, color.NRGBA{0xff, 0xff, 0xff, 0xff}, "background")
	title := fit(c.Title, titleSize, 11, Width-2*pad)
	s.text(pt{Width / 2, pad + title.size}, title.s, title.size, middle, false, ink, "title")
	if len(l.points) == 0 {
		msg := fit(c.Empty, labelSize, 10, Width-2*pad)
		s.text(pt{Width / 2, Height / 2}, msg.s, msg.size, middle, false, ink, "empty")
		return
	}
	legend(s, l.legend)

	// Grid and ticks.
	for _, t := range l.yticks {
		y := l.y.at(t.v)
		s.rect(l.left, y-0.5, l.right, y+0.5, gridColor, "grid")
		s.rect(l.left-tickLen, y-0.5, l.left, y+0.5, ink, "tick")
		s.text(pt{l.left - tickLen - 4, y + tickSize*0.35}, t.label, tickSize, end, false, ink, "ytick")
	}
	for _, t := range l.xticks {
		x := l.x.at(t.v)
		n := tickLen
		if t.label == "" {
			n = tickLen * 0.6
		} else {
			s.rect(x-0.5, l.top, x+0.5, l.bottom, gridColor, "grid")
			s.text(pt{x, l.bottom + tickLen + 3 + tickSize}, t.label, tickSize, middle, false, ink, "xtick")
		}
		s.rect(x-0.5, l.bottom, x+0.5, l.bottom+n, ink, "tick")
	}
	s.rect(l.left-0.5, l.top, l.left+0.5, l.bottom+0.5, ink, "axis")
	s.rect(l.left-0.5, l.bottom-0.5, l.right, l.bottom+0.5, ink, "axis")
	xl := fit(c.XLabel, labelSize, 10, Width-2*pad)
	s.text(pt{(l.left + l.right) / 2, Height - pad - 3}, xl.s, xl.size, middle, false, ink, "xlabel")
	yl := fit(c.YLabel, labelSize, 10, l.bottom-l.top)
	s.text(pt{pad + labelSize, (l.top + l.bottom) / 2}, yl.s, yl.size, middle, true, ink, "ylabel")

	// Marks: every point, then the front over them, then the ring.
	ps := make([]pt, len(l.points))
	for i, p := range l.points {
		ps[i] = l.at(p)
	}
	s.dots(ps, dotR, dotColor, "feasible")
	if len(l.front) > 0 {
		fs := make([]pt, len(l.front))
		for i, p := range l.front {
			fs[i] = l.at(p)
		}
		if len(fs) > 1 {
			s.line(fs, frontW, frontBlue, "front-line")
		}
		s.dots(fs, frontR, frontBlue, "front")
	}
	if l.chosen != nil {
		s.ring(l.at(*l.chosen), ringR, ringW, chosenRed, "chosen")
	}
	if l.skipped > 0 {
		note := strconv.Itoa(l.skipped) + " not drawn: zero, negative or unknown time or cost"
		if l.skipped == 1 {
			note = "1 not drawn: zero, negative or unknown time or cost"
		}
		s.text(pt{l.right, l.bottom - 6}, note, tickSize, end, false, ink, "note")
	}
}

// legendEntry is one entry of the legend: its mark, drawn in the 22 pixels
// left of x+markW on the row's middle line y, and its name.
type legendEntry struct {
	name string
	mark func(s surface, x, y float64)
}

const legendMarkW, legendGap = 22.0, 18.0

// legendRows is the legend: one row under the title, or two when that is
// too wide (the chosen placement's name can be long).
func (c *Chart) legendRows(l *layout) [][]legendEntry {
	var es []legendEntry
	if c.PointsName != "" {
		es = append(es, legendEntry{c.PointsName, func(s surface, x, y float64) {
			s.dots([]pt{{x + 8, y}}, dotR+0.5, dotColor, "legend-feasible")
		}})
	}
	if c.FrontName != "" && len(l.front) > 0 {
		es = append(es, legendEntry{c.FrontName, func(s surface, x, y float64) {
			s.line([]pt{{x, y}, {x + 16, y}}, frontW, frontBlue, "legend-front-line")
			s.dots([]pt{{x + 8, y}}, frontR, frontBlue, "legend-front")
		}})
	}
	if c.ChosenName != "" && l.chosen != nil {
		es = append(es, legendEntry{c.ChosenName, func(s surface, x, y float64) {
			s.ring(pt{x + 8, y}, ringR-1, ringW, chosenRed, "legend-chosen")
		}})
	}
	if legendWidth(es) > Width-2*pad && len(es) > 1 {
		return [][]legendEntry{es[:len(es)-1], es[len(es)-1:]}
	}
	return [][]legendEntry{es}
}

func legendWidth(es []legendEntry) float64 {
	w := 0.0
	for _, e := range es {
		w += legendMarkW + textWidth(e.name, tickSize) + legendGap
	}
	return w - legendGap
}

// legend writes the rows centred under the title.
func legend(s surface, rows [][]legendEntry) {
	y := pad + titleSize + 16
	for _, row := range rows {
		x := max(pad, (Width-legendWidth(row))/2)
		for _, e := range row {
			e.mark(s, x, y-tickSize*0.35)
			name := fit(e.name, tickSize, tickSize, Width-pad-x-legendMarkW)
			s.text(pt{x + legendMarkW, y}, name.s, tickSize, start, false, ink, "legend")
			x += legendMarkW + textWidth(e.name, tickSize) + legendGap
		}
		y += tickSize + 6
	}
}

type sized struct {
	s    string
	size float64
}

// fit returns s at the largest size from size down to min whose width is
// within w, shortened with an ellipsis when even min is too wide.
func fit(s string, size, min, w float64) sized {
	for ; size >= min; size-- {
		if textWidth(s, size) <= w {
			return sized{s, size}
		}
	}
	size = min
	r := []rune(s)
	for len(r) > 0 && textWidth(string(r)+"…", size) > w {
		r = r[:len(r)-1]
	}
	return sized{string(r) + "…", size}
}
