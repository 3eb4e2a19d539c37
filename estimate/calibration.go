package estimate

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"sort"

	"go.yaml.in/yaml/v3"

	"meridian.dev/meridian/catalog"
)

// The published runs the estimator is fitted to and checked against; see the
// file's header for what each field means and where each number comes from.
//
//go:embed calibration/runs.yaml
var calibrationYAML []byte

// CalibrationRun is one published training run.
type CalibrationRun struct {
	Name             string  `yaml:"name"`
	Family           string  `yaml:"family"`
	Published        string  `yaml:"published"`
	Method           string  `yaml:"method"`
	Parameters       float64 `yaml:"parameters"`
	ActiveParameters float64 `yaml:"activeParameters"`
	Experts          int     `yaml:"experts"`
	ExpertsPerToken  int     `yaml:"expertsPerToken"`
	Layers           int     `yaml:"layers"`
	HiddenSize       int     `yaml:"hiddenSize"`
	SequenceLength   int     `yaml:"sequenceLength"`
	Tokens           float64 `yaml:"tokens"`
	Precision        string  `yaml:"precision"`
	Accelerator      string  `yaml:"accelerator"`
	Count            int     `yaml:"count"`
	CountSource      string  `yaml:"countSource"`
	AcceleratorHours float64 `yaml:"acceleratorHours"`
	HoursSource      string  `yaml:"hoursSource"`
	Source           string  `yaml:"source"`
	Note             string  `yaml:"note"`
}

// CountAssumed reports whether the run's accelerator count was not published.
func (c *CalibrationRun) CountAssumed() bool {
	return len(c.CountSource) >= 7 && c.CountSource[:7] == "assumed"
}

// NotPlaced is a run that was considered and left out, with why.
type NotPlaced struct {
	Name   string `yaml:"name"`
	Reason string `yaml:"reason"`
}

type calibrationFile struct {
	Runs      []CalibrationRun `yaml:"runs"`
	NotPlaced []NotPlaced      `yaml:"notPlaced"`
}

// CalibrationRuns returns the published runs, checked, and the runs that
// could not be placed.
func CalibrationRuns() ([]CalibrationRun, []NotPlaced, error) {
	dec := yaml.NewDecoder(bytes.NewReader(calibrationYAML))
	dec.KnownFields(true)
	var f calibrationFile
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("calibration/runs.yaml: %w", err)
	}
	seen := map[string]bool{}
	for i := range f.Runs {
		c := &f.Runs[i]
		if err := c.check(); err != nil {
			return nil, nil, fmt.Errorf("calibration/runs.yaml: run %d (%s): %w", i, c.Name, err)
		}
		if seen[c.Name] {
			return nil, nil, fmt.Errorf("calibration/runs.yaml: run %q appears twice", c.Name)
		}
		seen[c.Name] = true
	}
	return f.Runs, f.NotPlaced, nil
}

func (c *CalibrationRun) check() error {
	switch {
	case c.Name == "" || c.Family == "":
		return fmt.Errorf("name and family are required")
	case len(c.Published) != 10:
		return fmt.Errorf("published %q: want YYYY-MM-DD", c.Published)
	case c.Method != catalog.MethodPretrain && c.Method != catalog.MethodFullFinetune:
		return fmt.Errorf("method %q: want pretrain or full-finetune", c.Method)
	case !(c.Parameters >= 1e9) || c.ActiveParameters < 0 || c.ActiveParameters > c.Parameters:
		return fmt.Errorf("parameters %g, activeParameters %g", c.Parameters, c.ActiveParameters)
	case (c.Experts > 0) != (c.ExpertsPerToken > 0) || (c.Experts > 0) != (c.ActiveParameters > 0):
		return fmt.Errorf("experts, expertsPerToken and activeParameters go together")
	case c.Layers <= 0 || c.HiddenSize <= 0 || c.SequenceLength <= 0:
		return fmt.Errorf("layers, hiddenSize and sequenceLength are required")
	case !(c.Tokens > 0) || c.Count < 1 || !(c.AcceleratorHours > 0):
		return fmt.Errorf("tokens, count and acceleratorHours must be positive")
	case c.Precision != "bf16" && c.Precision != "fp16" && c.Precision != "fp8":
		return fmt.Errorf("precision %q", c.Precision)
	case c.CountSource == "" || c.HoursSource == "" || c.Source == "":
		return fmt.Errorf("countSource, hoursSource and source are required")
	}
	return nil
}

