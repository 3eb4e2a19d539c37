package estimate

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

func builtinAccelerator(t testing.TB, id string) *catalog.Accelerator {
	t.Helper()
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		t.Fatal(err)
	}
	a, ok := accs[id]
	if !ok {
		t.Fatalf("built-in catalog has no accelerator %q", id)
	}
	return a
}

// TestCalibrationSet checks that the calibration set is what the estimator
// claims to be calibrated on: at least 40 runs with sources, pretraining
// and fine-tuning, dense and MoE, on A100, H100, H800, V100 and TPU, from
// 1B to 400B parameters and from 8 to 16,384 accelerators, split so that no
// family is in both halves and the halves differ by at most one family.
func TestCalibrationSet(t *testing.T) {
	runs, notPlaced, err := CalibrationRuns()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) < 40 {
		t.Errorf("%d runs, want at least 40", len(runs))
	}
	if len(notPlaced) == 0 {
		t.Error("no runs listed as not placed")
	}
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		t.Fatal(err)
	}
	chips := map[string]bool{}
	methods := map[string]bool{}
	moe := 0
	minP, maxP, minN, maxN := math.Inf(1), 0.0, math.MaxInt, 0
	for _, c := range runs {
		if accs[c.Accelerator] == nil {
			t.Errorf("%s: accelerator %s not in the catalog", c.Name, c.Accelerator)
		}
		chips[strings.SplitN(c.Accelerator, "-", 3)[1]] = true
		methods[c.Method] = true
		if c.Experts > 0 {
			moe++
		}
		minP, maxP = math.Min(minP, c.Parameters), math.Max(maxP, c.Parameters)
		minN, maxN = min(minN, c.Count), max(maxN, c.Count)
	}
	for _, chip := range []string{"a100", "h100", "h800", "v100", "tpu"} {
		if !chips[chip] {
			t.Errorf("no run on %s", chip)
		}
	}
	if !methods[catalog.MethodPretrain] || !methods[catalog.MethodFullFinetune] || moe < 4 {
		t.Errorf("methods %v, %d MoE runs: want pretraining, fine-tuning and at least 4 MoE runs", methods, moe)
	}
	if minP > 1.5e9 || maxP < 4e11 || minN > 8 || maxN < 16384 {
		t.Errorf("parameters %g–%g, counts %d–%d: want 1B–400B and 8–16,384", minP, maxP, minN, maxN)
	}
	halves := Split(runs)
	famHalf := map[string]Half{}
	var size [2]int
	largest := 0
	famSize := map[string]int{}
	for i, c := range runs {
		if h, ok := famHalf[c.Family]; ok && h != halves[i] {
			t.Errorf("family %s is in both halves", c.Family)
		}
		famHalf[c.Family] = halves[i]
		size[halves[i]]++
		famSize[c.Family]++
		largest = max(largest, famSize[c.Family])
	}
	if d := size[Fitting] - size[HeldOut]; d < -largest || d > largest {
		t.Errorf("halves of %d and %d runs", size[Fitting], size[HeldOut])
	}
	again := Split(runs)
	for i := range halves {
		if again[i] != halves[i] {
			t.Fatal("Split is not deterministic")
		}
	}
}

// The calibration figures this estimator reaches (meridian estimate
// --calibration). The goal for the held-out half is a median
// absolute error of at most 15 % and at least 70 % of reported values inside
// the 80 % interval; the fitting half should hold about 80 %, which it does
// when each of its families is predicted by a fit to the others (in-sample
// it holds more: the interval is built for runs the fit has not seen). The
// bounds below are what the model reaches, with a little room: they keep it
// from getting worse, and the held-out error bounds are above the goal
// because the model does not reach it (see the package documentation). The
// runs published after July 2025 raised the held-out error from size alone
// from 18.2 % to 20.5 % without any change to the model, hence 22 % there.
// Apertus 70B and Trinity Large, added to the fitting half when their chips
// joined the catalog, raised its in-sample error as published from 11.1 %
// to 12.8 % (Trinity Large took twice its predicted hours), hence 14 %.
// Eight runs added in December 2026 (Granite 3.0's four, StableLM-3B-4E1T,
// phi-1.5, phi-2 and JetMoE-8B: every run found that met the set's rule,
// added before any was estimated) moved families between the halves by the
// split's rule and refitted the constants. As published, the fitting half's
// in-sample error rose to 16.3 % (phi-2 took 45 % less than predicted,
// Granite 3.0 8B 45 % more), hence 17 %; the held-out error fell from
// 19.6 % to 18.5 %. From size alone the held-out error rose to 24.4 % and
// the held-out coverage fell to 69 %, below the 70 %. Five more
// (Skywork-13B, Nemotron-4 15B, Phi-3-mini as first released, Phi-3-small,
// Phi-3.5-MoE), found in a later search and added by the same rule, moved
// the Phi-3 family's first publication to April 2024 and with it, by the
// split's rule, many later families between the halves; four SEA-LION runs
// from a third search were added the same way. On those 68 runs, as
// published: 13.9 % fitting, 21.8 % held-out (hence 15 % and 23 %); from
// size alone: 13.5 % and 21.1 % (hence 15 % and 22 %), and the held-out
// coverage 85 %, above the 70 %.
var calibrationBounds = map[Inputs][2]CalibrationSummary{
	AsPublished: {
		Fitting: {MdAPE: 0.15, Coverage: 0.80},
		HeldOut: {MdAPE: 0.23, Coverage: 0.80},
	},
	SizeOnly: {
		Fitting: {MdAPE: 0.15, Coverage: 0.80},
		HeldOut: {MdAPE: 0.22, Coverage: 0.80},
	},
}

