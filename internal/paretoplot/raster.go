package paretoplot

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// raster draws a surface into an RGBA image, every mark antialiased.
// Discs are stamped from masks rasterized once per radius and quarter
// pixel of offset, so thirty thousand points cost thirty thousand small
// copies rather than as many rasterizations.
type raster struct {
	img     *image.RGBA
	z       vector.Rasterizer
	sprites map[spriteKey]*image.Alpha
}

type spriteKey struct {
	r      float64
	fx, fy int // the centre's offset in quarter pixels
}

func newRaster() *raster {
	return &raster{img: image.NewRGBA(image.Rect(0, 0, Width, Height)), sprites: map[spriteKey]*image.Alpha{}}
}

func (r *raster) encode(w io.Writer) error {
	return (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, r.img)
}

// rect fills whole pixels: the edges round to the pixel grid, so a
// one-pixel line stays one sharp pixel wide.
func (r *raster) rect(x0, y0, x1, y1 float64, c color.NRGBA, _ string) {
	b := image.Rect(int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x1)), int(math.Round(y1)))
	draw.Draw(r.img, b, image.NewUniform(c), image.Point{}, draw.Over)
}

// circle adds a circle of radius rad around (cx, cy) to z as four cubic
// Béziers, counter-clockwise on the screen for dir 1 and clockwise for -1.
// The rasterizer adds signed coverage, so shapes of one direction unite
// and one of the other cuts a hole.
func circle(z *vector.Rasterizer, cx, cy, rad, dir float64) {
	const kappa = 0.5522847498 // a cubic's control distance for a quarter circle
	k := kappa * rad
	z.MoveTo(float32(cx+rad), float32(cy))
	for i := 0; i < 4; i++ {
		a0, a1 := dir*float64(i)*math.Pi/2, dir*float64(i+1)*math.Pi/2
		s0, c0 := math.Sincos(a0)
		s1, c1 := math.Sincos(a1)
		x0, y0 := cx+rad*c0, cy+rad*s0
		x1, y1 := cx+rad*c1, cy+rad*s1
		z.CubeTo(float32(x0-k*dir*s0), float32(y0+k*dir*c0),
			float32(x1+k*dir*s1), float32(y1-k*dir*c1),
			float32(x1), float32(y1))
	}
	z.ClosePath()
}

// fill draws what has been added to z, whose origin is at (ox, oy) on the
// image, in c.
func (r *raster) fill(ox, oy int, c color.NRGBA) {
	size := r.z.Size()
	r.z.DrawOp = draw.Over
	r.z.Draw(r.img, image.Rect(ox, oy, ox+size.X, oy+size.Y), image.NewUniform(c), image.Point{})
}

// line strokes each segment as a quadrilateral and rounds every vertex
// with a disc, all wound one way so that their overlaps unite.
func (r *raster) line(ps []pt, w float64, c color.NRGBA, _ string) {
	if len(ps) == 0 {
		return
	}
	x0, y0, x1, y1 := ps[0].x, ps[0].y, ps[0].x, ps[0].y
	for _, p := range ps {
		x0, y0 = math.Min(x0, p.x), math.Min(y0, p.y)
		x1, y1 = math.Max(x1, p.x), math.Max(y1, p.y)
	}
	ox, oy := int(math.Floor(x0-w))-1, int(math.Floor(y0-w))-1
	r.z.Reset(int(math.Ceil(x1+w))+2-ox, int(math.Ceil(y1+w))+2-oy)
	h := w / 2
	for i, p := range ps {
		px, py := p.x-float64(ox), p.y-float64(oy)
		circle(&r.z, px, py, h, -1)
		if i == 0 {
			continue
		}
		qx, qy := ps[i-1].x-float64(ox), ps[i-1].y-float64(oy)
		dx, dy := px-qx, py-qy
		n := math.Hypot(dx, dy)
		if n == 0 {
			continue
		}
		nx, ny := -dy/n*h, dx/n*h
		r.z.MoveTo(float32(qx+nx), float32(qy+ny))
		r.z.LineTo(float32(px+nx), float32(py+ny))
		r.z.LineTo(float32(px-nx), float32(py-ny))
		r.z.LineTo(float32(qx-nx), float32(qy-ny))
		r.z.ClosePath()
	}
	r.fill(ox, oy, c)
}

