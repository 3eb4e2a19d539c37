package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loadEdited writes testdata/valid.yaml with one replacement applied to a
// temporary file and loads it with the built-in catalog.
func loadEdited(t *testing.T, from, to string) (string, error) {
	t.Helper()
	base, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(base), from, to, 1)
	if edited == string(base) {
		t.Fatalf("replacement %q not found in valid.yaml", from)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(testKeys, "", path)
	return path, err
}

// TestLoadRegionOrigin: origin EU was refused although release.markets
// accepts EU; a dataset collected across the EU is governed by the GDPR as
// a whole.
func TestLoadRegionOrigin(t *testing.T) {
	for _, r := range []string{"EU", "EEA"} {
		if _, err := loadEdited(t, "origin: CN", "origin: "+r); err != nil {
			t.Errorf("origin %s: %v", r, err)
		}
	}
	w, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range w.CountryCodes() {
		if c == "EU" || c == "EEA" {
			t.Errorf("CountryCodes lists the region %s", c)
		}
	}
	if got := w.RegionCodes(); !cmp.Equal(got, []string{"EEA", "EU"}) {
		t.Errorf("RegionCodes = %v", got)
	}
}

// TestCheckBackends: a backend type this binary cannot run passed
// validation, ranked first and failed at run time. It is a load error that
// names the file, line and field; a site without a backend passes.
func TestCheckBackends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sites.yaml")
	body := siteDoc("k-1", "  backend: {type: kubernetes, image: \"registry.example/train:1\"}\n") + "---\n" + siteDoc("p-1", "") + "---\n" + siteDoc("l-1", "  backend: {type: local}\n")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Load(testKeys, "", path)
	if err != nil {
		t.Fatal(err)
	}
	err = w.CheckBackends([]string{"local", "slurm"})
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("want one error, got %v", err)
	}
	if e := es[0]; e.File != path || e.Line != 11 || e.Field != "spec.backend.type" || !strings.Contains(e.Msg, "cannot run") || !contains(e.Accepted, "slurm") {
		t.Errorf("got %v (line %d)", e, e.Line)
	}
	if err := w.CheckBackends([]string{"local", "slurm", "kubernetes"}); err != nil {
		t.Errorf("a binary that runs kubernetes: %v", err)
	}
	if w.Site("p-1").Runnable() || !w.Site("l-1").Runnable() {
		t.Errorf("runnable: p-1 %v (want false), l-1 %v (want true)", w.Site("p-1").Runnable(), w.Site("l-1").Runnable())
	}
}

func TestLoadValid(t *testing.T) {
	w, err := Load(testKeys, "", filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j := w.Job("job")
	if j == nil {
		t.Fatal("job not loaded")
	}
	got := struct {
		Org, Method string
		Tokens      float64
		Deadline    string
		Acquired    string
		Count       int
	}{j.Spec.Organization, j.Spec.Method, j.Spec.Tokens, j.Spec.Deadline.String(),
		w.Site("s-1").Spec.Pools[0].Acquired.String(), w.Site("s-1").Spec.Pools[0].Count}
	want := struct {
		Org, Method string
		Tokens      float64
		Deadline    string
		Acquired    string
		Count       int
	}{"lab", "lora", 1e9, "14d", "2024-01-01", 8}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded values (-want +got):\n%s", diff)
	}
}

