package paretoplot

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"math"
	"strconv"
	"strings"
	"testing"
)

// node is any SVG element, read with encoding/xml.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n *node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) num(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s class=%q> %s=%q: %v", n.XMLName.Local, n.attr("class"), name, n.attr(name), err)
	}
	return v
}

// byClass is every element of the class, in document order.
func (n *node) byClass(class string) []*node {
	var out []*node
	var walk func(m *node)
	walk = func(m *node) {
		if m.attr("class") == class {
			out = append(out, m)
		}
		for i := range m.Children {
			walk(&m.Children[i])
		}
	}
	walk(n)
	return out
}

func parseSVG(t *testing.T, b []byte) *node {
	t.Helper()
	var root node
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("the SVG does not parse: %v", err)
	}
	if root.XMLName.Local != "svg" || root.attr("width") != strconv.Itoa(Width) || root.attr("height") != strconv.Itoa(Height) {
		t.Fatalf("root <%s width=%q height=%q>, want an svg of %d×%d", root.XMLName.Local, root.attr("width"), root.attr("height"), Width, Height)
	}
	return &root
}

func encode(t *testing.T, c *Chart, format string) []byte {
	t.Helper()
	b, err := c.Encode(format)
	if err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return b
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the PNG does not decode: %v", err)
	}
	if s := img.Bounds().Size(); s != image.Pt(Width, Height) {
		t.Fatalf("PNG of %v, want %d×%d", s, Width, Height)
	}
	return img
}

// sample is a plan's points: a cluster, a lone expensive one, a front of
// three, the cheapest of which is chosen.
func sample() *Chart {
	pts := []XY{{2, 400}, {2.2, 420}, {2.1, 390}, {40, 9000}, {1, 1200}, {8, 300}, {30, 150}}
	return &Chart{Title: "job as of 2026-01-01", XLabel: "time (hours)", YLabel: "cost (USD)",
		Points: pts, Front: []XY{{30, 150}, {1, 1200}, {8, 300}}, Chosen: &XY{30, 150},
		PointsName: "feasible", FrontName: "Pareto front", ChosenName: "chosen: s, 8 × a"}
}

// ticks reads the labels of one axis in order along it, checks they are
// distinct numbers, and returns them with their positions.
func ticks(t *testing.T, root *node, class, along string) (vals, pos []float64) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range root.byClass(class) {
		if seen[n.Text] {
			t.Errorf("%s label %q repeats", class, n.Text)
		}
		seen[n.Text] = true
		v, err := strconv.ParseFloat(strings.ReplaceAll(n.Text, ",", ""), 64)
		if err != nil {
			t.Errorf("%s label %q: %v", class, n.Text, err)
			continue
		}
		vals, pos = append(vals, v), append(pos, n.num(t, along))
	}
	return vals, pos
}

