package paretoplot

import (
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// The one face the plot uses. The SVG names it first and falls back to a
// sans-serif the viewer has; layout measures with it either way.
const fontFamily = "Go, 'Go Regular', sans-serif"

var (
	fontOnce sync.Once
	goFont   *opentype.Font
	fontErr  error

	facesMu sync.Mutex
	faces   = map[float64]font.Face{}
)

// withFace calls fn with Go Regular at size pixels. Faces cache glyphs
// and are not safe for concurrent use, so fn runs under one lock. The
// embedded font parses; were it ever not to, that is a broken build, and
// withFace panics.
func withFace(size float64, fn func(f font.Face)) {
	fontOnce.Do(func() { goFont, fontErr = opentype.Parse(goregular.TTF) })
	if fontErr != nil {
		panic("paretoplot: the embedded Go Regular font: " + fontErr.Error())
	}
	facesMu.Lock()
	defer facesMu.Unlock()
	f, ok := faces[size]
	if !ok {
		var err error
		// At 72 DPI a point is a pixel.
		f, err = opentype.NewFace(goFont, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
		if err != nil {
			panic("paretoplot: a face of Go Regular: " + err.Error())
		}
		faces[size] = f
	}
	fn(f)
}

// textWidth is the advance of s at size pixels.
func textWidth(s string, size float64) (w float64) {
	withFace(size, func(f font.Face) { w = fixedToFloat(font.MeasureString(f, s)) })
	return w
}

func fixedToFloat(v fixed.Int26_6) float64 { return float64(v) / 64 }
