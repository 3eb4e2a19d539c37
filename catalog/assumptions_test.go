package catalog

import (
	"errors"
	"strings"
	"testing"
)

// testKeys stand for the keys a reader (the estimator, the planner) passes
// to the loader.
var testKeys = AssumptionKeys{
	{Name: "testKnobA", Doc: "a test knob, 0–1", Min: 0, Max: 1, MinOpen: true},
	{Name: "testKnobB", Doc: "a second test knob", Min: 0, Max: 100},
}

func TestMergeAssumptionKeys(t *testing.T) {
	other := AssumptionKeys{{Name: "aKnob", Doc: "another reader's", Min: 1, Max: 2}, testKeys[0]}
	got, err := MergeAssumptionKeys(testKeys, other)
	if err != nil {
		t.Fatal(err)
	}
	if names := strings.Join(got.Names(), ","); names != "aKnob,testKnobA,testKnobB" {
		t.Errorf("merged names %s", names)
	}
	if k, ok := got.Lookup("testKnobB"); !ok || k.Doc != "a second test knob" {
		t.Errorf("Lookup(testKnobB) = %+v, %v", k, ok)
	}
	if _, ok := got.Lookup("neverListed"); ok {
		t.Error("a key nobody listed was found")
	}
	for _, c := range []struct {
		name string
		keys AssumptionKeys
	}{
		{"different meaning", AssumptionKeys{{Name: "testKnobA", Doc: "something else", Max: 1}}},
		{"different range", AssumptionKeys{{Name: "testKnobA", Doc: "a test knob, 0–1", Max: 2}}},
		{"empty name", AssumptionKeys{{Doc: "x"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := MergeAssumptionKeys(testKeys, c.keys); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestAssumptionKeyRange(t *testing.T) {
	k := testKeys[0]
	for _, c := range []struct {
		x    float64
		want bool
	}{{0, false}, {0.5, true}, {1, true}, {1.5, false}, {-1, false}} {
		if got := k.Accepts(c.x); got != c.want {
			t.Errorf("Accepts(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if r := k.Range(); r != "(0, 1]" {
		t.Errorf("Range = %s", r)
	}
}

func TestUnknownAssumptionKey(t *testing.T) {
	// A listed key loads.
	if _, err := loadEdited(t, "  tokens: 1e9\n", "  tokens: 1e9\n  assumptions: {testKnobA: 0.5}\n"); err != nil {
		t.Fatalf("listed key rejected: %v", err)
	}
	// An unknown key is an error at its line naming the field and the accepted keys.
	path, err := loadEdited(t, "  tokens: 1e9\n", "  tokens: 1e9\n  assumptions:\n    testKnobA: 0.5\n    speed: 2\n")
	fe := fieldError(t, err, "spec.assumptions.speed")
	want := path + ":43: TrainingJob/job: spec.assumptions.speed: \"speed\" is not a known assumption key (accepted: testKnobA, testKnobB)"
	if got := fe.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// A listed key out of its range says the range and what the key means.
	_, err = loadEdited(t, "  tokens: 1e9\n", "  tokens: 1e9\n  assumptions: {testKnobA: 0}\n")
	fe = fieldError(t, err, "spec.assumptions.testKnobA")
	if !strings.Contains(fe.Msg, "outside (0, 1]") || !strings.Contains(fe.Msg, "a test knob") {
		t.Errorf("message %q does not give the range and meaning", fe.Msg)
	}
}

// fieldError returns the error about field in err, failing when there is none.
func fieldError(t *testing.T, err error, field string) *FieldError {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v, want catalog.Errors", err)
	}
	for _, e := range es {
		if e.Field == field {
			return e
		}
	}
	t.Fatalf("no error for %s in:\n%v", field, err)
	return nil
}

// TestExpertsAndConfidence checks the MoE fields and spec.confidence: each
// bad value is an error naming its field, and good values load.
func TestExpertsAndConfidence(t *testing.T) {
	const from = "  model: {parameters: 7e9}\n"
	good := []string{
		"  model: {parameters: 47e9, activeParameters: 13e9, experts: 8, expertsPerToken: 2}\n",
		"  model: {parameters: 7e9}\n  confidence: 0.95\n",
		"  model: {parameters: 7e9}\n  confidence: 0.5\n",
	}
	for _, to := range good {
		if _, err := loadEdited(t, from, to); err != nil {
			t.Errorf("%q rejected: %v", to, err)
		}
	}
	bad := []struct{ to, field, msg string }{
		{"  model: {parameters: 47e9, activeParameters: 13e9, experts: 8}\n", "spec.model.expertsPerToken", "required with spec.model.experts"},
		{"  model: {parameters: 47e9, activeParameters: 13e9, expertsPerToken: 2}\n", "spec.model.expertsPerToken", "without spec.model.experts"},
		{"  model: {parameters: 47e9, activeParameters: 13e9, experts: 8, expertsPerToken: 9}\n", "spec.model.expertsPerToken", "more than experts"},
		{"  model: {parameters: 47e9, activeParameters: 13e9, experts: 1, expertsPerToken: 1}\n", "spec.model.experts", "at least 2"},
		{"  model: {parameters: 47e9, experts: 8, expertsPerToken: 2}\n", "spec.model.activeParameters", "required with spec.model.experts"},
		{"  model: {parameters: 47e9, activeParameters: 13e9, experts: -8, expertsPerToken: 2}\n", "spec.model.experts", "below 0"},
		{"  model: {parameters: 7e9}\n  confidence: 0.4\n", "spec.confidence", "below 0.5"},
		{"  model: {parameters: 7e9}\n  confidence: 1\n", "spec.confidence", "above 0.999"},
		{"  model: {parameters: 7e9}\n  confidence: .nan\n", "spec.confidence", "not a number"},
	}
	for _, c := range bad {
		t.Run(c.field+" "+c.msg, func(t *testing.T) {
			_, err := loadEdited(t, from, c.to)
			fe := fieldError(t, err, c.field)
			if !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("message %q, want it to contain %q", fe.Msg, c.msg)
			}
		})
	}
}

// A denormal value (nonzero, below about 2.2e-308) is refused when the job
// is loaded, naming the field, whether the key's range is open at 0 or
// closed there. Accepted, a linkEfficiency of 5e-324 loaded and made every
// data move take +Inf hours, refused only when a plan judged it.
func TestDenormalAssumptionRefused(t *testing.T) {
	for _, c := range []struct{ key, val string }{
		{"testKnobA", "5e-324"},
		{"testKnobA", "2.2e-308"},
		{"testKnobB", "1e-310"},
	} {
		t.Run(c.key+"="+c.val, func(t *testing.T) {
			_, err := loadEdited(t, "  tokens: 1e9\n", "  tokens: 1e9\n  assumptions: {"+c.key+": "+c.val+"}\n")
			fe := fieldError(t, err, "spec.assumptions."+c.key)
			if !strings.Contains(fe.Msg, "denormal") {
				t.Errorf("message %q does not say the number is denormal", fe.Msg)
			}
		})
	}
	// The least normal number, and 0 where the range is closed, still load.
	for _, a := range []string{"{testKnobA: 2.2250738585072014e-308}", "{testKnobB: 0}", "{testKnobB: 2.3e-308}"} {
		if _, err := loadEdited(t, "  tokens: 1e9\n", "  tokens: 1e9\n  assumptions: "+a+"\n"); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
	k := testKeys[1]
	for _, x := range []float64{5e-324, -5e-324, 1e-310} {
		if k.Accepts(x) {
			t.Errorf("Accepts(%g) on %s", x, k.Range())
		}
	}
}
