package main

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/paretoplot"
	"meridian.dev/meridian/planner"
)

// TestPlotNoPlacement: a plan without placements once made the plot
// panic ("Values must be greater than 0 for a log scale") before the table
// was printed. The plot is written and says why it is empty.
func TestPlotNoPlacement(t *testing.T) {
	for _, ext := range []string{"svg", "png"} {
		path := filepath.Join(t.TempDir(), "plan."+ext)
		p := &planner.Plan{Job: "j", AsOf: "2026-06-01"}
		if err := writePlot(path, p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("no plot written: %v", err)
		}
		if ext == "png" {
			decodePlotPNG(t, b)
			continue
		}
		root := parsePlotSVG(t, b)
		if e := root.class("empty"); len(e) != 1 || !strings.Contains(e[0].Text, "no feasible placement") {
			t.Errorf("the empty plot does not say why it is empty: %v", e)
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

// svgNode is any element of a plot's SVG, read with encoding/xml.
type svgNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []svgNode  `xml:",any"`
}

func (n *svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// class is every element of the class, in document order.
func (n *svgNode) class(c string) []*svgNode {
	var out []*svgNode
	if n.attr("class") == c {
		out = append(out, n)
	}
	for i := range n.Children {
		out = append(out, n.Children[i].class(c)...)
	}
	return out
}

func parsePlotSVG(t *testing.T, b []byte) *svgNode {
	t.Helper()
	var root svgNode
	if err := xml.Unmarshal(b, &root); err != nil || root.XMLName.Local != "svg" {
		t.Fatalf("not an SVG (%v):\n%.300s", err, b)
	}
	return &root
}

func decodePlotPNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if s := img.Bounds().Size(); s != image.Pt(paretoplot.Width, paretoplot.Height) {
		t.Fatalf("PNG of %v, want %d×%d", s, paretoplot.Width, paretoplot.Height)
	}
	return img
}

// plotOf writes p's plot as SVG and reads it back.
func plotOf(t *testing.T, p *planner.Plan) *svgNode {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.svg")
	if err := writePlot(path, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parsePlotSVG(t, b)
}

// distinctLabels checks an axis's tick labels are distinct numbers that
// increase along it and returns how many there are.
func distinctLabels(t *testing.T, root *svgNode, class string) int {
	t.Helper()
	seen := map[string]bool{}
	prev := -1e308
	for _, n := range root.class(class) {
		if seen[n.Text] {
			t.Errorf("%s label %q repeats", class, n.Text)
		}
		seen[n.Text] = true
		v, err := strconv.ParseFloat(strings.ReplaceAll(n.Text, ",", ""), 64)
		if err != nil || v <= prev {
			t.Errorf("%s label %q: not a number above the one before (%v)", class, n.Text, err)
		}
		prev = v
	}
	return len(seen)
}

// TestPlotOnePlacement: with one placement every y tick read the same
// value and the "chosen" ring sat away from its point, because the axes
// had an empty range.
func TestPlotOnePlacement(t *testing.T) {
	pt := planner.Point{Site: "s", Accelerator: "a", Count: 8, CostUSD: 33.7, Hours: 0.9, Pareto: true}
	p := &planner.Plan{Job: "j", AsOf: "2026-06-01", All: []planner.Point{pt},
		Placements: []planner.Placement{{Rank: 1, Site: "s", Accelerator: "a", Count: 8, CostUSD: 33.7, Hours: 0.9}}}
	root := plotOf(t, p)
	if title := root.class("title"); len(title) != 1 || !strings.HasSuffix(title[0].Text, ": 1 feasible placement") {
		t.Errorf("title %v does not say 1 feasible placement", title)
	}
	if n := distinctLabels(t, root, "ytick"); n < 3 {
		t.Errorf("%d cost labels, want 3 or more", n)
	}
	if n := distinctLabels(t, root, "xtick"); n < 2 {
		t.Errorf("%d time labels, want 2 or more", n)
	}
	ring, dots := root.class("chosen"), root.class("front")
	if len(ring) != 1 || len(dots) != 1 || len(dots[0].Children) != 1 {
		t.Fatalf("ring %v, front %v: want one of each", ring, dots)
	}
	dot := dots[0].Children[0]
	if ring[0].attr("cx") != dot.attr("cx") || ring[0].attr("cy") != dot.attr("cy") {
		t.Errorf("ring at (%s, %s), its point at (%s, %s)", ring[0].attr("cx"), ring[0].attr("cy"), dot.attr("cx"), dot.attr("cy"))
	}
}

// TestPlotEveryPoint: every feasible placement is a point, and the ring
// is on the rank-1 placement's point, not on another's.
func TestPlotEveryPoint(t *testing.T) {
	var all []planner.Point
	for i := 0; i < 40; i++ {
		h := 0.5 * float64(i+1)
		all = append(all, planner.Point{Site: "s" + strconv.Itoa(i), Accelerator: "a", Count: 8, Hours: h, CostUSD: 1000 / h, Pareto: i%5 == 0})
	}
	best := all[17]
	p := &planner.Plan{Job: "j", AsOf: "2026-06-01", All: all,
		Placements: []planner.Placement{{Rank: 1, Site: best.Site, Accelerator: "a", Count: 8, CostUSD: best.CostUSD, Hours: best.Hours}}}
	root := plotOf(t, p)
	layer := root.class("feasible")
	if len(layer) != 1 || len(layer[0].Children) != len(all) {
		t.Fatalf("feasible layer %d, want one of %d points", len(layer), len(all))
	}
	dot, ring := layer[0].Children[17], root.class("chosen")
	if len(ring) != 1 || ring[0].attr("cx") != dot.attr("cx") || ring[0].attr("cy") != dot.attr("cy") {
		t.Errorf("ring %v, the chosen point at (%s, %s)", ring, dot.attr("cx"), dot.attr("cy"))
	}
	if f := root.class("front"); len(f) != 1 || len(f[0].Children) != 8 {
		t.Errorf("front %v, want 8 points", f)
	}
	if legend := root.class("legend"); len(legend) != 3 || legend[2].Text != "chosen: s17, 8 × a" {
		t.Errorf("legend %v", legend)
	}
}

// TestPlotExtension: a plot's format is its extension; another is refused
// with the flag's name (the command checks before planning, too).
func TestPlotExtension(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.pdf")
	err := writePlot(path, &planner.Plan{Job: "j"})
	if err == nil || !strings.Contains(err.Error(), `"pdf"`) {
		t.Errorf("writePlot(.pdf): %v, want an error naming the format", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("a file was written for a format that is refused")
	}
}