// TestLoadErrors edits one line of a valid file per case and checks that the
// error names the file, the line, the field and, where the input must be one
// of a list, the accepted values.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name     string
		from, to string
		line     int
		field    string
		msg      string   // substring of the message
		accepted []string // values that must be listed as accepted
	}{
		{"unknown field", "  headquarters: CN\n", "  headquarters: CN\n  colour: red\n", 8, "spec.colour", "unknown field", []string{"headquarters", "restrictedParty"}},
		{"unknown top-level field", "kind: Organization\n", "kind: Organization\nstatus: {}\n", 5, "status", "unknown field", []string{"apiVersion", "spec"}},
		{"wrong type: word for integer", "count: 8", "count: eight", 26, "spec.pools[0].count", `want a whole number, got "eight"`, nil},
		{"wrong type: fraction for integer", "count: 8", "count: 8.5", 26, "spec.pools[0].count", "8.5 is not a whole number", nil},
		{"wrong type: list for integer", "count: 8", "count: [8]", 26, "spec.pools[0].count", "want a whole number, got a list", nil},
		{"wrong type: quoted number", "pricePerHour: 2", `pricePerHour: "2"`, 28, "spec.pools[0].pricePerHour", `want a number, got "2"`, nil},
		{"wrong type: bool", "  headquarters: CN\n", "  headquarters: CN\n  usPerson: maybe\n", 8, "spec.usPerson", "want true or false", nil},
		// An organisation headquartered in the US that said it was no US
		// person escaped every rule on US persons (GP10's Ascend ban among them).
		{"US headquarters unsaying US person", "  headquarters: CN\n", "  headquarters: US\n  usPerson: false\n", 8, "spec.usPerson", "contradicts spec.headquarters US", nil},
		{"wrong type: scalar for list", "datasets: [data]", "datasets: data", 37, "spec.datasets", "want a list", nil},
		{"wrong type: scalar for mapping", "model: {parameters: 7e9}", "model: 7e9", 38, "spec.model", "want a mapping", nil},
		{"unknown country", "country: MY", "country: XX", 21, "spec.country", `"XX" is not a known country`, []string{"CN", "DE"}},
		{"unknown operator country", "headquarters: SG}", "headquarters: Singapore}", 23, "spec.operator.headquarters", "not a known country", []string{"SG"}},
		{"unknown accelerator id", "nvidia-h100-sxm", "nvidia-h999", 25, "spec.pools[0].accelerator", `"nvidia-h999" is not a known accelerator id`, []string{"nvidia-h100-sxm", "huawei-ascend-910b"}},
		{"negative count", "count: 8", "count: -8", 26, "spec.pools[0].count", "-8 is below 1", nil},
		{"negative price", "pricePerHour: 2", "pricePerHour: -2", 28, "spec.pools[0].pricePerHour", "-2 is below 0", nil},
		{"absurd price", "pricePerHour: 2", "pricePerHour: 5000", 28, "spec.pools[0].pricePerHour", "5000 is above 1000", nil},
		{"absurd tokens", "tokens: 1e9", "tokens: 1e30", 40, "spec.tokens", "above 1e+16", nil},
		{"absurd latitude", "lat: 1,", "lat: 100,", 22, "spec.location.lat", "100 is above 90", nil},
		{"NaN price", "pricePerHour: 2", "pricePerHour: .nan", 28, "spec.pools[0].pricePerHour", "not a number", nil},
		{"available above count", "available: 8", "available: 9", 27, "spec.pools[0].available", "9 is more than the 8 installed", nil},
		{"job without its organisation", "organization: lab", "organization: other-lab", 36, "spec.organization", `no Organization named "other-lab"`, []string{"lab"}},
		{"job without its dataset", "datasets: [data]", "datasets: [data, missing]", 37, "spec.datasets[1]", `no Dataset named "missing"`, []string{"data"}},
		{"bad date", "acquired: 2024-01-01", "acquired: 2024-13-01", 29, "spec.pools[0].acquired", `date "2024-13-01": want YYYY-MM-DD`, nil},
		{"bad date word", "acquired: 2024-01-01", "acquired: yesterday", 29, "spec.pools[0].acquired", "want YYYY-MM-DD", nil},
		{"bad duration", "deadline: 14d", "deadline: two weeks", 41, "spec.deadline", `duration "two weeks"`, nil},
		{"negative duration", "deadline: 14d", "deadline: -5d", 41, "spec.deadline", "duration", nil},
		{"bad enum", "method: lora", "method: rlhf", 39, "spec.method", `"rlhf" is not accepted`, []string{"pretrain", "full-finetune", "lora", "qlora"}},
		{"bad classification", "classification: public", "classification: secret", 15, "spec.classification", "not accepted", []string{"public", "personal", "important"}},
		{"bad name", "{name: s-1}", "{name: S_1}", 19, "metadata.name", "not a DNS subdomain name", nil},
		{"unknown kind", "kind: Dataset", "kind: DataSet", 10, "kind", "not a known kind", []string{"Organization", "Dataset", "Site", "TrainingJob"}},
		{"wrong apiVersion", "apiVersion: meridian.dev/v1alpha1\nkind: Site", "apiVersion: meridian.dev/v2\nkind: Site", 17, "apiVersion", "not supported", []string{"meridian.dev/v1alpha1"}},
		{"bad backend type", "gbps: 10}", "gbps: 10}\n  backend: {type: nomad}", 31, "spec.backend.type", "not accepted", []string{"local", "slurm", "kubernetes"}},
		{"kubernetes setting on a local site", "gbps: 10}", "gbps: 10}\n  backend: {type: local, image: trainer:1}", 31, "spec.backend.image", "only for type kubernetes", nil},
		{"kubernetes site without image", "gbps: 10}", "gbps: 10}\n  backend: {type: kubernetes, namespace: training}", 31, "spec.backend.image", "required for type kubernetes", nil},
		{"kubernetes site with a Slurm partition", "gbps: 10}", "gbps: 10}\n  backend: {type: kubernetes, image: t:1, partition: sg}", 31, "spec.backend.partition", "not used by type kubernetes", nil},
		{"bad toleration operator", "gbps: 10}", "gbps: 10}\n  backend: {type: kubernetes, image: t:1, tolerations: [{key: gpu, operator: Maybe}]}", 31, "spec.backend.tolerations[0].operator", `"Maybe" is not accepted`, []string{"Equal", "Exists"}},
		{"bad toleration effect", "gbps: 10}", "gbps: 10}\n  backend: {type: kubernetes, image: t:1, tolerations: [{operator: Exists, effect: NoRun}]}", 31, "spec.backend.tolerations[0].effect", `"NoRun" is not accepted`, []string{"NoSchedule", "NoExecute"}},
		{"bad node selector", "gbps: 10}", "gbps: 10}\n  backend: {type: kubernetes, image: t:1, nodeSelector: {\"bad key!\": h100}}", 31, "spec.backend.nodeSelector", `key "bad key!"`, nil},
		{"bad namespace", "gbps: 10}", "gbps: 10}\n  backend: {type: kubernetes, image: t:1, namespace: Training_1}", 31, "spec.backend.namespace", "not a Kubernetes namespace name", nil},
		{"gpu resource without domain", "gbps: 10}", "gbps: 10}\n  backend: {type: kubernetes, image: t:1, gpuResource: gpu}", 31, "spec.backend.gpuResource", "domain prefix", nil},
		{"bad queue name", "gbps: 10}", "gbps: 10}\n  backend: {type: kubernetes, image: t:1, queueName: Lab_Queue}", 31, "spec.backend.queueName", "not a Kueue LocalQueue name", nil},
		{"slurm recordKeyFile not absolute", "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, partition: p, recordKeyFile: keys/site-a}", 31, "spec.backend.recordKeyFile", "want an absolute path", nil},
		{"slurm recordKeyFile with restURL", "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, restURL: 'unix:///run/slurmrestd.sock', recordKeyFile: /etc/k}", 31, "spec.backend.recordKeyFile", "only for Slurm through its commands", nil},
		{"slurm restURL with a bad scheme", "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, partition: p, restURL: 'ftp://x'}", 31, "spec.backend.restURL", `scheme "ftp"`, nil},
		{"slurm https restURL without tokenFile", "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, restURL: 'https://slurm.example:6820'}", 31, "spec.backend.tokenFile", "required with an https restURL", nil},
		{"slurm plain http to a remote host", "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, restURL: 'http://slurm.example', tokenFile: /etc/t}", 31, "spec.backend.restURL", "send the token in clear", nil},
		{"slurm tokenFile over a unix socket", "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, restURL: 'unix:///run/slurmrestd.sock', tokenFile: /etc/t}", 31, "spec.backend.tokenFile", "rest_auth/local", nil},
		{"slurm gres and gresType", "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, gres: 'gpu:h100', gresType: h100}", 31, "spec.backend.gres", "not both", nil},
		{"slurm bad partition", "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, partition: 'a b'}", 31, "spec.backend.partition", "not a Slurm partition name", nil},
		{"restURL on a local site", "gbps: 10}", "gbps: 10}\n  backend: {type: local, restURL: 'unix:///x'}", 31, "spec.backend.restURL", "only for type slurm", nil},
		{"bad access", "gbps: 10}", "gbps: 10}\n  access: rental", 31, "spec.access", `"rental" is not accepted`, []string{"public-rental", "allocation", "private"}},
		{"private site without organisations", "gbps: 10}", "gbps: 10}\n  access: private", 31, "spec.access", "private needs spec.accessOrganizations", nil},
		{"organisations on a public site", "gbps: 10}", "gbps: 10}\n  accessOrganizations: [lab]", 31, "spec.accessOrganizations", "only for access private or allocation", nil},
		{"organisation with an empty tenant", "gbps: 10}", "gbps: 10}\n  access: private\n  accessOrganizations: [/lab]", 32, "spec.accessOrganizations[0]", "<tenant>/<name>", nil},
		{"organisation with two tenants", "gbps: 10}", "gbps: 10}\n  access: private\n  accessOrganizations: [acme/x/lab]", 32, "spec.accessOrganizations[0]", "not an organisation name", nil},
		{"pool owner with a bad tenant", "acquired: 2024-01-01", "acquired: 2024-01-01\n      owner: organization:Acme/lab", 30, "spec.pools[0].owner", "organization:<tenant>/<name>", nil},
		// An unknown site in the job's constraints used to pass, and every
		// candidate was then "rejected for constraint".
		{"unknown site in constraints", "deadline: 14d", "deadline: 14d\n  constraints: {sites: {allow: [s-1, s1]}}", 42, "spec.constraints.sites.allow[1]", `no site named "s1" in the catalog (meridian catalog sites lists them); did you mean s-1`, nil},
		{"unknown site in deny", "deadline: 14d", "deadline: 14d\n  constraints:\n    sites:\n      deny: [gone]", 44, "spec.constraints.sites.deny[0]", `no site named "gone"`, nil},
		{"region as a site's country", "country: MY", "country: EU", 21, "spec.country", "is a region, not a country", []string{"DE"}},
		{"region as headquarters", "headquarters: CN", "headquarters: EEA", 7, "spec.headquarters", "is a region", nil},
		{"unknown origin", "origin: CN", "origin: XX", 13, "spec.origin", "not a known country or region", []string{"EU", "CN"}},
		{"personal data without subjects", "classification: public", "classification: personal", 13, "spec.subjects", "required for personal data", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, err := loadEdited(t, c.from, c.to)
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FieldError
			var es Errors
			switch {
			case errors.As(err, &es):
				for _, e := range es {
					if e.Field == c.field {
						fe = e
						break
					}
				}
				if fe == nil {
					t.Fatalf("no error for field %s in:\n%v", c.field, err)
				}
			case errors.As(err, &fe):
			default:
				t.Fatalf("error %T is not a FieldError: %v", err, err)
			}
			if fe.File != path {
				t.Errorf("file = %q, want %q", fe.File, path)
			}
			if fe.Line != c.line {
				t.Errorf("line = %d, want %d (%v)", fe.Line, c.line, fe)
			}
			if fe.Field != c.field {
				t.Errorf("field = %q, want %q", fe.Field, c.field)
			}
			if !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("message %q does not contain %q", fe.Msg, c.msg)
			}
			for _, a := range c.accepted {
				if !contains(fe.Accepted, a) {
					t.Errorf("accepted values %v lack %q", fe.Accepted, a)
				}
			}
			// The printed form starts with file:line.
			if s := fe.Error(); !strings.HasPrefix(s, path+":") {
				t.Errorf("printed error %q does not start with the file and line", s)
			}
		})
	}
}

