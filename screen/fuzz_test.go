package screen

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// FuzzParse feeds arbitrary bytes to the list parser and screens an
// organisation against whatever it accepts: refusing is fine, panicking
// or accepting an entry without a name or list is not.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"csl-sample.csv", "csl-sample-id.csv", "csl-sample.json"} {
		f.Add(read(f, name))
	}
	f.Add([]byte("source,name\nEntity List (EL),\"a\"\"b\"\n"))
	f.Add([]byte(`{"results":[{"source":"SDN","name":"x","entity_number":1.5e3}]}`))
	o := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN", Aliases: []string{"Example"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		for _, e := range es {
			if e.Name == "" || e.List == "" || e.ID == "" {
				t.Fatalf("accepted an entry without name, list or id: %+v", e)
			}
		}
		_ = Screen("", o, &List{Entries: es}, nil)
	})
}
