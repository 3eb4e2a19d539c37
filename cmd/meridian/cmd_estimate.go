package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/run"
)

func init() { register(newEstimateCmd) }

// estimateOutput is what `estimate` prints: the job and pool it answers for,
// then the estimator's Result (whose fields are SCHEMA.md's estimate output).
type estimateOutput struct {
	Job          string  `json:"job"`
	Accelerator  string  `json:"accelerator"`
	Count        int     `json:"count"`
	Site         string  `json:"site,omitempty"`
	PricePerHour float64 `json:"pricePerHour,omitempty"`
	estimate.Result
}

type estimateFlags struct {
	files       []string
	accelerator string
	count       int
	site        string
	price       float64
	job         string
	out         string
	calibration bool
}

func newEstimateCmd() *cobra.Command {
	var f estimateFlags
	cmd := &cobra.Command{
		Use:   "estimate -f FILE… --accelerator ID --count N [--site NAME | --price USD] [--job NAME] | estimate --calibration",
		Short: "Estimate FLOPs, memory, time and cost of a training job on a pool of accelerators",
		Long: `Estimate computes a training job's FLOPs, memory per accelerator (and whether
it fits), MFU, goodput, wall-clock hours, accelerator-hours and, with --site or
--price, cost, on COUNT accelerators of one kind, with the central 80 % interval
of hours and cost (hoursLow, hoursHigh, costLowUSD, costHighUSD). Every formula,
constant and fallback used is listed under "Assumptions"; a job overrides
constants through its spec.assumptions map (keys: ` + strings.Join(estimate.KeyNames(), ", ") + `).

With one TrainingJob in the files it is the one estimated; otherwise name it
with --job.

--calibration prints how the estimator does on the published runs it is
calibrated against: for each run the predicted and reported accelerator-hours,
the error and whether the reported value falls inside the 80 % interval, then
the median absolute error and the interval's coverage on the fitting half
(which the fitted constants saw) and the held-out half (which nothing saw),
estimated as published and from size alone.`,
		Example: `  meridian estimate -f examples/qwen-offshore.yaml --accelerator nvidia-h100-sxm --count 64
  meridian estimate -f job.yaml --accelerator nvidia-a100-80gb --count 256 --price 1.8 -o json
  meridian estimate -f job.yaml --accelerator nvidia-h100-sxm --count 1024 --site my-johor-1
  meridian estimate --calibration`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.files = append(f.files, args...)
			if f.calibration {
				return runCalibration(cmd.OutOrStdout(), &f)
			}
			out, err := runEstimate(&f, cmd.Flags().Changed("price"))
			if err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), f.out, out, func(w io.Writer) error { return estimateTable(w, out) })
		},
	}
	cmd.Flags().StringArrayVarP(&f.files, "file", "f", nil, "resource file or directory (repeatable; - for stdin)")
	cmd.Flags().StringVar(&f.accelerator, "accelerator", "", "accelerator id (see SCHEMA.md), e.g. nvidia-h100-sxm")
	cmd.Flags().IntVar(&f.count, "count", 0, "number of accelerators")
	cmd.Flags().StringVar(&f.site, "site", "", "site whose pool price for the accelerator sets the cost")
	cmd.Flags().Float64Var(&f.price, "price", 0, "USD per accelerator-hour (instead of --site)")
	cmd.Flags().StringVar(&f.job, "job", "", "TrainingJob name when the files hold more than one")
	cmd.Flags().BoolVar(&f.calibration, "calibration", false, "print the estimator's errors on the published calibration runs, by half")
	addOutputFlag(cmd, &f.out)
	_ = cmd.RegisterFlagCompletionFunc("accelerator", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		w, err := catalog.Builtin()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return w.AcceleratorIDs(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func runEstimate(f *estimateFlags, priceSet bool) (*estimateOutput, error) {
	if len(f.files) == 0 {
		return nil, badInput(errors.New("-f: give at least one file with a TrainingJob"))
	}
	switch f.out {
	case "table", "wide", "json", "yaml", "":
	default:
		return nil, badInput(fmt.Errorf("-o %q: want one of table, wide, json, yaml", f.out))
	}
	if f.accelerator == "" {
		return nil, badInput(errors.New("--accelerator: required (e.g. nvidia-h100-sxm)"))
	}
	if f.count < 1 {
		return nil, badInput(fmt.Errorf("--count %d: want a positive number of accelerators", f.count))
	}
	if f.site != "" && priceSet {
		return nil, badInput(errors.New("--site and --price: give one, not both"))
	}
	if priceSet && !(f.price >= 0 && f.price <= catalog.MaxPricePerHour) {
		return nil, badInput(fmt.Errorf("--price %v: want USD per accelerator-hour from 0 to %v", f.price, catalog.MaxPricePerHour))
	}
	w, err := loadWorld("", f.files...)
	if err != nil {
		return nil, badInput(err)
	}
	acc, ok := w.Accelerators[f.accelerator]
	if !ok {
		return nil, badInput(fmt.Errorf("--accelerator %q: unknown; accepted: %s", f.accelerator, strings.Join(w.AcceleratorIDs(), ", ")))
	}
	job, err := pickJob(w, f.job)
	if err != nil {
		return nil, badInput(err)
	}
	out := &estimateOutput{Job: job.Metadata.Name, Accelerator: acc.ID, Count: f.count, Site: f.site}
	price := f.price
	if f.site != "" {
		site := w.Site(f.site)
		if site == nil {
			names := make([]string, 0, len(w.Sites))
			for _, s := range w.Sites {
				names = append(names, s.Metadata.Name)
			}
			return nil, badInput(fmt.Errorf("--site %q: unknown; accepted: %s", f.site, strings.Join(names, ", ")))
		}
		found := false
		var have []string
		for _, p := range site.Spec.Pools {
			if p.Accelerator == acc.ID && !found {
				price, found = p.PricePerHour, true
			}
			have = append(have, p.Accelerator)
		}
		if !found {
			sort.Strings(have)
			return nil, badInput(fmt.Errorf("--site %q has no pool of %s; its pools: %s", f.site, acc.ID, strings.Join(have, ", ")))
		}
	}
	out.PricePerHour = price
	r, err := estimate.Estimate(estimate.Input{Job: &job.Spec, Accelerator: acc, Count: f.count, PricePerHour: price})
	if err != nil {
		return nil, badInput(fmt.Errorf("TrainingJob/%s: %w", job.Metadata.Name, err))
	}
	if _, set := job.Spec.Assumptions["pricePerHour"]; set {
		out.PricePerHour = job.Spec.Assumptions["pricePerHour"]
	}
	out.Result = r
	return out, nil
}

// pickJob picks the job of the files (run.PickJob), naming the flag that
// decides.
func pickJob(w *catalog.World, name string) (*catalog.TrainingJob, error) {
	j, err := run.PickJob(w, name)
	switch {
	case err == nil:
		return j, nil
	case name != "":
		return nil, fmt.Errorf("--job %q: %w", name, err)
	case len(w.Jobs) == 0:
		return nil, fmt.Errorf("-f: %w", err)
	}
	return nil, fmt.Errorf("--job: %w", err)
}

// estimateTable prints the estimate for people: the numbers, then the assumptions.
func estimateTable(w io.Writer, o *estimateOutput) error {
	r := &o.Result
	var b strings.Builder
	fmt.Fprintf(&b, "Estimate: TrainingJob %s on %d × %s\n\n", o.Job, o.Count, o.Accelerator)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-24s %s\n", k, v) }
	row("FLOPs", strconv.FormatFloat(r.FLOPs, 'e', 3, 64))
	row("Time", fmt.Sprintf("%s h (%s days); 80 %% interval %s–%s h", human(r.Hours), human(r.Hours/24), human(r.HoursLow), human(r.HoursHigh)))
	row("Accelerator-hours", human(r.AcceleratorHours))
	row("MFU", fmt.Sprintf("%.1f %% of dense %s peak (%s TFLOPS)", 100*r.MFU, r.MFUBasis, human(r.PeakTFLOPS)))
	row("Goodput", fmt.Sprintf("%.1f %%", 100*r.Goodput))
	fit := "fits"
	if !r.Fits {
		fit = "DOES NOT FIT"
	}
	if r.UsableMemoryGB > 0 {
		row("Memory per accelerator", fmt.Sprintf("%s GB of %s GB usable: %s", human(r.MemoryPerAcceleratorGB), human(r.UsableMemoryGB), fit))
	} else {
		row("Memory per accelerator", fmt.Sprintf("%s GB (accelerator memory unknown): %s", human(r.MemoryPerAcceleratorGB), fit))
	}
	switch {
	case o.PricePerHour > 0 && o.Site != "":
		row("Cost", fmt.Sprintf("$%s at $%s per accelerator-hour (site %s); 80 %% interval $%s–%s", human(r.CostUSD), human(o.PricePerHour), o.Site, human(r.CostLowUSD), human(r.CostHighUSD)))
	case o.PricePerHour > 0:
		row("Cost", fmt.Sprintf("$%s at $%s per accelerator-hour; 80 %% interval $%s–%s", human(r.CostUSD), human(o.PricePerHour), human(r.CostLowUSD), human(r.CostHighUSD)))
	default:
		row("Cost", "no price given (use --site or --price)")
	}
	b.WriteString("\nAssumptions:\n")
	for _, a := range r.Assumptions {
		b.WriteString("  - ")
		b.WriteString(a)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// human prints a number with about four significant digits and thousands
// separators, without exponent for everyday sizes.
func human(x float64) string {
	if x != 0 && (math.Abs(x) >= 1e15 || math.Abs(x) < 0.01) {
		return strconv.FormatFloat(x, 'e', 3, 64)
	}
	var s string
	switch ax := math.Abs(x); {
	case ax >= 1000:
		s = strconv.FormatFloat(x, 'f', 0, 64)
	case ax >= 100:
		s = strconv.FormatFloat(x, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(x, 'f', 2, 64)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var out []byte
	for i := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, intPart[i])
	}
	s = string(out)
	if hasFrac {
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}
