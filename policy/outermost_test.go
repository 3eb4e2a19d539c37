package policy

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestOutermostRegionsAreInTheEU: the EU's outermost regions (Art. 349
// and 355(1) TFEU) are part of the EU, and personal data moving there
// from the EEA leaves neither. They were not in the built-in country
// table, so a staging to a site in Réunion was refused as a move to a
// country the table does not know, and a table that gave them as outside
// the EU would have called for a Chapter V basis. Each with a code of its
// own is now an EU member of the table: the move needs no basis.
func TestOutermostRegionsAreInTheEU(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	countries, err := catalog.BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	ds := w.datasets["eu-customers"]
	for _, iso := range []string{"GP", "GF", "MQ", "YT", "RE", "MF"} {
		q := w.query(t, "2026-07-20", "eu-lab", jobSpec{}, 0)
		q.Countries = countries
		d := e.EvaluateTransfer(q, ds, iso)
		if !d.Allowed || len(d.Denials) != 0 {
			t.Errorf("%s: personal data from %s refused: %+v", iso, ds.Spec.Origin, d.Denials)
			continue
		}
		if len(d.Transfers) != 1 || d.Transfers[0].Basis != BasisNoneRequired {
			t.Errorf("%s: transfers %+v, want one that needs no basis", iso, d.Transfers)
		}
	}
	// The same dataset to a country outside the EEA with no adequacy
	// still needs a Chapter V basis under this table.
	q := w.query(t, "2026-07-20", "eu-lab", jobSpec{}, 0)
	q.Countries = countries
	if d := e.EvaluateTransfer(q, ds, "SG"); d.Allowed || findRule(d.Denials, "eu-gdpr-ch5") == nil {
		t.Errorf("to SG: %+v, want eu-gdpr-ch5", d)
	}
}
