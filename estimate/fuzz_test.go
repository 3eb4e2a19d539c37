package estimate

import (
	"math"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// accepted reports whether the loader accepts job: Estimate trusts loaded
// jobs, so the fuzzer estimates only those.
func accepted(t *testing.T, job *catalog.TrainingJobSpec) bool {
	t.Helper()
	countries, err := catalog.BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	w := &catalog.World{
		Countries: countries,
		Organizations: map[string]*catalog.Organization{
			"o": {Metadata: catalog.Metadata{Name: "o"}, Spec: catalog.OrganizationSpec{Headquarters: "US"}},
		},
		Jobs: []*catalog.TrainingJob{{Metadata: catalog.Metadata{Name: "j"}, Spec: *job}},
	}
	w.Jobs[0].Spec.Organization = "o"
	return w.Validate(AssumptionKeys()) == nil
}

// FuzzEstimate feeds arbitrary jobs through the loader's checks to Estimate
// and MinCount: no input may panic, and every job the loader accepts gets a
// finite, non-negative estimate with an interval around it.
func FuzzEstimate(f *testing.F) {
	f.Add(7.6e9, 0.0, 2e10, 28, 3584, 4096, 64, uint8(1), uint8(0), 0.0, 16, 0.0, 0.0, 0, 0)
	f.Add(671e9, 37e9, 14.8e12, 61, 7168, 4096, 2048, uint8(0), uint8(1), 0.0, 0, 0.0, 0.0, 256, 8)
	f.Add(70e9, 0.0, 1e7, 80, 8192, 4096, 8, uint8(3), uint8(2), 0.4, 64, 0.01, 1e9, 0, 0)
	f.Add(1.0, 0.0, 1.0, 0, 0, 0, 1, uint8(2), uint8(0), 1.0, 0, 1.0, 0.0, 0, 0)
	f.Fuzz(func(t *testing.T, params, active, tokens float64, layers, hidden, seq, count int, method, prec uint8,
		mfu float64, rank int, frac, batch float64, experts, topK int) {
		methods := []string{"pretrain", "full-finetune", "lora", "qlora", "", "dpo"}
		precs := []string{"bf16", "fp8", "fp16", "", "int4"}
		job := &catalog.TrainingJobSpec{
			Model: catalog.Model{Parameters: params, ActiveParameters: active, Layers: layers, HiddenSize: hidden, SequenceLength: seq,
				Experts: experts, ExpertsPerToken: topK},
			Method: methods[int(method)%len(methods)], Tokens: tokens, Precision: precs[int(prec)%len(precs)],
			Assumptions: map[string]float64{},
		}
		if job.Method == "lora" || job.Method == "qlora" {
			job.LoRA = &catalog.LoRA{Rank: rank, TrainableFraction: frac}
		}
		if mfu != 0 {
			job.Assumptions["mfu"] = mfu
		}
		if batch != 0 {
			job.Assumptions["globalBatchTokens"] = batch
		}
		if !accepted(t, job) {
			return
		}
		acc := testChip()
		if count < 1 || count > maxCountSearch {
			count = 1 + (count&0xffff+0xffff)%4096
		}
		r, err := Estimate(Input{Job: job, Accelerator: acc, Count: count, PricePerHour: 1})
		if err != nil {
			// Only numbers too large for float64 may fail.
			if job.Model.Parameters*job.Tokens < 1e300 {
				t.Fatalf("accepted job %+v on %d: %v", job, count, err)
			}
			return
		}
		for name, x := range map[string]float64{"flops": r.FLOPs, "hours": r.Hours, "mfu": r.MFU, "goodput": r.Goodput,
			"memory": r.MemoryPerAcceleratorGB, "cost": r.CostUSD, "acceleratorHours": r.AcceleratorHours,
			"hoursLow": r.HoursLow, "hoursHigh": r.HoursHigh} {
			if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				t.Fatalf("%s = %v for %+v on %d", name, x, job, count)
			}
		}
		if !(r.HoursLow <= r.Hours && r.Hours <= r.HoursHigh) {
			t.Fatalf("interval %g–%g does not hold %g", r.HoursLow, r.HoursHigh, r.Hours)
		}
		if len(r.Assumptions) == 0 {
			t.Fatal("no assumptions")
		}
		if count < 1<<12 {
			_ = MinCount(job, acc)
		}
		_ = TrainingFLOPs(job)
	})
}