// Half is one of the two halves the calibration runs are split into.
type Half int

// The halves.
const (
	Fitting Half = iota // constants in fitted.go are fitted to these runs only
	HeldOut             // never used to fit anything
)

func (h Half) String() string {
	if h == Fitting {
		return "fitting"
	}
	return "held-out"
}

// Split assigns each run to a half by a rule fixed before any fit: families
// (a publication's runs share a paper, cluster and team, so splitting them
// would leak) are taken in order of publication (ties by name), and each
// whole family goes to the half with fewer runs so far, the fitting half on
// a tie. Both halves thus span every year of the set.
func Split(runs []CalibrationRun) []Half {
	type family struct {
		name, first string
		n           int
	}
	byName := map[string]*family{}
	var fams []*family
	for _, c := range runs {
		f := byName[c.Family]
		if f == nil {
			f = &family{name: c.Family, first: c.Published}
			byName[c.Family] = f
			fams = append(fams, f)
		}
		f.n++
		if c.Published < f.first {
			f.first = c.Published
		}
	}
	sort.Slice(fams, func(i, j int) bool {
		if fams[i].first != fams[j].first {
			return fams[i].first < fams[j].first
		}
		return fams[i].name < fams[j].name
	})
	half := map[string]Half{}
	var size [2]int
	for _, f := range fams {
		h := Fitting
		if size[HeldOut] < size[Fitting] {
			h = HeldOut
		}
		half[f.name] = h
		size[h] += f.n
	}
	out := make([]Half, len(runs))
	for i, c := range runs {
		out[i] = half[c.Family]
	}
	return out
}

// Inputs says what of a run the estimator is told.
type Inputs int

// The two ways a run is estimated.
const (
	// AsPublished gives everything the run's authors published: size,
	// active parameters, experts, layers, hidden size, sequence length,
	// precision, tokens, chip and count.
	AsPublished Inputs = iota
	// SizeOnly leaves out the shape (layers, hidden size, sequence length),
	// as a user who knows only size, tokens, chip and count would.
	SizeOnly
)

func (in Inputs) String() string {
	if in == AsPublished {
		return "as published"
	}
	return "size only"
}

// Job returns the TrainingJobSpec a user would write for the run.
func (c *CalibrationRun) Job(in Inputs) *catalog.TrainingJobSpec {
	j := &catalog.TrainingJobSpec{
		Model: catalog.Model{Parameters: c.Parameters, ActiveParameters: c.ActiveParameters,
			Experts: c.Experts, ExpertsPerToken: c.ExpertsPerToken},
		Method: c.Method, Tokens: c.Tokens, Precision: c.Precision,
	}
	if in == AsPublished {
		j.Model.Layers, j.Model.HiddenSize, j.Model.SequenceLength = c.Layers, c.HiddenSize, c.SequenceLength
	}
	return j
}

// CalibrationRow is one run estimated.
type CalibrationRow struct {
	Run       *CalibrationRun
	Half      Half
	Predicted float64 // accelerator-hours
	Low, High float64 // the central 80 % interval
	// Error is predicted ÷ reported − 1.
	Error  float64
	Inside bool
}

// CalibrationSummary is one half's figures.
type CalibrationSummary struct {
	Runs     int
	MdAPE    float64 // median |Error|
	Coverage float64 // share of reported values inside the 80 % interval
	Bias     float64 // median Error
}

// CalibrationReport is every run estimated one way, and each half's figures.
type CalibrationReport struct {
	Inputs  Inputs
	Rows    []CalibrationRow
	Summary [2]CalibrationSummary // by Half
	// CrossValidated is the fitting half with each family predicted by
	// constants fitted to the other families: what the fitting half says
	// about runs the fit has not seen, and what the interval is built from.
	CrossValidated CalibrationSummary
	NotPlaced      []NotPlaced
}

