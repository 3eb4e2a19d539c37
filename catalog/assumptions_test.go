package catalog

import (
	"errors"
	"sort"
	"strings"
	"testing"
)

func init() {
	// Readers register their keys from init(); these stand for them here.
	RegisterAssumption("testKnobB", "a second test knob")
	RegisterAssumption("testKnobA", "a test knob")
}

func TestAssumptionKeysSorted(t *testing.T) {
	keys := AssumptionKeys()
	if !sort.StringsAreSorted(keys) {
		t.Errorf("AssumptionKeys not sorted: %v", keys)
	}
	for _, k := range []string{"testKnobA", "testKnobB"} {
		if d, ok := AssumptionDoc(k); !ok || d == "" {
			t.Errorf("registered key %s: doc %q, registered %v", k, d, ok)
		}
	}
	if _, ok := AssumptionDoc("neverRegistered"); ok {
		t.Error("an unregistered key is reported as registered")
	}
}

func TestRegisterAssumptionConflict(t *testing.T) {
	RegisterAssumption("testKnobA", "a test knob") // same meaning again: fine
	for _, c := range []struct{ name, key, doc string }{
		{"different meaning", "testKnobA", "something else"},
		{"empty key", "", "x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			RegisterAssumption(c.key, c.doc)
		})
	}
}

func TestUnknownAssumptionKey(t *testing.T) {
	// A registered key loads.
	if _, err := loadEdited(t, "  tokens: 1e9\n", "  tokens: 1e9\n  assumptions: {testKnobA: 0.5}\n"); err != nil {
		t.Fatalf("registered key rejected: %v", err)
	}
	// An unknown key is an error at its line naming the field and the accepted keys.
	path, err := loadEdited(t, "  tokens: 1e9\n", "  tokens: 1e9\n  assumptions:\n    testKnobA: 0.5\n    speed: 2\n")
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v, want catalog.Errors", err)
	}
	var fe *FieldError
	for _, e := range es {
		if e.Field == "spec.assumptions.speed" {
			fe = e
		}
		if e.Field == "spec.assumptions.testKnobA" {
			t.Errorf("registered key reported: %v", e)
		}
	}
	if fe == nil {
		t.Fatalf("no error for spec.assumptions.speed in:\n%v", err)
	}
	want := path + ":43: TrainingJob/job: spec.assumptions.speed: \"speed\" is not a known assumption key (accepted: " + strings.Join(AssumptionKeys(), ", ") + ")"
	if got := fe.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
