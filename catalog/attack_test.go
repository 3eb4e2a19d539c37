package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests in this file reproduce attacks on the loader (issue 9, item 8):
// input that costs the loader far more than it cost the sender, files that
// hang it, and names and dates that slip past checks. Each attack is tried
// through every way resources arrive: a file or directory (LoadFiles, for
// --catalog and -f) and bytes (Decode, for documents sent to the API).

// loadBoth runs data through Decode and through LoadFiles of a file, and
// returns both errors with the bytes each allocated.
func loadBoth(t *testing.T, name string, data []byte) (errs []error, allocs []uint64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, load := range []func() error{
		func() error { _, err := Decode(path, data); return err },
		func() error { _, err := LoadFiles(path); return err },
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := load()
		runtime.ReadMemStats(&after)
		errs = append(errs, err)
		allocs = append(allocs, after.TotalAlloc-before.TotalAlloc)
	}
	return errs, allocs
}

// wantRefused checks that every error names the file and a line and says
// what limit was hit, and that refusing cost little memory.
func wantRefused(t *testing.T, errs []error, allocs []uint64, name, msg string, maxAlloc uint64) {
	t.Helper()
	for i, err := range errs {
		if err == nil {
			t.Fatalf("path %d: accepted", i)
		}
		var es Errors
		var fe *FieldError
		switch {
		case errors.As(err, &es):
		case errors.As(err, &fe):
			es = Errors{fe}
		default:
			t.Fatalf("path %d: %T is not a FieldError: %v", i, err, err)
		}
		found := false
		for _, e := range es {
			if strings.HasSuffix(e.File, name) && e.Line > 0 && strings.Contains(e.Msg, msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("path %d: want %s, a line and %q; got %v", i, name, msg, err)
		}
		if allocs[i] > maxAlloc {
			t.Errorf("path %d: refusing allocated %d MB, want under %d MB", i, allocs[i]>>20, maxAlloc>>20)
		}
	}
}

// TestAttackDeepNesting: YAML nested 50,000 levels deep in about 100 KB
// took 15 s and 3.9 GB to parse. It is refused at MaxDepth, quickly.
func TestAttackDeepNesting(t *testing.T) {
	cases := map[string]string{
		"flow lists":     "apiVersion: meridian.dev/v1alpha1\nkind: Site\nmetadata: {name: s}\nspec:\n  city: " + strings.Repeat("[", 50000) + strings.Repeat("]", 50000) + "\n",
		"flow mappings":  "apiVersion: meridian.dev/v1alpha1\nkind: Site\nmetadata: {name: s}\nspec:\n  city: " + strings.Repeat("{a: ", 25000) + "1" + strings.Repeat("}", 25000) + "\n",
		"block lists":    "apiVersion: meridian.dev/v1alpha1\nkind: Site\nmetadata: {name: s}\nspec:\n  city:\n    " + strings.Repeat("- ", 50000) + "x\n",
		"block mappings": "apiVersion: meridian.dev/v1alpha1\nkind: Site\nmetadata: {name: s}\nspec:\n" + blockNest(400),
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			errs, allocs := loadBoth(t, "deep.yaml", []byte(doc))
			wantRefused(t, errs, allocs, "deep.yaml", "nested deeper than", 64<<20)
		})
	}
}

// blockNest is n block mappings, each indented one more space.
func blockNest(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	return b.String()
}