func TestSVG(t *testing.T) {
	c := sample()
	root := parseSVG(t, encode(t, c, "svg"))
	l := c.layout()

	groups := root.byClass("feasible")
	if len(groups) != 1 {
		t.Fatalf("%d feasible layers, want 1", len(groups))
	}
	dots := groups[0].Children
	if len(dots) != len(c.Points) {
		t.Fatalf("%d points drawn, want %d", len(dots), len(c.Points))
	}
	for i, d := range dots {
		want := l.at(c.Points[i])
		if x, y := d.num(t, "cx"), d.num(t, "cy"); math.Abs(x-want.x) > 0.006 || math.Abs(y-want.y) > 0.006 {
			t.Errorf("point %v drawn at (%g, %g), want (%.3f, %.3f)", c.Points[i], x, y, want.x, want.y)
		}
		if x, y := d.num(t, "cx"), d.num(t, "cy"); x < l.left || x > l.right || y < l.top || y > l.bottom {
			t.Errorf("point %v drawn at (%g, %g), outside the plot %v", c.Points[i], x, y, l)
		}
	}
	// The ring is centred on the chosen point's own mark (the last point).
	rings := root.byClass("chosen")
	if len(rings) != 1 {
		t.Fatalf("%d rings, want 1", len(rings))
	}
	chosen := dots[len(dots)-1]
	if rings[0].attr("cx") != chosen.attr("cx") || rings[0].attr("cy") != chosen.attr("cy") {
		t.Errorf("ring at (%s, %s), its point at (%s, %s)", rings[0].attr("cx"), rings[0].attr("cy"), chosen.attr("cx"), chosen.attr("cy"))
	}
	front := root.byClass("front")
	if len(front) != 1 || len(front[0].Children) != 3 {
		t.Fatalf("front layer %v, want 3 marks", front)
	}
	// The front is joined in order of time: 1, 8, 30 hours.
	line := root.byClass("front-line")
	if len(line) != 1 {
		t.Fatalf("%d front lines, want 1", len(line))
	}
	var xs []float64
	for _, p := range strings.Fields(line[0].attr("points")) {
		x, _, _ := strings.Cut(p, ",")
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			t.Fatalf("front line point %q: %v", p, err)
		}
		xs = append(xs, v)
	}
	if len(xs) != 3 || !(xs[0] < xs[1] && xs[1] < xs[2]) {
		t.Errorf("front line through x %v, want 3 in increasing order", xs)
	}

	xv, xp := ticks(t, root, "xtick", "x")
	yv, yp := ticks(t, root, "ytick", "y")
	if len(xv) < 2 || len(yv) < 3 {
		t.Fatalf("x labels %v, y labels %v: too few", xv, yv)
	}
	for i := 1; i < len(xv); i++ {
		if !(xv[i] > xv[i-1] && xp[i] > xp[i-1]) {
			t.Errorf("x labels %v at %v: not increasing left to right", xv, xp)
		}
	}
	for i := 1; i < len(yv); i++ {
		if !(yv[i] > yv[i-1] && yp[i] < yp[i-1]) {
			t.Errorf("y labels %v at %v: not increasing upwards", yv, yp)
		}
	}
	// A label sits where its value is on the axis (the y label's baseline
	// is a third of the text size below the tick).
	for i, v := range xv {
		if want := l.x.at(v); math.Abs(xp[i]-want) > 0.01 {
			t.Errorf("x label %g at %g, its value at %g", v, xp[i], want)
		}
	}
	for _, class := range []string{"title", "xlabel", "ylabel", "legend"} {
		if len(root.byClass(class)) == 0 {
			t.Errorf("no %s", class)
		}
	}
	if got := root.byClass("ylabel")[0].attr("transform"); !strings.HasPrefix(got, "rotate(-90 ") {
		t.Errorf("y label transform %q, want it turned upright", got)
	}
}

// isWhite reports a pixel of the background.
func isWhite(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r > 0xf800 && g > 0xf800 && b > 0xf800
}

