package paretoplot

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"image/color"
	"io"
	"strconv"
)

// svgWriter writes a surface as SVG elements, each carrying its class.
// Coordinates are written to a hundredth of a pixel, the same for every
// mark drawn at one point.
type svgWriter struct {
	w   *bufio.Writer
	num []byte
}

func newSVG(w io.Writer) *svgWriter {
	s := &svgWriter{w: bufio.NewWriterSize(w, 64<<10)}
	fmt.Fprintf(s.w, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s">
`, Width, Height, Width, Height, fontFamily)
	return s
}

// end closes the document. The writer underneath is a bytes.Buffer, whose
// writes do not fail.
func (s *svgWriter) end() {
	s.w.WriteString("</svg>\n")
	s.w.Flush()
}

// f writes a coordinate: two decimals at most, no trailing zeros, no -0.
func (s *svgWriter) f(v float64) {
	b := strconv.AppendFloat(s.num[:0], v, 'f', 2, 64)
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if len(b) == 2 && b[0] == '-' && b[1] == '0' {
		b = b[1:]
	}
	s.num = b
	s.w.Write(b)
}

func hex(c color.NRGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// paint writes a fill or stroke colour with its opacity where not opaque.
func (s *svgWriter) paint(attr string, c color.NRGBA) {
	fmt.Fprintf(s.w, ` %s="%s"`, attr, hex(c))
	if c.A != 0xff {
		fmt.Fprintf(s.w, ` %s-opacity="%s"`, attr, strconv.FormatFloat(float64(c.A)/255, 'f', 3, 64))
	}
}

func (s *svgWriter) rect(x0, y0, x1, y1 float64, c color.NRGBA, class string) {
	fmt.Fprintf(s.w, `<rect class="%s" x="`, class)
	s.f(x0)
	s.w.WriteString(`" y="`)
	s.f(y0)
	s.w.WriteString(`" width="`)
	s.f(x1 - x0)
	s.w.WriteString(`" height="`)
	s.f(y1 - y0)
	s.w.WriteString(`"`)
	s.paint("fill", c)
	s.w.WriteString("/>\n")
}

func (s *svgWriter) line(ps []pt, w float64, c color.NRGBA, class string) {
	fmt.Fprintf(s.w, `<polyline class="%s" fill="none" stroke-width="%g" stroke-linejoin="round" stroke-linecap="round"`, class, w)
	s.paint("stroke", c)
	s.w.WriteString(` points="`)
	for i, p := range ps {
		if i > 0 {
			s.w.WriteByte(' ')
		}
		s.f(p.x)
		s.w.WriteByte(',')
		s.f(p.y)
	}
	s.w.WriteString("\"/>\n")
}

func (s *svgWriter) dots(ps []pt, r float64, c color.NRGBA, class string) {
	fmt.Fprintf(s.w, `<g class="%s"`, class)
	s.paint("fill", c)
	s.w.WriteString(">\n")
	for _, p := range ps {
		s.w.WriteString(`<circle cx="`)
		s.f(p.x)
		s.w.WriteString(`" cy="`)
		s.f(p.y)
		s.w.WriteString(`" r="`)
		s.f(r)
		s.w.WriteString("\"/>\n")
	}
	s.w.WriteString("</g>\n")
}

func (s *svgWriter) ring(p pt, r, w float64, c color.NRGBA, class string) {
	fmt.Fprintf(s.w, `<circle class="%s" cx="`, class)
	s.f(p.x)
	s.w.WriteString(`" cy="`)
	s.f(p.y)
	s.w.WriteString(`" r="`)
	s.f(r)
	fmt.Fprintf(s.w, `" fill="none" stroke-width="%g"`, w)
	s.paint("stroke", c)
	s.w.WriteString("/>\n")
}

func (s *svgWriter) text(p pt, str string, size float64, a anchor, vertical bool, c color.NRGBA, class string) {
	fmt.Fprintf(s.w, `<text class="%s" x="`, class)
	s.f(p.x)
	s.w.WriteString(`" y="`)
	s.f(p.y)
	fmt.Fprintf(s.w, `" font-size="%g"`, size)
	switch a {
	case middle:
		s.w.WriteString(` text-anchor="middle"`)
	case end:
		s.w.WriteString(` text-anchor="end"`)
	}
	if vertical {
		s.w.WriteString(` transform="rotate(-90 `)
		s.f(p.x)
		s.w.WriteByte(' ')
		s.f(p.y)
		s.w.WriteString(`)"`)
	}
	s.paint("fill", c)
	s.w.WriteByte('>')
	xml.EscapeText(s.w, []byte(str))
	s.w.WriteString("</text>\n")
}