// sprite is the coverage of a disc of radius rad centred at
// (h+fx/4, h+fy/4) in a (2h+1)-pixel square, h = ceil(rad)+1.
func (r *raster) sprite(k spriteKey) (*image.Alpha, int) {
	h := int(math.Ceil(k.r)) + 1
	if m, ok := r.sprites[k]; ok {
		return m, h
	}
	n := 2*h + 1
	m := image.NewAlpha(image.Rect(0, 0, n, n))
	var z vector.Rasterizer
	z.Reset(n, n)
	circle(&z, float64(h)+float64(k.fx)/4, float64(h)+float64(k.fy)/4, k.r, 1)
	z.DrawOp = draw.Src
	z.Draw(m, m.Bounds(), image.Opaque, image.Point{})
	r.sprites[k] = m
	return m, h
}

func (r *raster) dots(ps []pt, rad float64, c color.NRGBA, _ string) {
	src := image.NewUniform(c)
	for _, p := range ps {
		qx, qy := int(math.Round(p.x*4)), int(math.Round(p.y*4))
		bx, by := floorDiv(qx, 4), floorDiv(qy, 4)
		m, h := r.sprite(spriteKey{rad, qx - 4*bx, qy - 4*by})
		b := m.Bounds().Add(image.Pt(bx-h, by-h))
		draw.DrawMask(r.img, b, src, image.Point{}, m, image.Point{}, draw.Over)
	}
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func (r *raster) ring(p pt, rad, w float64, c color.NRGBA, _ string) {
	outer := rad + w/2
	ox, oy := int(math.Floor(p.x-outer))-1, int(math.Floor(p.y-outer))-1
	n := int(math.Ceil(2*outer)) + 3
	r.z.Reset(n, n)
	cx, cy := p.x-float64(ox), p.y-float64(oy)
	circle(&r.z, cx, cy, outer, 1)
	circle(&r.z, cx, cy, rad-w/2, -1)
	r.fill(ox, oy, c)
}

func (r *raster) text(p pt, s string, size float64, a anchor, vertical bool, c color.NRGBA, _ string) {
	withFace(size, func(f font.Face) {
		w := font.MeasureString(f, s)
		var shift fixed.Int26_6
		switch a {
		case middle:
			shift = w / 2
		case end:
			shift = w
		}
		if !vertical {
			d := font.Drawer{Dst: r.img, Src: image.NewUniform(c), Face: f,
				Dot: fixed.Point26_6{X: toFixed(p.x) - shift, Y: toFixed(p.y)}}
			d.DrawString(s)
			return
		}
		// Upright into a mask, then turned a quarter anticlockwise about
		// the baseline's anchor.
		m := f.Metrics()
		asc, desc := m.Ascent.Ceil(), m.Descent.Ceil()
		tw := w.Ceil() + 1
		up := image.NewAlpha(image.Rect(0, 0, tw, asc+desc))
		d := font.Drawer{Dst: up, Src: image.Opaque, Face: f, Dot: fixed.P(0, asc)}
		d.DrawString(s)
		turned := image.NewAlpha(image.Rect(0, 0, asc+desc, tw))
		for v := 0; v < asc+desc; v++ {
			for u := 0; u < tw; u++ {
				turned.SetAlpha(v, tw-1-u, up.AlphaAt(u, v))
			}
		}
		x0 := int(math.Round(p.x)) - asc
		y0 := int(math.Round(p.y)) + shift.Round() - tw
		draw.DrawMask(r.img, turned.Bounds().Add(image.Pt(x0, y0)), image.NewUniform(c), image.Point{}, turned, image.Point{}, draw.Over)
	})
}

func toFixed(v float64) fixed.Int26_6 { return fixed.Int26_6(math.Round(v * 64)) }
