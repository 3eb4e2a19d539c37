package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"meridian.dev/meridian/internal/paretoplot"
	"meridian.dev/meridian/planner"
)

// writePlot draws cost against time for every feasible placement of p,
// the Pareto front as a line and the chosen placement (rank 1) as a ring,
// and writes it atomically to path as SVG or PNG (by its extension). A plan
// without placements still gets a plot, which says so; the table says why.
func writePlot(path string, p *planner.Plan) error {
	c := paretoplot.Chart{
		Title:      fmt.Sprintf("%s as of %s: %s", p.Job, p.AsOf, plural(len(p.All), "feasible placement")),
		XLabel:     "time to result (hours, log scale: counts double)",
		YLabel:     "cost (USD)",
		PointsName: "feasible",
		FrontName:  "Pareto front",
		Empty:      "no feasible placement: the plan's table says why",
	}
	if len(p.All) == 0 {
		c.Title = fmt.Sprintf("%s as of %s: no feasible placement", p.Job, p.AsOf)
	}
	c.Points = make([]paretoplot.XY, 0, len(p.All))
	for _, pt := range p.All {
		c.Points = append(c.Points, paretoplot.XY{X: pt.Hours, Y: pt.CostUSD})
		if pt.Pareto {
			c.Front = append(c.Front, paretoplot.XY{X: pt.Hours, Y: pt.CostUSD})
		}
	}
	if len(p.Placements) > 0 {
		best := p.Placements[0]
		c.Chosen = &paretoplot.XY{X: best.Hours, Y: best.CostUSD}
		c.ChosenName = fmt.Sprintf("chosen: %s, %d × %s", best.Site, best.Count, best.Accelerator)
	}
	b, err := c.Encode(strings.TrimPrefix(filepath.Ext(path), "."))
	if err != nil {
		return err
	}
	return writeUserFile(path, b, 0o644)
}

// plural writes n and noun, with an s when n is not 1: "1 feasible
// placement", "3 feasible placements".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