// TestAttackAliasBomb: a 60 KB request of aliases expanded to a 100 MB job
// (one long anchored string used thousands of times), and the classic
// nested form multiplies nodes. Both are refused on the alias's line.
func TestAttackAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: j}\nspec:\n  organization: &s ")
	b.WriteString(strings.Repeat("x", 8000))
	b.WriteString("\n  workload:\n    command: [")
	for i := 0; i < 12000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("*s")
	}
	b.WriteString("]\n")
	long := b.String()
	if len(long) > 64<<10 {
		t.Fatalf("the attack is %d bytes, want about 60 KB", len(long))
	}
	t.Run("long string", func(t *testing.T) {
		errs, allocs := loadBoth(t, "bomb.yaml", []byte(long))
		wantRefused(t, errs, allocs, "bomb.yaml", "aliases expand to more than", 64<<20)
	})
	// Readers of other YAML files (rule packs) go through CheckYAML first:
	// it counted nodes only, and 12,000 aliases are within its limit.
	t.Run("long string, CheckYAML", func(t *testing.T) {
		err := CheckYAML("bomb.yaml", []byte(long))
		if err == nil || !strings.Contains(err.Error(), "line 7: aliases add more than 1048576 bytes of text") {
			t.Errorf("want the 96 MB expansion refused at the aliases' line, got %v", err)
		}
		// The same string used a hundred times (800 KB) is within it.
		ok := strings.Replace(long, strings.Repeat(",*s", 12000-100), "", 1)
		if err := CheckYAML("ok.yaml", []byte(ok)); err != nil {
			t.Errorf("a hundred aliases of 8,000 bytes: %v", err)
		}
	})
	// Merged mappings copy their keys: nine levels of ten merges each.
	var m strings.Builder
	m.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: j}\nx0: &a0 {")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&m, "k%d: v, ", i)
	}
	m.WriteString("z: v}\n")
	for l := 1; l < 9; l++ {
		fmt.Fprintf(&m, "x%d: &a%d\n  <<: [", l, l)
		for i := 0; i < 10; i++ {
			if i > 0 {
				m.WriteString(", ")
			}
			fmt.Fprintf(&m, "*a%d", l-1)
		}
		m.WriteString("]\n")
	}
	m.WriteString("spec:\n  workload:\n    env:\n      <<: [*a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8]\n")
	t.Run("merges", func(t *testing.T) {
		errs, allocs := loadBoth(t, "merge.yaml", []byte(m.String()))
		wantRefused(t, errs, allocs, "merge.yaml", "aliases expand to more than", 64<<20)
	})
}

// TestAttackManyDocuments: a file of empty documents, each costing the
// parser a tree, is refused past MaxDocuments.
func TestAttackManyDocuments(t *testing.T) {
	data := []byte(strings.Repeat("---\n", MaxDocuments+10))
	errs, allocs := loadBoth(t, "docs.yaml", data)
	wantRefused(t, errs, allocs, "docs.yaml", "documents in one file", 64<<20)
}

// TestAttackLargeDocument: one document over MaxDocumentBytes is refused
// before it is parsed.
func TestAttackLargeDocument(t *testing.T) {
	data := []byte("a: [" + strings.Repeat("[],", MaxDocumentBytes/3+10) + "]\n")
	errs, allocs := loadBoth(t, "big.yaml", data)
	wantRefused(t, errs, allocs, "big.yaml", "over the", 64<<20)
}

// TestAttackFIFOInCatalog: a FIFO named like a catalog file hung validate
// and the server's first submit (opening it blocks until a writer comes).
// It is refused with an error naming it, as is one given with -f.
func TestAttackFIFOInCatalog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(siteDoc("s-1", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "b.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err) // not a failure of the loader; no FIFOs here
	}
	for _, p := range []string{dir, fifo} {
		done := make(chan error, 1)
		go func() {
			_, err := LoadFiles(p)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
				t.Errorf("LoadFiles(%s): want the FIFO named and refused, got %v", p, err)
			}
		case <-time.After(20 * time.Second):
			// Unblock the reader so that the test process can end.
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
			t.Fatalf("LoadFiles(%s) hangs on a FIFO", p)
		}
	}
}

// siteDoc is a valid Site document named name, with extra lines appended
// to its spec.
func siteDoc(name, extra string) string {
	return `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: ` + name + `}
spec:
  country: MY
  location: {lat: 1, lon: 103}
  operator: {name: op, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 2}
  network: {egressPerGB: 0.08, gbps: 10}
` + extra
}

