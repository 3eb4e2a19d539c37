package screen

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestUnknownActionKeepsConfirmation: a decision in the file with an
// action other than confirm or dismiss (a hand edit: "revoke",
// "Confirm"), recorded after a confirmation, was taken as the latest
// decision on the entry and replaced it, though it dismisses nothing: an
// organisation confirmed a listed party and renamed since screened
// clear. The decisions file is refused instead, naming the decision and
// its action: the command line's screening fails, and the screener holds
// every organisation undetermined, as for a file that cannot be read.
func TestUnknownActionKeepsConfirmation(t *testing.T) {
	for _, action := range []string{"revoke", "Confirm", "dismiss ", ""} {
		s, screen := sampleScreen(t)
		confirmed := org("exemplar", "DE", "Exemplar Lab GmbH")
		if _, err := s.Decide("acme", confirmed, "e1003", Confirm, "a.person", "same register number"); err != nil {
			t.Fatal(err)
		}
		respelt := org("exemplar", "DE", "Quartz Dynamics Research GmbH")
		if r := screen("acme", respelt); r.Status != catalog.RestrictedEntityList {
			t.Fatalf("confirmed, then respelt: %s (%s)", r.Status, r.Source)
		}
		ds, err := s.Decisions()
		if err != nil {
			t.Fatal(err)
		}
		edited := ds[0]
		edited.Action, edited.Fingerprint, edited.Reason = action, Fingerprint(respelt), "edited by hand"
		edited.Time = edited.Time.Add(1)
		b, err := json.Marshal(map[string]any{"decisions": append(ds, edited)})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.decisionsPath(), b, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := s.Screen("acme", respelt)
		if err == nil {
			t.Errorf("action %q after a confirmation: screened %s (%s), want the decisions refused", action, res[0].Status, res[0].Source)
		} else {
			for _, w := range []string{"decisions[1]", "exemplar", "e1003", `"` + action + `"`} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("action %q: the error does not say %s: %v", action, w, err)
				}
			}
		}
		scr := &Screener{Store: s}
		if sc := scr.ScreeningFor("acme", respelt); sc == nil || sc.Status != catalog.RestrictedUndetermined {
			t.Errorf("action %q after a confirmation, by the screener: %+v, want undetermined", action, sc)
		}
	}
}
