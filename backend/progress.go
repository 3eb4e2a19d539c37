package backend

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
)

// Progress is one progress report of a training program, parsed from a line
// such as "step=120 steps=1000 loss=2.3412 tokens_per_s=51234".
type Progress struct {
	// Step is the number of optimiser steps done.
	Step int64 `json:"step"`
	// Steps is the total the program will run, 0 when not reported.
	Steps int64 `json:"steps,omitempty"`
	// Loss is the training loss at Step.
	Loss float64 `json:"loss"`
	// TokensPerSec is the recent throughput, 0 when not reported.
	TokensPerSec float64 `json:"tokensPerSec,omitempty"`
}

// Fraction is Step/Steps clamped to [0,1], or 0 when Steps is unknown.
func (p Progress) Fraction() float64 {
	if p.Steps <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, float64(p.Step)/float64(p.Steps)))
}

// maxProgressLine bounds the lines ParseProgress accepts.
const maxProgressLine = 4096

// ParseProgress parses one progress line: space-separated key=value fields,
// the first being step=N, with loss=X required; steps=N and tokens_per_s=X
// are optional and unknown keys are ignored. It reports false for any other
// line, including one with a repeated key or a value that is not a finite,
// non-negative number.
func ParseProgress(line string) (Progress, bool) {
	line = strings.TrimRight(line, "\r\n")
	if len(line) > maxProgressLine || !strings.HasPrefix(line, "step=") {
		return Progress{}, false
	}
	var p Progress
	seen := map[string]bool{}
	for _, field := range strings.Fields(line) {
		k, v, ok := strings.Cut(field, "=")
		if !ok || k == "" || seen[k] {
			return Progress{}, false
		}
		seen[k] = true
		switch k {
		case "step", "steps":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Progress{}, false
			}
			if k == "step" {
				p.Step = n
			} else {
				p.Steps = n
			}
		case "loss", "tokens_per_s":
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				return Progress{}, false
			}
			if k == "loss" {
				p.Loss = x
			} else {
				p.TokensPerSec = x
			}
		}
	}
	if !seen["loss"] {
		return Progress{}, false
	}
	return p, true
}

// LastProgress returns the last progress line in r, skipping other output.
func LastProgress(r io.Reader) (Progress, bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var last Progress
	found := false
	for sc.Scan() {
		if p, ok := ParseProgress(sc.Text()); ok {
			last, found = p, true
		}
	}
	return last, found, sc.Err()
}
