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

// FuzzDateAndDuration: whatever ParseDate and ParseDuration accept is in
// range and reads back the same from its printed form: a date is a UTC
// midnight between MinDateYear and MaxDateYear, a duration is positive.
// Deadlines, licence expiries and rule dates are compared as these values,
// so a form that parsed to another day or to a non-positive length would
// move or remove a limit.
func FuzzDateAndDuration(f *testing.F) {
	for _, s := range []string{"2025-06-01", "1900-01-01", "2199-12-31", "0000-01-01", "2025-02-29", " 2024-02-29 ", "2025-6-1",
		"14d", "1.5d", "106751d", "106752d", "36h", "1h30m", "0.0000001d", "9223372036854775807ns", "-1h", "1e3d", ".5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDate(s); err == nil {
			if y := d.Year(); y < MinDateYear || y > MaxDateYear {
				t.Fatalf("ParseDate(%q) = %s, outside the years %d to %d", s, d, MinDateYear, MaxDateYear)
			}
			if d.Location() != time.UTC || d.Time != d.Truncate(24*time.Hour) {
				t.Fatalf("ParseDate(%q) = %v, not a UTC midnight", s, d.Time)
			}
			if again, err := ParseDate(d.String()); err != nil || !again.Equal(d.Time) {
				t.Fatalf("ParseDate(%q) = %s, which reads back as %v, %v", s, d, again, err)
			}
		}
		if d, err := ParseDuration(s); err == nil {
			if d <= 0 {
				t.Fatalf("ParseDuration(%q) = %d, not positive", s, d)
			}
			if again, err := ParseDuration(d.String()); err != nil || again != d {
				t.Fatalf("ParseDuration(%q) = %s, which reads back as %v, %v", s, d, again, err)
			}
		}
	})
}

// TestCheckpointEveryBounded: a checkpoint interval of a nanosecond (or
// any below a minute) was accepted, and the estimator planned a checkpoint
// stall for every nanosecond of the run. It is refused, naming the field
// and the bound, on its line; a minute and the examples' 20m are not.
func TestCheckpointEveryBounded(t *testing.T) {
	for _, v := range []string{"1ns", "1us", "1ms", "1s", "59s", "59.999s", "0.0000001d"} {
		path, err := loadEdited(t, "  deadline: 14d\n", "  deadline: 14d\n  checkpointEvery: "+v+"\n")
		if err == nil {
			t.Errorf("checkpointEvery %s accepted", v)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "spec.checkpointEvery") || !strings.Contains(msg, "1m") || !strings.Contains(msg, path+":42") {
			t.Errorf("checkpointEvery %s: %v, want an error at %s:42 naming spec.checkpointEvery and 1m", v, err, path)
		}
	}
	for _, v := range []string{"1m", "60s", "20m", "1h", "1d"} {
		if _, err := loadEdited(t, "  deadline: 14d\n", "  deadline: 14d\n  checkpointEvery: "+v+"\n"); err != nil {
			t.Errorf("checkpointEvery %s: %v", v, err)
		}
	}
}
