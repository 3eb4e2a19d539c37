package screen

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestDecisionIsAboutOneTenantsOrganisation: a dismissal holds for the
// tenant's organisation it was made about, as it was then: not for another
// tenant's organisation of the same name, not for the same organisation
// once its names or country change. A decision from before tenants and
// fingerprints were recorded still holds for the default tenant's
// organisation of its name.
func TestDecisionIsAboutOneTenantsOrganisation(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	fuzzy := org("exemplar", "DE", "Exemplar Lab GmbH")
	status := func(tenant string, o *catalog.Organization) string {
		t.Helper()
		res, err := s.Screen(tenant, o)
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Status
	}
	if got := status("acme", fuzzy); got != catalog.RestrictedUndetermined {
		t.Fatalf("before any decision: %s", got)
	}
	if _, err := s.Decide("acme", fuzzy, "e1003", Dismiss, "a.person", "different register number"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tenant string
		o      *catalog.Organization
		want   string
	}{
		{"acme", fuzzy, catalog.RestrictedNone},
		{"zeta", fuzzy, catalog.RestrictedUndetermined},
		{"", fuzzy, catalog.RestrictedUndetermined},
		{"acme", org("exemplar", "FR", "Exemplar Lab GmbH"), catalog.RestrictedUndetermined},
		{"acme", org("exemplar", "DE", "Exemplar Lab GmbH", "Exemplar Labs"), catalog.RestrictedUndetermined},
	} {
		if got := status(c.tenant, c.o); got != c.want {
			t.Errorf("tenant %q, %+v: %s, want %s", c.tenant, c.o.Spec, got, c.want)
		}
	}
	// A decision of an older version: no tenant, no fingerprint.
	old := Decision{Org: "exemplar", EntryID: "e1003", Action: Dismiss, By: "b.person", Reason: "checked", Time: s.now()}
	b, _ := json.Marshal(map[string]any{"decisions": []Decision{old}})
	if err := os.WriteFile(s.decisionsPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := status("", fuzzy); got != catalog.RestrictedNone {
		t.Errorf("an older decision, for the default tenant's exemplar: %s", got)
	}
	if got := status("acme", fuzzy); got != catalog.RestrictedUndetermined {
		t.Errorf("an older decision, for another tenant's exemplar: %s", got)
	}
}

// TestConfirmationSurvivesRespelling: once a person confirms that a
// tenant's organisation is a listed party, respelling its legal name until
// screening finds no match, or moving it, does not clear it: the
// confirmation stands, saying the organisation changed since, until a
// person dismisses the entry for it. It cleared at once, the fingerprint
// of the confirmed organisation no longer matching. Another tenant's
// organisation of that name is not touched.
func TestConfirmationSurvivesRespelling(t *testing.T) {
	s, screen := sampleScreen(t)
	confirmed := org("exemplar", "DE", "Exemplar Lab GmbH")
	if _, err := s.Decide("acme", confirmed, "e1003", Confirm, "a.person", "same register number"); err != nil {
		t.Fatal(err)
	}
	if r := screen("acme", confirmed); r.Status != catalog.RestrictedEntityList {
		t.Fatalf("confirmed: %s (%s)", r.Status, r.Source)
	}
	respelt := org("exemplar", "DE", "Quartz Dynamics Research GmbH")
	moved := org("exemplar", "FR", "Exemplar Lab GmbH")
	for name, o := range map[string]*catalog.Organization{"respelt": respelt, "moved": moved} {
		r := screen("acme", o)
		if r.Status != catalog.RestrictedEntityList || !strings.Contains(r.Source, "confirmed by a.person") || !strings.Contains(r.Source, "changed since") {
			t.Errorf("%s after the confirmation: %s (%s), want entity-list by the confirmation, saying the organisation changed", name, r.Status, r.Source)
		}
	}
	if r := screen("zeta", respelt); r.Status != catalog.RestrictedNone {
		t.Errorf("another tenant's organisation of that name: %s (%s)", r.Status, r.Source)
	}
	if _, err := s.Decide("acme", respelt, "e1003", Dismiss, "b.person", "renamed after a sale; not the listed party now"); err != nil {
		t.Fatal(err)
	}
	if r := screen("acme", respelt); r.Status != catalog.RestrictedNone {
		t.Errorf("after a person dismissed the entry: %s (%s)", r.Status, r.Source)
	}
}

// TestConfirmationStandsForTheTenantsOtherOrganisations: a tenant whose
// organisation was confirmed a listed party registers another
// organisation, respelt, and runs its jobs under that one: it came out
// clear. A confirmation now stands for each of a server tenant's
// organisations until a person dismisses the entry for that one; another
// tenant's, and the default tenant's unrelated organisations, are not
// touched.
func TestConfirmationStandsForTheTenantsOtherOrganisations(t *testing.T) {
	s, screen := sampleScreen(t)
	confirmed := org("exemplar", "DE", "Exemplar Lab GmbH")
	other := org("exemplar-group", "DE", "Quartz Dynamics Research GmbH")
	for _, tenant := range []string{"acme", ""} {
		if _, err := s.Decide(tenant, confirmed, "e1003", Confirm, "a.person", "same register number"); err != nil {
			t.Fatal(err)
		}
	}
	if r := screen("acme", other); r.Status != catalog.RestrictedEntityList || !strings.Contains(r.Source, "confirmed for the tenant's organisation exemplar") {
		t.Errorf("the tenant's other organisation: %s (%s), want entity-list by the confirmation, naming the organisation it was made for", r.Status, r.Source)
	}
	if r := screen("zeta", other); r.Status != catalog.RestrictedNone {
		t.Errorf("another tenant's organisation: %s (%s)", r.Status, r.Source)
	}
	if r := screen("", other); r.Status != catalog.RestrictedNone {
		t.Errorf("the default tenant's other organisation: %s (%s)", r.Status, r.Source)
	}
	if _, err := s.Decide("acme", other, "e1003", Dismiss, "b.person", "a different company"); err != nil {
		t.Fatal(err)
	}
	if r := screen("acme", other); r.Status != catalog.RestrictedNone {
		t.Errorf("after a person dismissed the entry for it: %s (%s)", r.Status, r.Source)
	}
	if r := screen("acme", confirmed); r.Status != catalog.RestrictedEntityList {
		t.Errorf("the confirmed organisation after another's dismissal: %s (%s)", r.Status, r.Source)
	}
}

// sampleScreen is a store holding the sample list, and a screening of one
// organisation against it for a tenant.
func sampleScreen(t *testing.T) (*Store, func(tenant string, o *catalog.Organization) Result) {
	t.Helper()
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	return s, func(tenant string, o *catalog.Organization) Result {
		t.Helper()
		res, err := s.Screen(tenant, o)
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
}
