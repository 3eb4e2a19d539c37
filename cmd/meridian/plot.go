package main

import (
	"bytes"
	"fmt"
	"image/color"
	"path/filepath"
	"sort"
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
// and writes it atomically to path as SVG or PNG (by its extension).
func writePlot(path string, p *planner.Plan) error {
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("%s as of %s: %d feasible placements", p.Job, p.AsOf, len(p.All))
	pl.X.Label.Text = "time to result (hours, log scale: counts double)"
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	pl.Y.Label.Text = "cost (USD)"
	pl.Legend.Top = true

	var all, front plotter.XYs
	for _, pt := range p.All {
		if pt.Hours <= 0 {
			continue // not on a log scale
		}
		all = append(all, plotter.XY{X: pt.Hours, Y: pt.CostUSD})
		if pt.Pareto {
			front = append(front, plotter.XY{X: pt.Hours, Y: pt.CostUSD})
		}
	}
	sort.Slice(front, func(i, j int) bool { return front[i].X < front[j].X })
	if len(all) > 0 {
		s, err := plotter.NewScatter(all)
		if err != nil {
			return err
		}
		s.GlyphStyle.Color = color.Gray{Y: 150}
		s.GlyphStyle.Radius = vg.Points(1.5)
		pl.Add(s)
		pl.Legend.Add("feasible", s)

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
	}
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
