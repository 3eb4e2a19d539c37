package main

import (
	"strings"
	"testing"
)

// TestServeRefusesNonNumberRateLimit: --rate-limit NaN passed the "0 or
// more" check and made a limiter that lets every request through (NaN
// tokens never fall below zero); +Inf turns it off too. Both are refused,
// naming the flag. (--max-streams 0 stops the command before it serves
// when the rate is wrongly accepted.)
func TestServeRefusesNonNumberRateLimit(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf"} {
		_, err := runCLI(t, "serve", "--rate-limit", v, "--max-streams", "0", "--listen", "127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "--rate-limit") {
			t.Errorf("--rate-limit %s: got %v, want an error naming --rate-limit", v, err)
		}
	}
}
