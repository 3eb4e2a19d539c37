package slurm

import (
	"strconv"
	"strings"
	"testing"
)

// newlines is what a site's client (or a wrapper around it) may print
// within a call's output bound: nothing but line breaks.
func newlines(n int) string { return strings.Repeat("\n", n) }

// TestParsersWalkOutputInPlace: squeue's, sinfo's and scontrol's output is
// bounded in bytes (8 MiB, 64 MiB for listings), but each parser split it
// whole into lines (strings.Split), and some a line into its columns, at a
// 16-byte string header each: 64 MiB of line breaks cost 1 GiB for each
// capacity poll, 8 MiB of them or of column separators 128 MiB for each
// Status. Each now walks its output a line at a time and splits a line in
// place, refusing more lines than its bound, for a few KiB whatever the
// output.
func TestParsersWalkOutputInPlace(t *testing.T) {
	const most = 64 << 10
	h100 := gresKind{name: "gpu", typ: "h100"}
	one, listing := newlines(maxCommandOutput), newlines(maxCapacityOutput)
	seps := "42" + strings.Repeat(columnSep, maxCommandOutput-3) + "\n"
	ups := strings.Repeat("up\n", maxCommandOutput/3)
	for _, c := range []struct {
		name, want string
		parse      func() error
	}{
		{"one job's line breaks", "more than " + strconv.Itoa(maxJobLines) + " lines", func() error { _, err := parseSqueueJob(one, "42"); return err }},
		{"one job's column separators", "columns for job 42", func() error { _, err := parseSqueueJob(seps, "42"); return err }},
		{"sinfo's line breaks", "more than " + strconv.Itoa(maxListedLines) + " lines", func() error { _, _, err := parseSinfoCapacity(listing, "p", h100); return err }},
		{"squeue's line breaks", "more than " + strconv.Itoa(maxListedLines) + " lines", func() error {
			return parseSqueueCapacity(listing, func(string) bool { return true }, h100, newCapTally())
		}},
		{"a partition's availabilities", "more than " + strconv.Itoa(maxListedLines), func() error { return partitionAvail(ups, "p") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			n := allocated(func() { err = c.parse() })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one with %q", err, c.want)
			}
			if n > most {
				t.Errorf("parsing allocated %d bytes; want at most %d", n, most)
			}
		})
	}
}

// BenchmarkParseNewlines: what each parser of a Slurm client's output
// costs given output of nothing but line breaks, as large as the call's
// bound lets it be (maxCommandOutput for one job's squeue line,
// maxCapacityOutput for capacity polls' listings).
func BenchmarkParseNewlines(b *testing.B) {
	one, capacity := newlines(maxCommandOutput), newlines(maxCapacityOutput)
	h100 := gresKind{name: "gpu", typ: "h100"}
	b.Run("squeueJob", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseSqueueJob(one, "42") //nolint:errcheck
		}
	})
	b.Run("sinfoCapacity", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseSinfoCapacity(capacity, "p", h100) //nolint:errcheck
		}
	})
	b.Run("squeueCapacity", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseSqueueCapacity(capacity, func(string) bool { return true }, h100, newCapTally()) //nolint:errcheck
		}
	})
}

// BenchmarkParseListings: the parsers on ordinary output: one job's
// squeue line, and 10,000 nodes' sinfo lines and jobs' squeue lines.
func BenchmarkParseListings(b *testing.B) {
	h100 := gresKind{name: "gpu", typ: "h100"}
	job := strings.Join([]string{"42", "RUNNING", "0", "2026-12-04T19:43:15", "N/A", "n1", "None", "/s/jobs/r1-1/output.log", "/s/jobs/r1-1/job.sh", "1000"}, columnSep) + columnSep + "\n"
	var sinfo, squeue strings.Builder
	for i := range 10000 {
		sinfo.WriteString("n" + strconv.Itoa(i) + "|p|up|mixed+drain|gpu:h100:8|gpu:h100:2(IDX:0-1)|\n")
		squeue.WriteString(strconv.Itoa(1000+i) + "|n" + strconv.Itoa(i) + "|gres:gpu:h100:2|\n")
	}
	b.Run("squeueJob", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseSqueueJob(job, "42"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sinfoCapacity", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := parseSinfoCapacity(sinfo.String(), "p", h100); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("squeueCapacity", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := parseSqueueCapacity(squeue.String(), func(string) bool { return true }, h100, newCapTally()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
