package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
)

// binary is one meridian executable under test.
type binary struct {
	name, path string
	timings    bool // accepts plan --timings
}

// sample is one run of the whole command.
type sample struct {
	wall, cpu time.Duration
	rssKB     int64
	bytes     int
	split     map[string]float64 // ms by phase, from --timings
}

var timingsLine = regexp.MustCompile(`timings ms: load ([\d.]+) law ([\d.]+) estimate ([\d.]+) rank ([\d.]+) output ([\d.]+)`)

// phases are the parts of --timings, in order.
var phases = []string{"load", "law", "estimate", "rank", "output"}

// runWhole times `meridian plan -f JOB --catalog DIR -o json` from process
// start to exit for each binary, job and world size: the median of runs,
// its CPU time, the split the binary reports (load, law, estimate, rank,
// output) and the peak resident memory. Runs of the binaries alternate,
// so that other load on the machine falls on each alike.
func runWhole(spec, sizes string, runs, pools int, args string) error {
	bins, err := parseBinaries(spec)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "planscale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w, err := catalog.Builtin()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "binary\tjob\tsites\tfile MB\tmedian wall ms\tmin wall ms\tCPU ms\tload\tlaw\testimate\trank\toutput\tpeak RSS MB\toutput MB\tµs per site\t\n")
	for _, job := range synth.Jobs {
		jobFile := filepath.Join(dir, job+".yaml")
		if err := writeSet(jobFile, synth.JobNamed(job)); err != nil {
			return err
		}
		for _, f := range strings.Split(sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-sites: %q is not a positive number", f)
			}
			cat := filepath.Join(dir, fmt.Sprintf("sites-%d", n))
			if _, err := os.Stat(cat); err != nil {
				if err := os.Mkdir(cat, 0o755); err != nil {
					return err
				}
				if err := writeSet(filepath.Join(cat, "sites.yaml"), &catalog.Set{Sites: synth.Sites(w, n, pools, 1)}); err != nil {
					return err
				}
			}
			st, err := os.Stat(filepath.Join(cat, "sites.yaml"))
			if err != nil {
				return err
			}
			samples := make([][]sample, len(bins))
			for r := 0; r < runs; r++ {
				for i := range bins {
					s, err := runOnce(&bins[i], jobFile, cat, args)
					if err != nil {
						return fmt.Errorf("%s, job %s, %d sites: %w", bins[i].name, job, n, err)
					}
					samples[i] = append(samples[i], s)
				}
			}
			for i, b := range bins {
				m := summarize(samples[i])
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.0f\t%.0f\t%.0f\t", b.name, job, n, float64(st.Size())/1e6,
					ms(m.wall), ms(minWall(samples[i])), ms(m.cpu))
				for _, p := range phases {
					if v, ok := m.split[p]; ok {
						fmt.Fprintf(tw, "%.0f\t", v)
					} else {
						fmt.Fprintf(tw, "-\t")
					}
				}
				fmt.Fprintf(tw, "%.0f\t%.1f\t%.1f\t\n", float64(m.rssKB)/1024, float64(m.bytes)/1e6, float64(m.wall.Microseconds())/float64(n))
			}
		}
	}
	fmt.Fprintf(tw, "\nwall is process start to exit (median of %d runs); CPU is user+system of that run; load…output are medians of the binary's own --timings split, in ms; peak RSS is the largest of the runs\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", runs)
	return tw.Flush()
}

// parseBinaries reads -whole: NAME=PATH pairs, or one PATH.
func parseBinaries(spec string) ([]binary, error) {
	var out []binary
	for _, f := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(f, "=")
		if !ok {
			name, path = filepath.Base(f), f
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("-whole: %w", err)
		}
		out = append(out, binary{name: name, path: path, timings: true})
	}
	return out, nil
}

func writeSet(path string, set *catalog.Set) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := synth.WriteYAML(f, set); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// countingWriter counts what the command prints.
type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// runOnce runs the plan command once, through a small copy of this
// program (runChild): Linux counts the memory of a process that forked
// from a large one as its own until it execs, so peak memory is measured
// from a parent that is small. A binary older than --timings is run
// without it from then on.
func runOnce(b *binary, jobFile, cat, extra string) (sample, error) {
	args := []string{"plan", "-f", jobFile, "--catalog", cat, "--as-of", "2025-06-01", "-o", "json"}
	args = append(args, strings.Fields(extra)...)
	if b.timings {
		args = append(args, "--timings")
	}
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	cmd := exec.Command(self, append([]string{"-child", b.path}, args...)...)
	var report bytes.Buffer
	cmd.Stdout, cmd.Stderr = &report, os.Stderr
	if err := cmd.Run(); err != nil {
		return sample{}, err
	}
	var c childReport
	if err := json.Unmarshal(report.Bytes(), &c); err != nil {
		return sample{}, fmt.Errorf("child report %q: %w", report.String(), err)
	}
	if b.timings && strings.Contains(c.Stderr, "unknown flag: --timings") {
		b.timings = false
		return runOnce(b, jobFile, cat, extra)
	}
	if c.Exit != 0 && c.Exit != 3 { // 3: no placement, a valid answer
		return sample{}, fmt.Errorf("exit %d: %s", c.Exit, strings.TrimSpace(c.Stderr))
	}
	s := sample{wall: time.Duration(c.WallNS), cpu: time.Duration(c.CPUNS), rssKB: c.MaxRSSKB, bytes: c.Bytes, split: map[string]float64{}}
	if m := timingsLine.FindStringSubmatch(c.Stderr); m != nil {
		for i, p := range phases {
			s.split[p], _ = strconv.ParseFloat(m[i+1], 64)
		}
	}
	return s, nil
}

// childReport is what runChild prints.
type childReport struct {
	WallNS, CPUNS int64
	MaxRSSKB      int64
	Bytes, Exit   int
	Stderr        string
}

// runChild runs one command, counting its output, and prints a
// childReport: wall time from start to exit, CPU time and peak memory.
func runChild(argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	var out countingWriter
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	err := cmd.Run()
	r := childReport{WallNS: int64(time.Since(start)), Bytes: out.n, Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Exit = ee.ExitCode()
	} else if err != nil {
		return err
	}
	r.CPUNS = int64(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime())
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSSKB = ru.Maxrss
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// summarize returns the median run by wall time, with the median of each
// phase and the largest peak memory of all runs.
func summarize(ss []sample) sample {
	sorted := append([]sample(nil), ss...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].wall < sorted[j].wall })
	m := sorted[len(sorted)/2]
	out := sample{wall: m.wall, cpu: m.cpu, bytes: m.bytes, split: map[string]float64{}}
	for _, s := range ss {
		out.rssKB = max(out.rssKB, s.rssKB)
	}
	for _, p := range phases {
		var vs []float64
		for _, s := range ss {
			if v, ok := s.split[p]; ok {
				vs = append(vs, v)
			}
		}
		if len(vs) > 0 {
			sort.Float64s(vs)
			out.split[p] = vs[len(vs)/2]
		}
	}
	return out
}

func minWall(ss []sample) time.Duration {
	m := ss[0].wall
	for _, s := range ss {
		m = min(m, s.wall)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
