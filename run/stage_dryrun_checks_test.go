package run

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/transfer"
)

// TestStageDatasetDryRunMakesTheStagingsChecks: a dry run asked the law
// and answered, skipping the staging's own checks: of a dataset with no
// spec.store, or one whose store is not among the home stores this server
// reads (--dataset-stores; one registered before the scope narrowed), it
// answered "would be allowed" where the staging is refused. It now makes
// them first, and is refused as the staging is, today or asked about
// another date.
func TestStageDatasetDryRunMakesTheStagingsChecks(t *testing.T) {
	e, _ := newDataEnv(t, transfer.BasisLaw{})
	ctx := context.Background()
	foreign := "file://" + filepath.Join(t.TempDir(), "not-a-home-store")
	registerPastApply(t, e, &catalog.Dataset{APIVersion: catalog.APIVersion, Kind: catalog.KindDataset, Metadata: catalog.Metadata{Name: "legacy"},
		Spec: catalog.DatasetSpec{Origin: "SG", Classification: catalog.ClassPublic, SizeBytes: 1e5, Store: foreign}})
	declared := "apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: declared}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5}\n"
	if _, err := e.c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: declared}}, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, field, want string }{
		{"legacy", "spec.store", "not among the home stores"},
		{"declared", "dataset", "has no spec.store"},
	} {
		for _, asOf := range []string{"", "2026-01-05"} {
			req := StageRequest{Site: "alpha", DryRun: true, AsOf: asOf}
			res, err := e.c.StageDataset(ctx, "t1", tc.name, req)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tc.field || !strings.Contains(ie.Error(), tc.want) {
				t.Errorf("dry run of %s (asOf %q): %+v %v, want it refused as the staging is: %s %q", tc.name, asOf, res, err, tc.field, tc.want)
			}
			req.DryRun, req.AsOf = false, ""
			if _, err := e.c.StageDataset(ctx, "t1", tc.name, req); !errors.As(err, &ie) || ie.Field != tc.field {
				t.Errorf("staging %s: %v, want the same refusal", tc.name, err)
			}
		}
	}
}

// TestStagingDecisionDryRunPinsTheLaw: StagingDecision copied the
// staging's judging without its pinning of the law (Pinner): a dry run
// judged each day by whatever revision the law held when asked, the
// staging by the revision in force as it began, one for every day. It is
// now the staging's own judging (transfer.Judged): a law whose pinned
// revision refuses is refused, today and on another date alike.
func TestStagingDecisionDryRunPinsTheLaw(t *testing.T) {
	ds := &catalog.Dataset{APIVersion: catalog.APIVersion, Kind: catalog.KindDataset, Metadata: catalog.Metadata{Name: "people"},
		Spec: catalog.DatasetSpec{Origin: "SG", Classification: catalog.ClassPublic, SizeBytes: 1e5}}
	site := &catalog.Site{Metadata: catalog.Metadata{Name: "alpha"}, Spec: catalog.SiteSpec{Country: "MY"}}
	law := pinningLaw{pinned: refusingLaw{}}
	day := catalog.MustDate("2026-06-10")
	for _, now := range []time.Time{{}, time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC)} {
		dec, _, err := StagingDecision(law, policy.Query{AsOf: day}, ds, site, now)
		if err != nil || dec.Allowed || len(dec.Denials) == 0 || dec.Denials[0].Rule != "pinned-revision" {
			t.Errorf("now %v: %+v %v, want it refused by the pinned revision", now, dec, err)
		}
	}
}

// pinningLaw allows whatever it is asked, but pins to another law.
type pinningLaw struct{ pinned transfer.Law }

func (pinningLaw) EvaluateTransfer(policy.Query, *catalog.Dataset, string) policy.Decision {
	return policy.Decision{Allowed: true}
}
func (l pinningLaw) Pin() transfer.Law { return l.pinned }

// refusingLaw refuses every transfer.
type refusingLaw struct{}

func (refusingLaw) EvaluateTransfer(policy.Query, *catalog.Dataset, string) policy.Decision {
	return policy.Decision{Denials: []policy.Finding{{Rule: "pinned-revision", Message: "the revision in force refuses"}}}
}