// FuzzEstimateAssumptions sets up to three spec.assumptions keys, each to
// any value, on jobs of any shape the loader accepts: every accepted job
// gets either an error or a finite, non-negative estimate no shorter than
// its linear work at every chip's full peak (a step the time model could
// not time came out as 0 s and the largest job took half an hour).
func FuzzEstimateAssumptions(f *testing.F) {
	names := KeyNames()
	key := func(name string) uint8 { return uint8(slices.Index(names, name)) }
	f.Add(1e15, 0.0, 1e16, 0, 0, 0, 0, 0, 7, uint8(0), uint8(0), key("maxEfficiency"), 1e-300, uint8(255), 0.0, uint8(255), 0.0)
	f.Add(1e15, 0.0, 1e16, 0, 0, 0, 0, 0, 64, uint8(0), uint8(0), key("scaleUpGBs"), 1e-300, uint8(255), 0.0, uint8(255), 0.0)
	f.Add(671e9, 37e9, 14.8e12, 61, 7168, 4096, 256, 8, 2048, uint8(0), uint8(1), key("scaleUpDomain"), 1e6, key("globalBatchTokens"), 1.0, key("spreadSigma"), 5.0)
	f.Add(7e9, 0.0, 1e9, 32, 4096, 0, 0, 0, 1, uint8(3), uint8(2), key("loraTrainableFraction"), 1e-300, key("goodput"), 1e-300, key("mtbfChipHours"), 1e-300)
	f.Fuzz(func(t *testing.T, params, active, tokens float64, layers, hidden, seq, experts, topK, count int, method, prec uint8,
		k1 uint8, v1 float64, k2 uint8, v2 float64, k3 uint8, v3 float64) {
		methods := []string{"pretrain", "full-finetune", "lora", "qlora"}
		precs := []string{"bf16", "fp8", "fp16", ""}
		job := &catalog.TrainingJobSpec{
			Model: catalog.Model{Parameters: params, ActiveParameters: active, Layers: layers, HiddenSize: hidden, SequenceLength: seq,
				Experts: experts, ExpertsPerToken: topK},
			Method: methods[int(method)%len(methods)], Tokens: tokens, Precision: precs[int(prec)%len(precs)],
			Assumptions: map[string]float64{},
		}
		for _, kv := range [...]struct {
			k uint8
			v float64
		}{{k1, v1}, {k2, v2}, {k3, v3}} {
			if kv.k != 255 {
				job.Assumptions[names[int(kv.k)%len(names)]] = kv.v
			}
		}
		if !accepted(t, job) {
			return
		}
		if count < 1 || count > maxCountSearch {
			count = 1 + (count&0xffff+0xffff)%4096
		}
		acc := testChip()
		in := Input{Job: job, Accelerator: acc, Count: count, PricePerHour: 1}
		var w work
		var r Result
		if err := run(&in, &w, &r); err != nil {
			if !strings.Contains(err.Error(), "spec.") {
				t.Fatalf("%+v on %d: %v names no field", job, count, err)
			}
			return
		}
		for name, x := range map[string]float64{"flops": r.FLOPs, "hours": r.Hours, "mfu": r.MFU, "goodput": r.Goodput,
			"memory": r.MemoryPerAcceleratorGB, "cost": r.CostUSD, "acceleratorHours": r.AcceleratorHours,
			"hoursLow": r.HoursLow, "hoursHigh": r.HoursHigh, "costLow": r.CostLowUSD, "costHigh": r.CostHighUSD} {
			if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				t.Fatalf("%s = %v for %+v on %d", name, x, job, count)
			}
		}
		if !(r.HoursLow <= r.Hours && r.Hours <= r.HoursHigh) || !(r.Goodput > 0 && r.Goodput <= 1) {
			t.Fatalf("interval %g–%g around %g, goodput %g", r.HoursLow, r.HoursHigh, r.Hours, r.Goodput)
		}
		peakTF, _, _ := peak(acc, job.PrecisionOrDefault())
		floor := w.fl.linear * job.Tokens / (float64(count) * peakTF * 1e12) / 3600
		if r.Hours < floor*(1-1e-9) {
			t.Fatalf("%g h for %+v on %d: its linear work alone takes %g h at full peak", r.Hours, job, count, floor)
		}
	})
}

// FuzzJobDocument writes a job's numbers as any text into a TrainingJob
// document (1e400, .nan, -.inf, 0x10, 1_000, a list…), reads it with the
// loader and estimates what it accepts: every accepted document gets a
// finite estimate or an error naming a spec field, and no number the
// loader refuses reaches the estimator as NaN, an infinity or a negative.
func FuzzJobDocument(f *testing.F) {
	f.Add("7.6e9", "0", "2e10", "28", "3584", "4096", "0", "0", "maxEfficiency", "0.5", "1h", "0.8")
	f.Add("1e15", "1e12", "1e16", "10000", "1000000", "100000000", "1000000", "1000000", "scaleUpGBs", "1e-300", "1m", "0.999")
	f.Add(".nan", "-.inf", "1e400", "-1", "0x10", "1_000", "2.5", "1e3", "mfu", "5e-324", "-1h", "1")
	f.Add("1e15", "0", "1e16", "0", "0", "0", "0", "0", "bytesPerParam", "1e-300", "999999d", ".5")
	f.Fuzz(func(t *testing.T, params, active, tokens, layers, hidden, seq, experts, topK, key, value, ckpt, conf string) {
		doc := "apiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: j}\nspec:\n  organization: o\n" +
			"  model: {parameters: " + params + ", activeParameters: " + active + ", layers: " + layers + ", hiddenSize: " + hidden +
			", sequenceLength: " + seq + ", experts: " + experts + ", expertsPerToken: " + topK + "}\n" +
			"  method: pretrain\n  tokens: " + tokens + "\n  checkpointEvery: " + ckpt + "\n  confidence: " + conf +
			"\n  assumptions: {" + key + ": " + value + "}\n"
		set, err := catalog.Decode("job.yaml", []byte(doc))
		if err != nil || len(set.Jobs) != 1 {
			return
		}
		job := &set.Jobs[0].Spec
		if !accepted(t, job) {
			return
		}
		r, err := Estimate(Input{Job: job, Accelerator: testChip(), Count: 8, PricePerHour: 2})
		if err != nil {
			if !strings.Contains(err.Error(), "spec.") {
				t.Fatalf("%s: %v names no field", doc, err)
			}
			return
		}
		for name, x := range map[string]float64{"flops": r.FLOPs, "hours": r.Hours, "cost": r.CostUSD, "hoursHigh": r.HoursHigh, "memory": r.MemoryPerAcceleratorGB} {
			if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				t.Fatalf("%s = %v for\n%s", name, x, doc)
			}
		}
		if c := job.ConfidenceOrDefault(); !(c >= catalog.MinConfidence && c <= catalog.MaxConfidence) {
			t.Fatalf("confidence %v accepted", c)
		}
		if job.CheckpointEvery < 0 {
			t.Fatalf("checkpointEvery %v accepted", job.CheckpointEvery)
		}
	})
}