func TestPNG(t *testing.T) {
	c := sample()
	img := decodePNG(t, encode(t, c, "png"))
	l := c.layout()
	px := func(p pt) color.Color { return img.At(int(math.Floor(p.x)), int(math.Floor(p.y))) }

	// The lone expensive point is drawn grey at its centre, and nothing is
	// drawn between it and its neighbours.
	lone := l.at(c.Points[3])
	if r, g, b, _ := px(lone).RGBA(); isWhite(px(lone)) || r != g || g != b {
		t.Errorf("lone point at (%.1f, %.1f): pixel %v, want grey", lone.x, lone.y, px(lone))
	}
	if gap := (pt{lone.x - 12, lone.y}); !isWhite(px(gap)) {
		t.Errorf("12 pixels left of the lone point: %v, want white", px(gap))
	}
	// The chosen point is a front mark, blue, inside a red ring.
	ch := l.at(*c.Chosen)
	if r, _, b, _ := px(ch).RGBA(); !(b > 0x8000 && r < 0x4000) {
		t.Errorf("chosen point centre: %v, want blue", px(ch))
	}
	for _, d := range []pt{{ringR, 0}, {-ringR, 0}, {0, ringR}, {0, -ringR}} {
		on := pt{ch.x + d.x, ch.y + d.y}
		if r, g, _, _ := px(on).RGBA(); !(r > 0xa000 && g < 0x6000) {
			t.Errorf("on the ring at (%.1f, %.1f): %v, want red", on.x, on.y, px(on))
		}
	}
	// Between the front mark and the ring (4.5 pixels out) is clear,
	// unless the front line passes: up and down from a point on a
	// left-to-right front it does not.
	for _, d := range []pt{{0, 4.5}, {0, -4.5}} {
		in := pt{ch.x + d.x, ch.y + d.y}
		if !isWhite(px(in)) {
			t.Errorf("inside the ring at (%.1f, %.1f): %v, want white", in.x, in.y, px(in))
		}
	}
	// The axes are drawn.
	if isWhite(px(pt{l.left, (l.top + l.bottom) / 2})) || isWhite(px(pt{(l.left + l.right) / 2, l.bottom})) {
		t.Errorf("an axis is missing")
	}
}

// TestOnePoint and TestNoPoint: both formats, no panic, and what shows.
func TestOnePoint(t *testing.T) {
	c := &Chart{Title: "one", Points: []XY{{0.9, 33.7}}, Front: []XY{{0.9, 33.7}}, Chosen: &XY{0.9, 33.7},
		PointsName: "feasible", FrontName: "Pareto front", ChosenName: "chosen"}
	root := parseSVG(t, encode(t, c, "svg"))
	if n := len(root.byClass("feasible")[0].Children); n != 1 {
		t.Errorf("%d points drawn, want 1", n)
	}
	if xv, _ := ticks(t, root, "xtick", "x"); len(xv) < 2 {
		t.Errorf("x labels %v, want 2 or more", xv)
	}
	if yv, _ := ticks(t, root, "ytick", "y"); len(yv) < 3 {
		t.Errorf("y labels %v, want 3 or more", yv)
	}
	ring, dot := root.byClass("chosen")[0], root.byClass("feasible")[0].Children[0]
	if ring.attr("cx") != dot.attr("cx") || ring.attr("cy") != dot.attr("cy") {
		t.Errorf("ring at (%s, %s), its point at (%s, %s)", ring.attr("cx"), ring.attr("cy"), dot.attr("cx"), dot.attr("cy"))
	}
	img := decodePNG(t, encode(t, c, "png"))
	p := c.layout().at(c.Points[0])
	if isWhite(img.At(int(p.x), int(p.y))) {
		t.Errorf("the point at (%.1f, %.1f) is not drawn", p.x, p.y)
	}
}

func TestNoPoint(t *testing.T) {
	c := &Chart{Title: "none", Empty: "no feasible placement", PointsName: "feasible"}
	root := parseSVG(t, encode(t, c, "svg"))
	if e := root.byClass("empty"); len(e) != 1 || e[0].Text != "no feasible placement" {
		t.Errorf("the empty plot does not say why: %v", e)
	}
	if n := len(root.byClass("feasible")) + len(root.byClass("xtick")); n != 0 {
		t.Errorf("an empty plot with %d points or ticks", n)
	}
	decodePNG(t, encode(t, c, "png"))
}

