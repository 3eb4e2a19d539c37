package catalog

import (
	"io/fs"
	"path"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var dateComparer = cmp.Comparer(func(a, b Date) bool { return a.String() == b.String() })

// TestBuiltinDecodersAgree checks that the fast decoder used for the
// embedded files reads them exactly as the strict user-file decoder does, so
// that the built-in catalog means the same as the same YAML given with -f.
func TestBuiltinDecodersAgree(t *testing.T) {
	t.Run("accelerators", func(t *testing.T) {
		var fast, strict []*Accelerator
		if err := readEmbedded("data/accelerators.yaml", &fast); err != nil {
			t.Fatal(err)
		}
		data, _ := builtinFS.ReadFile("data/accelerators.yaml")
		if err := yaml.UnmarshalWithOptions(data, &strict, yaml.DisallowUnknownField()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(strict, fast); diff != "" {
			t.Errorf("decoders differ (-strict +fast):\n%s", diff)
		}
	})
	t.Run("countries", func(t *testing.T) {
		var fast, strict []*Country
		if err := readEmbedded("data/countries.yaml", &fast); err != nil {
			t.Fatal(err)
		}
		data, _ := builtinFS.ReadFile("data/countries.yaml")
		if err := yaml.UnmarshalWithOptions(data, &strict, yaml.DisallowUnknownField()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(strict, fast, dateComparer); diff != "" {
			t.Errorf("decoders differ (-strict +fast):\n%s", diff)
		}
	})
	entries, err := fs.ReadDir(builtinFS, "data/sites")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := path.Join("data/sites", e.Name())
		t.Run(name, func(t *testing.T) {
			data, _ := builtinFS.ReadFile(name)
			fast, err := decodeBuiltinSites(name, data)
			if err != nil {
				t.Fatal(err)
			}
			set, err := Decode(name, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(set.Sites, fast, dateComparer, cmpopts.IgnoreFields(Site{}, "Pos")); diff != "" {
				t.Errorf("decoders differ (-strict +fast):\n%s", diff)
			}
			for i := range fast {
				if fast[i].Pos.Line != set.Sites[i].Pos.Line {
					t.Errorf("%s: line %d, strict decoder says %d", fast[i].Metadata.Name, fast[i].Pos.Line, set.Sites[i].Pos.Line)
				}
			}
		})
	}
}

func TestDecodeBuiltinSitesRejects(t *testing.T) {
	cases := map[string]string{
		"unknown field": "apiVersion: meridian.dev/v1alpha1\nkind: Site\nmetadata: {name: a}\nspec: {colour: red}\n",
		"wrong kind":    "apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: a}\n",
		"wrong type":    "apiVersion: meridian.dev/v1alpha1\nkind: Site\nmetadata: {name: a}\nspec: {pools: [{count: x}]}\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeBuiltinSites("x.yaml", []byte(in)); err == nil {
				t.Error("accepted")
			}
		})
	}
}