// TestAttackDuplicateSites: two sites of one name in a catalog silently
// overrode each other. Any kind and name twice in the user's files is an
// error naming both places; a user's site may still replace a built-in one.
func TestAttackDuplicateSites(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	if err := os.WriteFile(a, []byte(siteDoc("s-1", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("# the same name again\n"+siteDoc("s-1", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(testKeys, dir)
	if err == nil || !strings.Contains(err.Error(), b+":4") || !strings.Contains(err.Error(), a+":3") || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate site across files: want both places named, got %v", err)
	}
	// In one file, and between --catalog and -f.
	one := filepath.Join(t.TempDir(), "one.yaml")
	if err := os.WriteFile(one, []byte(siteDoc("s-1", "")+"---\n"+siteDoc("s-1", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(testKeys, "", one); err == nil || !strings.Contains(err.Error(), one+":14") || !strings.Contains(err.Error(), one+":3") {
		t.Errorf("duplicate site in one file: %v", err)
	}
	catDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(catDir, "c.yaml"), []byte(siteDoc("s-1", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(testKeys, catDir, a); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate site between --catalog and -f: %v", err)
	}
	// Replacing a built-in site stays allowed.
	w, err := Builtin()
	if err != nil || len(w.Sites) == 0 {
		t.Fatal(err)
	}
	builtinName := w.Sites[0].Metadata.Name
	over := filepath.Join(t.TempDir(), "over.yaml")
	if err := os.WriteFile(over, []byte(siteDoc(builtinName, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	lw, err := Load(testKeys, "", over)
	if err != nil {
		t.Fatalf("replacing built-in site %s: %v", builtinName, err)
	}
	if got := lw.Site(builtinName).Pos.File; got != over {
		t.Errorf("site %s comes from %s, want the user's file", builtinName, got)
	}
	// Organizations, datasets and jobs twice name both places too.
	org := "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: CN}\n"
	orgs := filepath.Join(t.TempDir(), "orgs.yaml")
	if err := os.WriteFile(orgs, []byte(org+"---\n"+org), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(testKeys, "", orgs); err == nil || !strings.Contains(err.Error(), orgs+":8") || !strings.Contains(err.Error(), orgs+":3") {
		t.Errorf("duplicate organization: %v", err)
	}
}

// TestAttackInvalidNames: a NUL byte in a name was accepted (and names
// become paths, command lines and keys). Names follow the DNS-subdomain
// rule; control characters are refused in every text field.
func TestAttackInvalidNames(t *testing.T) {
	bad := map[string]string{
		"NUL byte":        `"s\0x"`,
		"escape sequence": `"s\e[2Jx"`,
		"upper case":      "S-1",
		"path":            `"../s"`,
		"empty label":     "a..b",
		"leading dash":    "-s",
		"trailing dot":    `"s."`,
		"underscore":      "s_1",
		"longer than 253": strings.Repeat("a", 254),
		"space":           `"s 1"`,
		"newline":         `"s\nx"`,
		"dot dash":        "a.-b",
	}
	for name, v := range bad {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "site.yaml")
			if err := os.WriteFile(path, []byte(siteDoc(v, "")), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(testKeys, path)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "metadata.name" || fe.Line != 3 {
				t.Errorf("name %s: want an error on metadata.name at line 3, got %v", v, err)
			}
		})
	}
	t.Run("control character in another field", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "site.yaml")
		if err := os.WriteFile(path, []byte(siteDoc("s-1", "  city: \"Johor\\0Bahru\"\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(testKeys, path)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "spec.city" || fe.Line != 11 || !strings.Contains(fe.Msg, "U+0000") {
			t.Errorf("want spec.city refused at line 11, got %v", err)
		}
	})
	for _, good := range []string{"qwen2.5-7b-sft", "a", "my-johor-1", "a.b.c", strings.Repeat("a", 63) + "." + strings.Repeat("b", 63)} {
		if !ValidName(good) {
			t.Errorf("%s is a valid name", good)
		}
	}
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(siteDoc("qwen2.5-7b-sft", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(testKeys, path); err != nil {
		t.Errorf("qwen2.5-7b-sft: %v", err)
	}
}

// TestAttackDates: asOf 0000-01-01 was accepted. Dates outside the years
// MinDateYear to MaxDateYear are refused, with the field named.
func TestAttackDates(t *testing.T) {
	for _, d := range []string{"0000-01-01", "0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"} {
		if _, err := ParseDate(d); err == nil {
			t.Errorf("ParseDate(%s) accepted", d)
		}
		path := filepath.Join(t.TempDir(), "site.yaml")
		doc := strings.Replace(siteDoc("s-1", ""), "pricePerHour: 2}", "pricePerHour: 2, acquired: "+d+"}", 1)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(testKeys, path)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "spec.pools[0].acquired" || fe.Line != 9 || !strings.Contains(fe.Msg, "outside the years") {
			t.Errorf("acquired %s: want spec.pools[0].acquired refused at line 9, got %v", d, err)
		}
	}
	for _, d := range []string{"1900-01-01", "2025-06-01", "2199-12-31"} {
		if _, err := ParseDate(d); err != nil {
			t.Errorf("ParseDate(%s): %v", d, err)
		}
	}
}

// TestAttackManyProblems: each validation problem parsed its document
// again to find its line, and listed the country codes afresh, so a 10 KB
// job naming 5,000 unknown countries cost seconds and gigabytes to refuse
// (10,000: 15 s, 12 GB), and a 1 MB site name in a job's site list 22 s of
// edit distances. At most MaxErrorsPerResource problems are listed per
// resource, the rest counted; the document is parsed once; suggestions are
// made for names a site could have.
func TestAttackManyProblems(t *testing.T) {
	job := func(cons string) string {
		return "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: CN}\n---\n" +
			"apiVersion: meridian.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: j}\nspec:\n  organization: lab\n  model: {parameters: 1e9}\n" +
			"  method: pretrain\n  tokens: 1e9\n  constraints:\n    " + cons + "\n"
	}
	countries := strings.TrimSuffix(strings.Repeat("XX,", 5000), ",")
	for name, doc := range map[string]string{
		"countries": job("countries: {allow: [" + countries + "]}"),
		"long site": job("sites: {deny: [" + strings.Repeat("a", 900_000) + "]}"),
	} {
		t.Run(name, func(t *testing.T) {
			set, err := Decode("job.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err = Assemble(nil, nil, set)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || len(es) > MaxErrorsPerResource+1 {
				t.Fatalf("%d errors, want 1 to %d: %.300v", len(es), MaxErrorsPerResource+1, err)
			}
			for _, e := range es {
				if e.File != "job.yaml" || e.Line == 0 || e.Resource != "TrainingJob/j" {
					t.Errorf("error without its file, line or resource: %.200v", e)
				}
			}
			if name == "countries" {
				counted, first := false, false
				for _, e := range es {
					counted = counted || strings.Contains(e.Msg, "4900 more problems not shown")
					first = first || e.Field == "spec.constraints.countries.allow[0]" && e.Line == 15 && strings.Contains(e.Msg, `"XX" is not a known country`)
				}
				if !counted || !first {
					t.Errorf("want the first problem at its line and the count of those left out; got %.400v", err)
				}
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 64<<20 {
				t.Errorf("refusing allocated %d MB, want under 64 MB", a>>20)
			}
			t.Logf("refused in %v", took)
		})
	}
}

// TestSiteFactsBounded: a site whose operator name, city or pool owner was
// over the bound the policy engine prices rules for loaded without a word,
// and every placement at the site was then denied. The catalog now refuses
// it when loaded, naming the field.
func TestSiteFactsBounded(t *testing.T) {
	long := strings.Repeat("ж", MaxFactItems/2+1) // MaxFactItems+2 bytes
	for field, doc := range map[string]string{
		"spec.operator.name":  strings.Replace(siteDoc("s-1", ""), "operator: {name: op,", "operator: {name: "+long+",", 1),
		"spec.city":           siteDoc("s-1", "  city: "+long+"\n"),
		"spec.pools[0].owner": strings.Replace(siteDoc("s-1", ""), "pricePerHour: 2}", "pricePerHour: 2, owner: organization:"+strings.Repeat("a", MaxFactItems)+"}", 1),
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(testKeys, dir)
		if err == nil || !strings.Contains(err.Error(), field+": ") || !strings.Contains(err.Error(), "at most 256") {
			t.Errorf("a site with %s over %d bytes: got %.400v, want an error naming the field", field, MaxFactItems, err)
		}
	}
	// At the bound it loads.
	ok := strings.Replace(siteDoc("s-1", "  city: "+strings.Repeat("c", MaxFactItems)+"\n"), "operator: {name: op,", "operator: {name: "+strings.Repeat("o", MaxFactItems)+",", 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(ok), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(testKeys, dir); err != nil {
		t.Errorf("a site with facts at the bound: %v", err)
	}
}