// TestLoadReportsAllErrors checks that one pass reports every problem in a
// file, sorted by line, so that a user can fix them together.
func TestLoadReportsAllErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.NewReplacer("country: MY", "country: XX", "method: lora", "method: rlhf", "available: 8", "available: 80").Replace(string(base))
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(testKeys, "", path)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %T: %v", err, err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Field)
	}
	want := []string{"spec.country", "spec.pools[0].available", "spec.method"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestLoadFilesErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadFiles(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	syntax := filepath.Join(dir, "syntax.yaml")
	if err := os.WriteFile(syntax, []byte("kind: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFiles(syntax)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.File != syntax || fe.Line == 0 {
		t.Errorf("syntax error should name file and line: %v", err)
	}
	notMap := filepath.Join(dir, "list.yaml")
	if err := os.WriteFile(notMap, []byte("- a\n- b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFiles(notMap); err == nil || !strings.Contains(err.Error(), "not a mapping") {
		t.Errorf("list document: %v", err)
	}
}

// TestLoadAliases checks that values reached through YAML aliases are
// checked against the type where they are used, and reported there, and
// that an alias to no anchor (a syntax error) is reported on its line
// while the file's other documents are still checked.
func TestLoadAliases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alias.yaml")
	data := `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: CN}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: job}
spec:
  organization: &o lab
  datasets: &l [x, y]
  model: {parameters: 7e9, layers: *l}
  method: lora
  tokens: 1e9
  release: {markets: [*o]}
---
apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: d}
spec: {origin: *nope, sizeBytes: 1, classification: public}
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(testKeys, "", path)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	type loc struct {
		Line  int
		Field string
	}
	var got []loc
	for _, e := range es {
		got = append(got, loc{e.Line, e.Field})
	}
	want := []loc{{12, "spec.model.layers"}, {20, ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, err)
	}
	if !strings.Contains(es[len(es)-1].Msg, "alias *nope refers to no anchor") {
		t.Errorf("alias error: %v", es[len(es)-1])
	}
	// A well-formed alias is accepted.
	ok := strings.Replace(strings.Replace(data, "layers: *l", "layers: 28", 1), "*nope", "CN", 1)
	if err := os.WriteFile(path, []byte(ok), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(testKeys, "", path); err == nil || !strings.Contains(err.Error(), `no Dataset named "x"`) {
		t.Errorf("want only the missing-dataset errors, got %v", err)
	}
}

// TestLoadRecordKeyFile: a Slurm site's recordKeyFile is decoded into its
// backend settings.
func TestLoadRecordKeyFile(t *testing.T) {
	const key = "/etc/meridian/s-1.record-key"
	base, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(base), "gbps: 10}", "gbps: 10}\n  backend: {type: slurm, partition: p, recordKeyFile: "+key+"}", 1)
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Load(testKeys, "", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range w.Sites {
		if s.Metadata.Name == "s-1" {
			if got := s.Spec.Backend.RecordKeyFile; got != key {
				t.Errorf("recordKeyFile decoded as %q; want %q", got, key)
			}
			return
		}
	}
	t.Fatal("site s-1 not loaded")
}
