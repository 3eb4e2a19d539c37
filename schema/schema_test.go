package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// TestSchemasInSync regenerates every schema and fails when a checked-in
// file differs: run `go generate ./schema` after changing a resource type.
func TestSchemasInSync(t *testing.T) {
	for kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			want, err := Generate(kind, "../catalog")
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(FileName(kind))
			if err != nil {
				t.Fatalf("%v (run go generate ./schema)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s is stale; run go generate ./schema (-generated +checked-in):\n%s", FileName(kind), diff)
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate(catalog.KindTrainingJob, "../catalog")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(catalog.KindTrainingJob, "../catalog")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two generations differ")
	}
	if _, err := Generate("Plan", ""); err == nil {
		t.Error("unknown kind accepted")
	}
}

// compile loads the checked-in schemas.
func compile(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for kind := range Kinds {
		f, err := os.Open(FileName(kind))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(BaseURL+FileName(kind), doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(BaseURL + FileName(kind))
		if err != nil {
			t.Fatalf("compile %s: %v", kind, err)
		}
		out[kind] = s
	}
	return out
}

// docs splits a YAML file into JSON-shaped documents.
func docs(t *testing.T, data []byte) []any {
	t.Helper()
	var out []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if strings.Contains(err.Error(), "EOF") {
				break
			}
			t.Fatal(err)
		}
		if v == nil {
			continue
		}
		// Round-trip through JSON so that numbers and maps have the shapes
		// the validator expects.
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, doc)
	}
	return out
}

func kindOf(doc any) string {
	m, _ := doc.(map[string]any)
	k, _ := m["kind"].(string)
	return k
}

// TestExamplesValidate checks the contract's examples and every built-in
// site file against the schemas, and that the loader accepts them too.
func TestExamplesValidate(t *testing.T) {
	schemas := compile(t)
	files := []string{filepath.Join("testdata", "valid.yaml")}
	builtin, err := filepath.Glob(filepath.Join("..", "catalog", "data", "sites", "*.yaml"))
	if err != nil || len(builtin) == 0 {
		t.Fatalf("no built-in site files: %v", err)
	}
	files = append(files, builtin...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docs(t, data) {
			s := schemas[kindOf(doc)]
			if s == nil {
				t.Errorf("%s doc %d: kind %q has no schema", f, i, kindOf(doc))
				continue
			}
			if err := s.Validate(doc); err != nil {
				t.Errorf("%s doc %d: %v", f, i, err)
			}
		}
	}
	if _, err := catalog.Load(planner.AssumptionKeys(), "", files[0]); err != nil {
		t.Errorf("the loader rejects %s: %v", files[0], err)
	}
}

// TestSchemaRejects checks that the schema catches what the loader catches
// for shape errors.
func TestSchemaRejects(t *testing.T) {
	schemas := compile(t)
	site := `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: s-1}
spec:
  country: MY
  operator: {name: x, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 2}]
  network: {egressPerGB: 0.1, gbps: 10}
`
	cases := []struct {
		name, from, to string
	}{
		{"unknown field", "country: MY", "country: MY\n  colour: blue"},
		{"unknown country", "country: MY", "country: XX"},
		{"unknown accelerator", "nvidia-h100-sxm", "nvidia-h999"},
		{"wrong type", "count: 8", "count: eight"},
		{"negative price", "pricePerHour: 2", "pricePerHour: -2"},
		{"bad name", "name: s-1", "name: S_1"},
		{"missing pools", "  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 2}]\n", ""},
		{"wrong apiVersion", "meridian.dev/v1alpha1", "meridian.dev/v2"},
		{"bad date", "pricePerHour: 2}", "pricePerHour: 2, acquired: 2024-13-45}"},
	}
	if err := schemas["Site"].Validate(docs(t, []byte(site))[0]); err != nil {
		t.Fatalf("base document rejected: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(site, c.from, c.to, 1)
			if bad == site {
				t.Fatalf("replacement %q not applied", c.from)
			}
			if err := schemas["Site"].Validate(docs(t, []byte(bad))[0]); err == nil {
				t.Errorf("schema accepted:\n%s", bad)
			}
		})
	}
}

// TestSchemaAgreesWithLoader checks fields whose rule the schema mirrors
// from the loader: a document the loader accepts must pass the schema,
// and one it rejects for shape must fail it, or an editor marks good
// documents wrong and lets bad ones through.
func TestSchemaAgreesWithLoader(t *testing.T) {
	schemas := compile(t)
	site := `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: NAME}
spec:
  country: MY
  operator: {name: x, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 2, owner: OWNER}]
  network: {egressPerGB: 0.1, gbps: 10}
`
	label := strings.Repeat("a", 63)
	long := strings.Repeat(label+".", 3) + label[:62] // a DNS subdomain one byte too long
	cases := []struct {
		name, owner string
	}{
		{"s-1", "operator"},
		{"s-1", "organization:lab"},
		{"s-1", "organization:lab.eu"},
		{"s-1", "organization:acme/lab"},
		{"s-1", "organization:acme/lab.eu"},
		{long[:253], "operator"},
		{long, "operator"},
		{"s-1", "organization:Acme/lab"},
		{"s-1", "organization:acme/lab/x"},
		{"s-1", "organization:"},
		{"s-1", "tenant:acme"},
	}
	for _, c := range cases {
		s := &catalog.Site{Metadata: catalog.Metadata{Name: c.name},
			Spec: catalog.SiteSpec{Pools: []catalog.Pool{{Owner: c.owner}}}}
		loaderOK := catalog.ValidName(c.name) && (c.owner == catalog.OwnerOperator || catalog.ValidOrgRef(s.Spec.Pools[0].OwnerOrganization()))
		doc := strings.NewReplacer("NAME", c.name, "OWNER", strconv.Quote(c.owner)).Replace(site)
		err := schemas["Site"].Validate(docs(t, []byte(doc))[0])
		if loaderOK && err != nil {
			t.Errorf("name %.20s… (%d bytes), owner %q: the loader accepts it, the schema does not: %v", c.name, len(c.name), c.owner, err)
		}
		if !loaderOK && err == nil {
			t.Errorf("name %.20s… (%d bytes), owner %q: the loader rejects it, the schema does not", c.name, len(c.name), c.owner)
		}
	}
}