// TestCalibration estimates every published run as published and from size
// alone and holds each half to its bounds: median absolute error at most,
// coverage at least.
func TestCalibration(t *testing.T) {
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []Inputs{AsPublished, SizeOnly} {
		rep, err := Calibrate(accs, in)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s\n%s", in, reportText(rep))
		if !(rep.CrossValidated.Coverage >= 0.70 && rep.CrossValidated.Coverage <= 0.90) {
			t.Errorf("%s, fitting half cross-validated: %.0f %% inside the 80 %% interval, want about 80 %%", in, 100*rep.CrossValidated.Coverage)
		}
		for h, s := range rep.Summary {
			b := calibrationBounds[in][h]
			if s.MdAPE > b.MdAPE {
				t.Errorf("%s, %s half: median absolute error %.1f %% > %.0f %%", in, Half(h), 100*s.MdAPE, 100*b.MdAPE)
			}
			if s.Coverage < b.Coverage {
				t.Errorf("%s, %s half: %.0f %% inside the 80 %% interval < %.0f %%", in, Half(h), 100*s.Coverage, 100*b.Coverage)
			}
		}
	}
}

func reportText(rep *CalibrationReport) string {
	var b strings.Builder
	for _, row := range rep.Rows {
		in := " "
		if !row.Inside {
			in = "*"
		}
		fmt.Fprintf(&b, "%-8s %-22s %-17s %6d  pred %10.4g  rep %10.4g  %+6.1f%% %s\n", row.Half, row.Run.Name, row.Run.Accelerator, row.Run.Count,
			row.Predicted, row.Run.AcceleratorHours, 100*row.Error, in)
	}
	for h, s := range rep.Summary {
		fmt.Fprintf(&b, "%s: %d runs, MdAPE %.1f%%, bias %+.1f%%, coverage %.0f%%\n", Half(h), s.Runs, 100*s.MdAPE, 100*s.Bias, 100*s.Coverage)
	}
	return b.String()
}

// TestScaleNotFree: the example, a 7.6B fine-tune on H100, costs
// more accelerator-hours on a larger pool, because the critical batch leaves
// a larger pool less work per chip, more traffic per token and more model
// parallelism.
func TestScaleNotFree(t *testing.T) {
	job := &catalog.TrainingJobSpec{Model: catalog.Model{Parameters: 7.6e9, Layers: 28, HiddenSize: 3584, SequenceLength: 4096},
		Method: catalog.MethodFullFinetune, Tokens: 2e10, Precision: "bf16"}
	h100 := builtinAccelerator(t, "nvidia-h100-sxm")
	acc := map[int]float64{}
	for _, n := range []int{8, 64, 512, 4096} {
		r, err := Estimate(Input{Job: job, Accelerator: h100, Count: n, SkipAssumptions: true})
		if err != nil {
			t.Fatal(err)
		}
		acc[n] = r.AcceleratorHours
		t.Logf("%5d H100: %.0f accelerator-hours, MFU %.3f", n, r.AcceleratorHours, r.MFU)
	}
	if !(acc[512] > 1.2*acc[8]) {
		t.Errorf("512 H100 take %.0f accelerator-hours, 8 take %.0f: want the larger pool to cost at least 20 %% more", acc[512], acc[8])
	}
	if !(acc[64] < acc[512] && acc[512] < acc[4096]) {
		t.Errorf("accelerator-hours do not grow with the pool: %v", acc)
	}
}
