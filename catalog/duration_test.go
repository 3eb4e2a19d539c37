package catalog

import (
	"strings"
	"testing"
	"time"
)

// TestDurationRefusesNonsense: a deadline or checkpoint interval that is
// not a finite, positive, representable length of time is an error naming
// the field, never a negative or zero duration the planner would take for
// "no deadline".
func TestDurationRefusesNonsense(t *testing.T) {
	for _, v := range []string{"NaNd", "nand", "infd", "+Infd", "-infd", "1e400d", "106752d", "99999999999999d", "1e30d", "0x10p2d", "+5d", "0", "0s", "0d", "0.0d", "1e-20d"} {
		for _, field := range []string{"deadline", "checkpointEvery"} {
			doc := "apiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: j}\nspec:\n  " + field + ": \"" + v + "\"\n"
			_, err := Decode("job.yaml", []byte(doc))
			if err == nil || !strings.Contains(err.Error(), "spec."+field) {
				t.Errorf("%s: %q: got %v, want an error naming spec.%s", field, v, err, field)
			}
		}
	}
	for v, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "1.5d": 36 * time.Hour, "106751d": 106751 * 24 * time.Hour, "36h": 36 * time.Hour, "1h30m": 90 * time.Minute, " 2d ": 48 * time.Hour} {
		d, err := ParseDuration(v)
		if err != nil || d.D() != want {
			t.Errorf("%q: got %v, %v; want %v", v, d.D(), err, want)
		}
	}
}
