package main

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/planner"
)

// writePlot draws cost against time for every feasible placement of p,
// the Pareto front as a line and the chosen placement (rank 1) as a ring,
// and writes it atomically to path as SVG or PNG (by its extension). A plan
// without placements still gets a plot, which says so; the table says why.
func writePlot(path string, p *planner.Plan) error {
	pl := plot.New()
	pl.X.Label.Text = "time to result (hours, log scale: counts double)"
	pl.Y.Label.Text = "cost (USD)"
	pl.Legend.Top = true

	var all, front plotter.XYs
	for _, pt := range p.All {
		if pt.Hours <= 0 || pt.CostUSD < 0 || math.IsInf(pt.Hours, 0) || math.IsNaN(pt.CostUSD) {
			continue // not on a log scale
		}
		all = append(all, plotter.XY{X: pt.Hours, Y: pt.CostUSD})
		if pt.Pareto {
			front = append(front, plotter.XY{X: pt.Hours, Y: pt.CostUSD})
		}
	}
	sort.Slice(front, func(i, j int) bool { return front[i].X < front[j].X })
	if len(all) == 0 || len(p.Placements) == 0 {
		// gonum/plot cannot draw a log axis without data; an empty linear
		// plot that states the outcome is what the reader needs.
		pl.Title.Text = fmt.Sprintf("%s as of %s: no feasible placement (the plan's table says why)", p.Job, p.AsOf)
		pl.X.Label.Text = "time to result (hours)"
		pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = 0, 1, 0, 1
		pl.HideAxes()
		return savePlot(pl, path)
	}
	pl.Title.Text = fmt.Sprintf("%s as of %s: %s", p.Job, p.AsOf, plural(len(all), "feasible placement"))
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = logTicks{}
	pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max = plotBounds(all)

	s, err := plotter.NewScatter(all)
	if err != nil {
		return err
	}
	s.GlyphStyle.Color = color.Gray{Y: 150}
	s.GlyphStyle.Radius = vg.Points(1.5)
	pl.Add(s)
	pl.Legend.Add("feasible", s)

	if len(front) > 0 {
		line, points, err := plotter.NewLinePoints(front)
		if err != nil {
			return err
		}
		line.Color = color.RGBA{B: 200, A: 255}
		points.Color = line.Color
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(2.5)
		pl.Add(line, points)
		pl.Legend.Add("Pareto front", line, points)
	}

	best := p.Placements[0]
	c, err := plotter.NewScatter(plotter.XYs{{X: best.Hours, Y: best.CostUSD}})
	if err != nil {
		return err
	}
	c.GlyphStyle.Color = color.RGBA{R: 220, A: 255}
	c.GlyphStyle.Shape = draw.RingGlyph{}
	c.GlyphStyle.Radius = vg.Points(6)
	pl.Add(c)
	pl.Legend.Add(fmt.Sprintf("chosen: %s, %d × %s", best.Site, best.Count, best.Accelerator), c)
	return savePlot(pl, path)
}

func savePlot(pl *plot.Plot, path string) error {
	format := strings.TrimPrefix(filepath.Ext(path), ".")
	wt, err := pl.WriterTo(8*vg.Inch, 5*vg.Inch, format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}

// plotBounds returns axis ranges that hold every point with a margin and
// are never empty: a single point, or points of one cost, still get axes
// whose ticks differ and on which every glyph sits where its value is.
// pts must not be empty, and their X must be positive (a log axis).
func plotBounds(pts plotter.XYs) (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
		ymin, ymax = math.Min(ymin, p.Y), math.Max(ymax, p.Y)
	}
	// Log axis: a factor of 1.25 either side, at least a factor of 2 in all.
	xmin, xmax = xmin/1.25, xmax*1.25
	if xmax/xmin < 2 {
		mid := math.Sqrt(xmin * xmax)
		xmin, xmax = mid/math.Sqrt2, mid*math.Sqrt2
	}
	span := ymax - ymin
	if span <= 0 {
		span = math.Max(math.Abs(ymax)*0.2, 1)
	}
	lo, hi := ymin-span*0.1, ymax+span*0.1
	if ymin >= 0 && lo < 0 {
		lo = 0
	}
	return xmin, xmax, lo, hi
}

// logTicks labels a log axis at 1, 2 and 5 times each power of ten inside
// its range (gonum's LogTicks labels powers of ten only, so a range inside
// one decade had no label at all).
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) {
		return nil
	}
	var out []plot.Tick
	for e := math.Floor(math.Log10(min)) - 1; e <= math.Ceil(math.Log10(max)); e++ {
		p := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := float64(m) * p
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			out = append(out, t)
		}
	}
	labelled := 0
	for _, t := range out {
		if t.Label != "" {
			labelled++
		}
	}
	if labelled < 2 { // a narrow range: label every tick
		for i := range out {
			out[i].Label = strconv.FormatFloat(out[i].Value, 'g', 3, 64)
		}
	}
	return out
}

// plural writes n and noun, with an s when n is not 1: "1 feasible
// placement", "3 feasible placements".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