// Calibrate estimates every calibration run with the given inputs on the
// accelerators of accs (the built-in catalog's) and summarises each half.
func Calibrate(accs map[string]*catalog.Accelerator, in Inputs) (*CalibrationReport, error) {
	reps, err := CalibrateAll(accs)
	if err != nil {
		return nil, err
	}
	return reps[in], nil
}

// CalibrateAll is Calibrate for both ways of estimating (indexed by
// Inputs), with one cross-validation for both: each of its fits estimates
// every run both ways.
func CalibrateAll(accs map[string]*catalog.Accelerator) ([2]*CalibrationReport, error) {
	var reps [2]*CalibrationReport
	runs, np, err := CalibrationRuns()
	if err != nil {
		return reps, err
	}
	halves := Split(runs)
	var fitting []CalibrationRun
	for i, h := range halves {
		if h == Fitting {
			fitting = append(fitting, runs[i])
		}
	}
	cv, err := crossValidate(accs, fitting)
	if err != nil {
		return reps, err
	}
	for _, in := range []Inputs{AsPublished, SizeOnly} {
		rep, err := calibrate(runs, halves, accs, in, nil, nil)
		if err != nil {
			return reps, err
		}
		rep.NotPlaced = np
		rep.CrossValidated = summarise(cv[in])
		reps[in] = rep
	}
	return reps, nil
}

// calibrate is Calibrate over given runs, halves and extra assumptions (the
// fitter's trial constants), with the fitter's trial run terms (nil: none).
func calibrate(runs []CalibrationRun, halves []Half, accs map[string]*catalog.Accelerator, in Inputs, extra map[string]float64, terms *runTerms) (*CalibrationReport, error) {
	rep := &CalibrationReport{Inputs: in}
	// The trial constants are the same for every run: checked once here,
	// not once per run's estimate (a fit estimates each run thousands of
	// times).
	if err := checkAssumptions(extra); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	for i := range runs {
		c := &runs[i]
		acc := accs[c.Accelerator]
		if acc == nil {
			return nil, fmt.Errorf("calibration run %s: accelerator %q is not in the catalog", c.Name, c.Accelerator)
		}
		job := c.Job(in)
		job.Assumptions = extra
		r, err := Estimate(Input{Job: job, Accelerator: acc, Count: c.Count, SkipAssumptions: true, assumptionsChecked: true, terms: terms})
		if err != nil {
			return nil, fmt.Errorf("calibration run %s: %w", c.Name, err)
		}
		n := float64(c.Count)
		row := CalibrationRow{Run: c, Half: halves[i], Predicted: r.AcceleratorHours, Low: r.HoursLow * n, High: r.HoursHigh * n}
		row.Error = row.Predicted/c.AcceleratorHours - 1
		row.Inside = c.AcceleratorHours >= row.Low && c.AcceleratorHours <= row.High
		rep.Rows = append(rep.Rows, row)
	}
	for h := range rep.Summary {
		var rows []CalibrationRow
		for _, row := range rep.Rows {
			if row.Half == Half(h) {
				rows = append(rows, row)
			}
		}
		rep.Summary[h] = summarise(rows)
	}
	return rep, nil
}

// summarise gives rows' count, median absolute and median error, and coverage.
func summarise(rows []CalibrationRow) CalibrationSummary {
	var s CalibrationSummary
	var ape, errs []float64
	inside := 0
	for _, row := range rows {
		ape = append(ape, math.Abs(row.Error))
		errs = append(errs, row.Error)
		if row.Inside {
			inside++
		}
	}
	s.Runs = len(rows)
	if s.Runs > 0 {
		s.MdAPE, s.Bias = median(ape), median(errs)
		s.Coverage = float64(inside) / float64(s.Runs)
	}
	return s
}

// median returns the median of xs (NaN when empty); xs is not changed.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// quantile returns the q-quantile of xs by linear interpolation between
// order statistics (Hyndman and Fan's type 7, the default of R and NumPy).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	if int(lo)+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[int(lo)] + (h-lo)*(s[int(lo)+1]-s[int(lo)])
}
