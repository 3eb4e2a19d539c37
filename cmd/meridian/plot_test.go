package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"

	"meridian.dev/meridian/planner"
)

// TestPlotNoPlacement: a plan without placements made gonum/plot panic
// ("Values must be greater than 0 for a log scale") before the table was
// printed. The plot is written and says why it is empty.
func TestPlotNoPlacement(t *testing.T) {
	for _, ext := range []string{"svg", "png"} {
		path := filepath.Join(t.TempDir(), "plan."+ext)
		p := &planner.Plan{Job: "j", AsOf: "2026-06-01"}
		if err := writePlot(path, p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			t.Fatalf("no plot written: %v", err)
		}
		if ext == "svg" && !strings.Contains(string(b), "no feasible placement") {
			t.Errorf("the empty plot does not say why it is empty")
		}
	}
}

// TestPlanPlotNoPlacementCLI runs the command: exit 3, the table, a plot.
func TestPlanPlotNoPlacementCLI(t *testing.T) {
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
	none := writePlanFile(t, dir, "none.yaml", planOrg+planJob+"  constraints: {countries: {allow: [CN]}}\n")
	png := filepath.Join(dir, "t.png")
	out, code, err := runPlanCLI(t, "plan", "-f", none, "--catalog", sites, "--as-of", "2025-06-01", "--plot", png)
	if code != exitNoPlacement {
		t.Fatalf("exit %d, want %d: %v\n%s", code, exitNoPlacement, err, out)
	}
	if !strings.Contains(out, "No lawful, feasible placement") {
		t.Errorf("no table:\n%s", out)
	}
	if _, err := os.Stat(png); err != nil {
		t.Errorf("no plot: %v", err)
	}
}

var (
	svgText = regexp.MustCompile(`<text[^>]*>([^<]*)</text>`)
	// A glyph is drawn as a circle path starting at (x+r, y).
	svgCircle = regexp.MustCompile(`<path d="M([0-9.]+),([0-9.]+)A([0-9.]+),[0-9.]+ 0 1 1[^"]*" style="([^"]*)"`)
)

// TestPlotOnePlacement: with one placement every y tick read the same
// value and the "chosen" ring sat away from its point, because the axes
// had an empty range.
func TestPlotOnePlacement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.svg")
	pt := planner.Point{Site: "s", Accelerator: "a", Count: 8, CostUSD: 33.7, Hours: 0.9, Pareto: true}
	p := &planner.Plan{Job: "j", AsOf: "2026-06-01", All: []planner.Point{pt},
		Placements: []planner.Placement{{Rank: 1, Site: "s", Accelerator: "a", Count: 8, CostUSD: 33.7, Hours: 0.9}}}
	if err := writePlot(path, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	if !strings.Contains(svg, "1 feasible placement<") && !strings.Contains(svg, "1 feasible placement\n") && !strings.Contains(svg, ": 1 feasible placement") {
		t.Errorf("title does not say 1 feasible placement")
	}
	// Numeric tick labels must not repeat.
	seen := map[string]bool{}
	var labels []string
	for _, m := range svgText.FindAllStringSubmatch(svg, -1) {
		if _, err := strconv.ParseFloat(m[1], 64); err != nil {
			continue
		}
		if seen[m[1]] {
			t.Errorf("tick label %q repeats (labels %v)", m[1], labels)
		}
		seen[m[1]] = true
		labels = append(labels, m[1])
	}
	if len(labels) < 3 {
		t.Errorf("want at least 3 tick labels, got %v", labels)
	}
	// The first ring (the chosen placement, before the legend's) must be
	// centred on the first Pareto point.
	var ring, point []float64
	for _, m := range svgCircle.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		r, _ := strconv.ParseFloat(m[3], 64)
		switch {
		case ring == nil && strings.Contains(m[4], "stroke:#DC0000"):
			ring = []float64{x - r, y}
		case point == nil && strings.Contains(m[4], "fill:#0000C8"):
			point = []float64{x - r, y}
		}
	}
	if ring == nil || point == nil {
		t.Fatalf("ring %v or point %v not found", ring, point)
	}
	if d := (ring[0]-point[0])*(ring[0]-point[0]) + (ring[1]-point[1])*(ring[1]-point[1]); d > 0.01 {
		t.Errorf("ring at %v, its point at %v", ring, point)
	}
}

func TestPlotBounds(t *testing.T) {
	for _, pts := range [][]float64{{0.9, 33.7}, {1, 0}, {1, 10, 100, 10}, {5, 0, 5, 100}} {
		var xy []struct{ X, Y float64 }
		for i := 0; i < len(pts); i += 2 {
			xy = append(xy, struct{ X, Y float64 }{pts[i], pts[i+1]})
		}
		xs := plotterXYs(xy)
		x0, x1, y0, y1 := plotBounds(xs)
		if !(x0 < x1 && y0 < y1) {
			t.Errorf("%v: empty range x %g–%g, y %g–%g", pts, x0, x1, y0, y1)
		}
		for _, q := range xs {
			if q.X <= x0 || q.X >= x1 || q.Y < y0 || q.Y >= y1 {
				t.Errorf("%v: point %v outside x %g–%g, y %g–%g", pts, q, x0, x1, y0, y1)
			}
		}
		if y0 < 0 {
			t.Errorf("%v: negative cost axis %g", pts, y0)
		}
	}
}

func plotterXYs(in []struct{ X, Y float64 }) plotter.XYs {
	out := make(plotter.XYs, len(in))
	for i, p := range in {
		out[i].X, out[i].Y = p.X, p.Y
	}
	return out
}