// TestUnplottable: times of zero, below zero or unknown, and unknown
// costs, cannot be drawn on the axes. They are left out and counted, and
// the rest is drawn; when nothing is left, the plot is the empty one.
func TestUnplottable(t *testing.T) {
	bad := []XY{{0, 10}, {-1, 10}, {math.NaN(), 10}, {math.Inf(1), 10}, {1, math.NaN()}, {1, math.Inf(-1)}}
	c := &Chart{Title: "t", Points: append([]XY{{1, 10}, {2, 20}}, bad...), Front: bad, Chosen: &XY{0, 10},
		PointsName: "feasible", FrontName: "Pareto front", ChosenName: "chosen", Empty: "nothing"}
	root := parseSVG(t, encode(t, c, "svg"))
	if n := len(root.byClass("feasible")[0].Children); n != 2 {
		t.Errorf("%d points drawn, want 2", n)
	}
	if n := len(root.byClass("chosen")) + len(root.byClass("front")); n != 0 {
		t.Errorf("%d rings or front marks drawn for points off the axes", n)
	}
	if note := root.byClass("note"); len(note) != 1 || !strings.HasPrefix(note[0].Text, "6 not drawn") {
		t.Errorf("note %v, want it to say 6 not drawn", note)
	}
	decodePNG(t, encode(t, c, "png"))

	c.Points = bad
	root = parseSVG(t, encode(t, c, "svg"))
	if len(root.byClass("empty")) != 1 {
		t.Errorf("nothing drawable, yet not the empty plot")
	}
	decodePNG(t, encode(t, c, "png"))
}

// TestNegativeCost: a negative cost (a credit) goes below a zero line on
// the linear axis.
func TestNegativeCost(t *testing.T) {
	c := &Chart{Points: []XY{{1, -50}, {3, 200}}}
	l := c.layout()
	if !(l.y.lo < -50 && l.y.hi > 200) {
		t.Errorf("cost axis %g–%g does not hold -50 and 200", l.y.lo, l.y.hi)
	}
	parseSVG(t, encode(t, c, "svg"))
	decodePNG(t, encode(t, c, "png"))
}

func TestEncodeFormat(t *testing.T) {
	_, err := sample().Encode("pdf")
	if err == nil || !strings.Contains(err.Error(), `"pdf"`) || !strings.Contains(err.Error(), "svg or png") {
		t.Errorf("Encode(pdf): %v, want an error naming the format and the ones there are", err)
	}
}

// TestTextEscaped: a title is text, not markup.
func TestTextEscaped(t *testing.T) {
	c := sample()
	c.Title = `<script>alert("x")</script> & more`
	root := parseSVG(t, encode(t, c, "svg"))
	if got := root.byClass("title")[0].Text; got != c.Title {
		t.Errorf("title reads %q, want %q", got, c.Title)
	}
}

// TestLongNames: a title and a chosen name too long for the width are
// shrunk or shortened and the legend takes two rows; the plot area shrinks
// to make room rather than the legend covering it.
func TestLongNames(t *testing.T) {
	c := sample()
	c.Title = strings.Repeat("a very long job name ", 10)
	c.ChosenName = "chosen: " + strings.Repeat("site-with-a-long-name-", 5) + ", 1024 × accelerator"
	root := parseSVG(t, encode(t, c, "svg"))
	title := root.byClass("title")[0]
	if textWidth(title.Text, title.num(t, "font-size")) > Width-2*pad {
		t.Errorf("title %q wider than the plot", title.Text)
	}
	l := c.layout()
	if len(l.legend) != 2 {
		t.Fatalf("legend of %d rows, want 2", len(l.legend))
	}
	var lastLegend float64
	for _, n := range root.byClass("legend") {
		lastLegend = math.Max(lastLegend, n.num(t, "y"))
	}
	if lastLegend+4 > l.top {
		t.Errorf("legend's last row at %g, the plot's top at %g", lastLegend, l.top)
	}
	decodePNG(t, encode(t, c, "png"))
}

func BenchmarkEncode(b *testing.B) {
	// 30,000 points, about a 2,000-site plan's.
	c := sample()
	c.Points = nil
	for i := 0; i < 30000; i++ {
		c.Points = append(c.Points, XY{0.5 * math.Pow(600, float64(i%997)/997), 100 + float64(i*7919%50000)})
	}
	for _, f := range Formats {
		b.Run(f, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := c.Encode(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
