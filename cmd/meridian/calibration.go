package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
)

// calibrationOutput is what `estimate --calibration -o json` prints.
type calibrationOutput struct {
	SplitRule string               `json:"splitRule"`
	Interval  string               `json:"interval"`
	Reports   []calibrationReport  `json:"reports"`
	NotPlaced []estimate.NotPlaced `json:"notPlaced"`
}

type calibrationReport struct {
	Inputs  string                        `json:"inputs"`
	Runs    []calibrationRun              `json:"runs"`
	Summary map[string]calibrationSummary `json:"summary"` // by half: fitting, held-out
	// FittingCrossValidated is the fitting half, each family predicted by a
	// fit to the other families.
	FittingCrossValidated calibrationSummary `json:"fittingCrossValidated"`
}

type calibrationRun struct {
	Run          string  `json:"run"`
	Half         string  `json:"half"`
	Accelerator  string  `json:"accelerator"`
	Count        int     `json:"count"`
	CountAssumed bool    `json:"countAssumed"`
	Predicted    float64 `json:"predicted"`
	Low          float64 `json:"low"`
	High         float64 `json:"high"`
	Reported     float64 `json:"reported"`
	Error        float64 `json:"error"`
	Inside       bool    `json:"inside"`
	Source       string  `json:"source"`
}

type calibrationSummary struct {
	Runs     int     `json:"runs"`
	MdAPE    float64 `json:"mdape"`
	Coverage float64 `json:"coverage"`
	Bias     float64 `json:"bias"`
}

const (
	splitRule    = "families (one publication's runs) in order of publication, each whole family to the half with fewer runs so far, the fitting half on a tie"
	intervalRule = "80 % interval: a normal in ln(reported ÷ estimated) with median 0 and σ the root mean square of the fitting half's leave-one-family-out prediction errors, widened by t(k−1, 0.9)·√(1+1/k) ÷ z(0.9) for its k families"
)

func runCalibration(w io.Writer, f *estimateFlags) error {
	if len(f.files) > 0 || f.accelerator != "" || f.count != 0 || f.site != "" || f.job != "" {
		return badInput(errors.New("--calibration: takes no -f, --accelerator, --count, --site or --job"))
	}
	switch f.out {
	case "table", "wide", "json", "yaml", "":
	default:
		return badInput(fmt.Errorf("-o %q: want one of table, wide, json, yaml", f.out))
	}
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		return err
	}
	out := calibrationOutput{SplitRule: splitRule, Interval: intervalRule}
	reps, err := estimate.CalibrateAll(accs)
	if err != nil {
		return err
	}
	for _, in := range []estimate.Inputs{estimate.AsPublished, estimate.SizeOnly} {
		rep := reps[in]
		cr := calibrationReport{Inputs: in.String(), Summary: map[string]calibrationSummary{}}
		for _, row := range rep.Rows {
			cr.Runs = append(cr.Runs, calibrationRun{Run: row.Run.Name, Half: row.Half.String(), Accelerator: row.Run.Accelerator,
				Count: row.Run.Count, CountAssumed: row.Run.CountAssumed(), Predicted: round4(row.Predicted), Low: round4(row.Low),
				High: round4(row.High), Reported: row.Run.AcceleratorHours, Error: round4(row.Error), Inside: row.Inside, Source: row.Run.Source})
		}
		for h, s := range rep.Summary {
			cr.Summary[estimate.Half(h).String()] = summaryOut(s)
		}
		cr.FittingCrossValidated = summaryOut(rep.CrossValidated)
		out.Reports = append(out.Reports, cr)
		out.NotPlaced = rep.NotPlaced
	}
	return render(w, f.out, out, func(w io.Writer) error { return calibrationTable(w, &out) })
}

func summaryOut(s estimate.CalibrationSummary) calibrationSummary {
	return calibrationSummary{Runs: s.Runs, MdAPE: round4(s.MdAPE), Coverage: round4(s.Coverage), Bias: round4(s.Bias)}
}

// round4 keeps four significant digits, so that printed figures do not
// depend on the last bits of floating point.
func round4(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 4, 64), 64)
	return v
}

func calibrationTable(w io.Writer, o *calibrationOutput) error {
	var b strings.Builder
	b.WriteString("Calibration: the estimator against published training runs (accelerator-hours)\n")
	fmt.Fprintf(&b, "Split: %s.\n%s.\nCross-validated: each family of the fitting half predicted by constants fitted to the other families.\n",
		o.SplitRule, strings.ToUpper(o.Interval[:1])+o.Interval[1:])
	for _, r := range o.Reports {
		fmt.Fprintf(&b, "\nEstimated %s:\n\n", r.Inputs)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HALF\tRUN\tACCELERATORS\tPREDICTED\tREPORTED\tERROR\tINSIDE 80 %\t")
		for _, run := range r.Runs {
			count := thousandsInt(run.Count)
			if run.CountAssumed {
				count += " (assumed)"
			}
			inside := "yes"
			if !run.Inside {
				inside = "no"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s × %s\t%s\t%s\t%+.1f %%\t%s\t\n", run.Half, run.Run, run.Accelerator, count,
				human(run.Predicted), human(run.Reported), 100*run.Error, inside)
		}
		tw.Flush()
		b.WriteString("\n")
		line := func(name string, s calibrationSummary) {
			fmt.Fprintf(&b, "  %-30s %2d runs: median absolute error %4.1f %%, median error %+5.1f %%, %3.0f %% inside the 80 %% interval\n",
				name+":", s.Runs, 100*s.MdAPE, 100*s.Bias, 100*s.Coverage)
		}
		line("fitting half", r.Summary[estimate.Fitting.String()])
		line("fitting half, cross-validated", r.FittingCrossValidated)
		line("held-out half", r.Summary[estimate.HeldOut.String()])
	}
	if len(o.NotPlaced) > 0 {
		b.WriteString("\nNot placed:\n")
		for _, np := range o.NotPlaced {
			fmt.Fprintf(&b, "  %s: %s\n", np.Name, np.Reason)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// thousandsInt writes a count with separators: 16384 → "16,384".
func thousandsInt(n int) string {
	if n < 1000 {
		return strconv.Itoa(n)
	}
	return human(float64(n))
}
