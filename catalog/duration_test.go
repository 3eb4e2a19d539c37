package catalog

import "testing"

// TestParseDurationBounds: a number of days that does not fit a duration
// (about 292 years) or is not a number is refused, not wrapped to a
// negative duration that every check then reads as "no deadline".
func TestParseDurationBounds(t *testing.T) {
	for _, s := range []string{"1e9d", "106752d", "NaNd", "Infd", "+Infd", "1e300d"} {
		if d, err := ParseDuration(s); err == nil {
			t.Errorf("%s: %d, want an error", s, int64(d))
		}
	}
	for s, want := range map[string]Duration{"14d": Duration(14 * 24 * 3600e9), "106751d": Duration(106751 * 24 * 3600e9), "0.5d": Duration(12 * 3600e9)} {
		if d, err := ParseDuration(s); err != nil || d != want {
			t.Errorf("%s: %d %v, want %d", s, int64(d), err, int64(want))
		}
	}
}
