// Command planscale measures how plan time grows with the size of the
// world: it generates synthetic worlds of 4-pool sites (100, 1,000, 2,000
// and 10,000 by default), plans two jobs against each with the built-in
// rules and the real estimator, and prints the median time side by side.
// Job "cn" is a Chinese lab with personal data (law rejects most pools);
// job "us" is a US lab with public data (nearly every pool is estimated).
//
// With -whole it times what a user waits for instead: the meridian binary
// (or several, NAME=PATH,…, run in turns) planning from YAML files, process
// start to exit, with the split the binary reports and peak memory.
//
//	go run ./bench/planscale [-sites 100,1000,10000] [-runs 5] [-pools 4]
//	go run ./bench/planscale -whole before=/tmp/m-old,after=/tmp/m -sites 100,2000,10000
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

func main() {
	sitesFlag := flag.String("sites", "100,1000,2000,10000", "comma-separated world sizes in sites")
	runs := flag.Int("runs", 5, "plans per size; the median is printed")
	pools := flag.Int("pools", 4, "pools per site")
	whole := flag.String("whole", "", "time the whole command of these meridian binaries (PATH or NAME=PATH,…) instead of the planner in process")
	args := flag.String("args", "", "extra arguments for plan, with -whole")
	child := flag.Bool("child", false, "internal: run the command given as arguments and report its time and memory")
	flag.Parse()
	var err error
	switch {
	case *child:
		err = runChild(flag.Args())
	case *whole != "":
		err = runWhole(*whole, *sitesFlag, *runs, *pools, *args)
	default:
		err = run(*sitesFlag, *runs, *pools)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "planscale:", err)
		os.Exit(1)
	}
}

func run(sizes string, runs, pools int) error {
	if runs < 1 {
		return fmt.Errorf("-runs %d: want 1 or more", runs)
	}
	eng, err := policy.Builtin()
	if err != nil {
		return err
	}
	law := planner.PolicyLaw(eng)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "job\tsites\tpools\tcandidates\tfeasible\tmedian ms\tµs per site\tmedian CPU ms\t\n")
	for _, job := range synth.Jobs {
		for _, f := range strings.Split(sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-sites: %q is not a positive number", f)
			}
			w, err := synth.WorldWith(n, pools, 1, synth.JobNamed(job))
			if err != nil {
				return err
			}
			opts := planner.Options{AsOf: catalog.MustDate("2025-06-01"), Rules: law}
			var times, cpus []time.Duration
			var p *planner.Plan
			for i := 0; i < runs; i++ {
				runtime.GC()
				start, cpu0 := time.Now(), cpuTime()
				p, err = planner.Make(w, w.Jobs[0], opts)
				if err != nil {
					return err
				}
				times = append(times, time.Since(start))
				cpus = append(cpus, cpuTime()-cpu0)
			}
			med, cpu := median(times), median(cpus)
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t\n", job, n, n*pools, p.Summary.Candidates, p.Summary.Feasible,
				float64(med.Microseconds())/1000, float64(med.Microseconds())/float64(n), float64(cpu.Microseconds())/1000)
		}
	}
	fmt.Fprintf(tw, "\nGOMAXPROCS=%d; CPU is user+system time of the process (GC included), which other load on the machine does not inflate\t\t\t\t\t\t\t\n", runtime.GOMAXPROCS(0))
	return tw.Flush()
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
