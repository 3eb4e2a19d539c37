package slurm

import (
	"iter"
	"strings"
)

// Bounds on the lines a parser walks of one Slurm client's output, blank
// ones included: a client (or a wrapper around it, or a value a job's
// owner sets) may fill the bytes a call keeps (maxCommandOutput,
// maxCapacityOutput) with line breaks alone. Split into a slice, 64 MiB of
// them cost a 16-byte string header each, 1 GiB; walked one at a time
// (outputLines) they cost nothing, and past the bound the output is
// refused rather than walked on.
const (
	// maxJobLines bounds squeue's answer for one job (--jobs=ID), which
	// is one line.
	maxJobLines = 16
	// maxListedLines bounds a listing of jobs or nodes: this user's jobs
	// (a lookup, a capacity poll), a partition's nodes.
	maxListedLines = 1 << 20
)

// outputLines yields each line of out, without its line break, with its
// number from 1; a last line without a break is yielded too.
func outputLines(out string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		n := 0
		for line := range strings.Lines(out) {
			n++
			if !yield(n, strings.TrimSuffix(line, "\n")) {
				return
			}
		}
	}
}

// fieldsInto splits s around each sep into f, without allocating, and
// returns how many fields s has; f is filled only when they fit (n <=
// len(f)).
func fieldsInto(s, sep string, f []string) int {
	n := strings.Count(s, sep) + 1
	if n > len(f) {
		return n
	}
	for i := range n - 1 {
		f[i], s, _ = strings.Cut(s, sep)
	}
	f[n-1] = s
	return n
}
