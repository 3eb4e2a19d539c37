package planner

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// TestWriteJSONIsEncodingJSON: Plan.WriteJSON writes what encoding/json
// writes, byte for byte, for the golden plans (with and without an
// explanation), a 2,000-site plan, and plans with nil and empty lists and
// strings that need escaping.
func TestWriteJSONIsEncodingJSON(t *testing.T) {
	law := builtinLaw(t)
	var plans []*Plan
	for _, tc := range goldenCases {
		w, err := catalog.Load(AssumptionKeys(), "testdata/world/sites", tc.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, explain := range []string{"", tc.explain} {
			p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate(tc.asOf), Rules: law, Explain: explain})
			if err != nil {
				t.Fatal(err)
			}
			plans = append(plans, p)
		}
	}
	w, err := synth.WorldWith(2000, 4, 1, synth.JobNamed("cn"))
	if err != nil {
		t.Fatal(err)
	}
	big, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2025-06-01"), Rules: law})
	if err != nil {
		t.Fatal(err)
	}
	plans = append(plans, big, &Plan{}, &Plan{Rejected: []Rejection{}},
		&Plan{Job: "a<b>&\"c\"\u2028", Rejected: []Rejection{{Site: "s\t1", Country: "é", Kind: KindLaw, Resolution: Unresolvable,
			Reasons: []policy.Finding{{Rule: "r", Message: "<script>", Source: "\x01"}}}, {Site: "s", Resolution: 0}}})
	for i, p := range plans {
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(p); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			n := 0
			for n < min(got.Len(), want.Len()) && got.Bytes()[n] == want.Bytes()[n] {
				n++
			}
			t.Fatalf("plan %d (%s): differs at byte %d: got …%.80s…, want …%.80s…", i, p.Job, n, got.Bytes()[n:], want.Bytes()[n:])
		}
	}
}

// TestWriteJSONKnowsRejection: WriteJSON writes Rejection's fields by hand;
// a field added to it must be added there too.
func TestWriteJSONKnowsRejection(t *testing.T) {
	var names []string
	rt := reflect.TypeOf(Rejection{})
	for i := 0; i < rt.NumField(); i++ {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	if want := []string{"site", "country", "accelerator", "kind", "reasons", "resolution", "candidates"}; !slices.Equal(names, want) {
		t.Fatalf("Rejection's JSON fields are %v; planEncoder.rejected writes %v", names, want)
	}
}

func BenchmarkWriteJSON(b *testing.B) {
	w, err := synth.WorldWith(2000, 4, 1, synth.JobNamed("cn"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := Make(w, w.Jobs[0], Options{AsOf: catalog.MustDate("2025-06-01"), Rules: builtinLaw(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.NewEncoder(discard{}).Encode(p)
		}
	})
	b.Run("WriteJSON", func(b *testing.B) {
		for b.Loop() {
			p.WriteJSON(discard{})
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
