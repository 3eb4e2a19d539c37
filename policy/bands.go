package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// A rule that reads thresholds is evaluated once per corner: one
// combination of the thresholds' readings. Its condition holding under
// every corner means every sourced reading of the law says it applies;
// under some corners, that the readings disagree (the value is inside the
// band); under none, that no reading applies it.

// corner is one combination of threshold readings.
type corner struct {
	values facts // threshold name → reading (float64)
	label  string
}

// corners lists every combination of the thresholds' readings, in a
// stable order.
func corners(ts []*Threshold) []corner {
	out := []corner{{values: facts{}}}
	for _, t := range ts {
		var next []corner
		for _, c := range out {
			for _, r := range t.Readings {
				v := facts{}
				for k, x := range c.values {
					v[k] = x
				}
				v[t.Name] = types.Double(r.Value) // read by conditions only: converted once
				label := c.label
				if len(t.Readings) > 1 { // a single reading is the same at every corner
					label = t.Name + "=" + formatNumber(r.Value)
					if c.label != "" {
						label = c.label + ", " + label
					}
				}
				next = append(next, corner{values: v, label: label})
			}
		}
		out = next
	}
	return out
}

// bandAct is an activation with the thresholds at one corner's readings.
type bandAct struct {
	interpreter.Activation
	values facts
}

// ResolveName implements interpreter.Activation.
func (a bandAct) ResolveName(name string) (any, bool) {
	if name == "threshold" {
		return a.values, true
	}
	return a.Activation.ResolveName(name)
}

// Parent implements interpreter.Activation.
func (a bandAct) Parent() interpreter.Activation { return nil }

// thresholdTexts are what messages show for {threshold.NAME}: the
// readings, "1000 to 10000" or a single value.
func thresholdTexts(ts map[string]*Threshold) facts {
	out := facts{}
	for name, t := range ts {
		if t.IsBand() {
			out[name] = formatNumber(t.Low()) + " to " + formatNumber(t.High())
		} else {
			out[name] = formatNumber(t.Low())
		}
	}
	return out
}

// bandText describes the thresholds a rule reads, for a finding: each
// reading with its source, and the confidence; only those with several
// readings when onlyBands.
func bandText(c *compiled, onlyBands bool) string {
	var parts []string
	for _, t := range c.bands {
		if onlyBands && len(t.Readings) < 2 {
			continue
		}
		var rs []string
		for _, r := range t.Readings {
			rs = append(rs, fmt.Sprintf("%s (%s)", formatNumber(r.Value), r.Source))
		}
		unit := ""
		if t.Unit != "" {
			unit = " (" + t.Unit + ")"
		}
		parts = append(parts, fmt.Sprintf("%s%s read as %s, %s", t.Name, unit, strings.Join(rs, "; "), t.Confidence))
	}
	return strings.Join(parts, " and ")
}

// bandConfidence is the weakest confidence of the thresholds a rule reads.
func bandConfidence(c *compiled) string {
	conf := Confirmed
	for _, t := range c.bands {
		switch {
		case t.Confidence == Unconfirmed:
			conf = Unconfirmed
		case t.Confidence == Reported && conf == Confirmed:
			conf = Reported
		}
	}
	return conf
}

func formatNumber(v float64) string {
	if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
