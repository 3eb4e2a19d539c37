package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// wholeYAML is render's YAML before streaming: the whole JSON converted.
func wholeYAML(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	if err := writeYAMLWhole(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func wholeJSON(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkStreamed fails when the streaming writers print v differently from
// encoding v whole.
func checkStreamed(t *testing.T, name string, v any) {
	t.Helper()
	var j, y bytes.Buffer
	if err := writeJSONStream(&j, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if want := wholeJSON(t, v); j.String() != want {
		t.Errorf("%s: streamed JSON differs from whole:\n%s\nwant:\n%s", name, head(j.String()), head(want))
	}
	if err := writeYAMLStream(&y, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if want := wholeYAML(t, v); y.String() != want {
		t.Errorf("%s: streamed YAML differs from whole:\n%s\nwant:\n%s", name, head(y.String()), head(want))
	}
}

func head(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

type inner struct {
	A string `json:"a"`
	B []int  `json:"b,omitempty"`
}

type tagged struct {
	Name     string         `json:"name"`
	Skip     string         `json:"-"`
	hidden   int            // unexported: not written
	Empty    string         `json:"empty,omitempty"`
	Zero     catalog.Date   `json:"zero,omitzero"`
	Date     catalog.Date   `json:"date"`
	Ptr      *inner         `json:"ptr,omitempty"`
	Items    []inner        `json:"items"`
	Nil      []inner        `json:"nil"`
	None     []inner        `json:"none"`
	Bytes    []byte         `json:"bytes"`
	Map      map[string]int `json:"map"`
	HTML     string         `json:"html"`
	Untagged float64
	Strings  []string          `json:"strings,omitempty"`
	Nested   map[string][]bool `json:"nested"`
}

// TestStreamMatchesWhole checks the streaming writers against encoding
// the value whole, on structs with every kind of field and tag, and on
// real plans large enough to be encoded in parallel batches.
func TestStreamMatchesWhole(t *testing.T) {
	items := make([]inner, 3*listBatch+7)
	for i := range items {
		items[i] = inner{A: fmt.Sprintf("item <%d> & \"quoted\"\nline", i), B: []int{i, i + 1}}
	}
	v := tagged{Name: "x", Skip: "no", hidden: 1, Date: catalog.MustDate("2025-06-01"), Ptr: &inner{A: "p"},
		Items: items, None: []inner{}, Bytes: []byte("raw"), Map: map[string]int{"b": 2, "a": 1},
		HTML: "<a href='x'>&</a>", Untagged: 1.5, Strings: []string{"one: two", "- three", "yes", "0123"},
		Nested: map[string][]bool{"k": {true, false}}}
	checkStreamed(t, "struct", v)
	checkStreamed(t, "pointer", &v)
	checkStreamed(t, "empty struct", struct{}{})
	checkStreamed(t, "not a struct", []int{1, 2})
	checkStreamed(t, "map", map[string]any{"a": []int{1}})

	for _, job := range synth.Jobs {
		jw, err := synth.WorldWith(300, 4, 1, synth.JobNamed(job))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := planner.Make(jw, jw.Jobs[0], planner.Options{AsOf: catalog.MustDate("2025-06-01")})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Placements)+len(plan.Rejected) < listBatch {
			t.Fatalf("job %s: plan too small to test batches", job)
		}
		checkStreamed(t, "plan "+job, plan)
		checkStreamed(t, "top of plan "+job, topOf(plan, 5))
	}
}

// TestPlanTop checks --top: json and yaml carry 50 placements unless told,
// 0 means all, the table shows 10, and summary.placements always counts
// every placement.
func TestPlanTop(t *testing.T) {
	dir := t.TempDir()
	w, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	sites := filepath.Join(dir, "sites")
	if err := os.Mkdir(sites, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(sites, "sites.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.WriteYAML(f, &catalog.Set{Sites: synth.Sites(w, 100, 4, 1)}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	jf, err := os.Create(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.WriteYAML(jf, synth.JobUS()); err != nil {
		t.Fatal(err)
	}
	jf.Close()
	args := []string{"plan", "-f", filepath.Join(dir, "job.yaml"), "--catalog", sites, "--as-of", "2025-06-01"}
	count := func(extra ...string) (placements, total int) {
		t.Helper()
		out, code, err := runPlanCLI(t, append(append([]string(nil), args...), extra...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %v", extra, code, err)
		}
		var p struct {
			Placements []json.RawMessage `json:"placements"`
			Summary    struct {
				Placements int `json:"placements"`
			} `json:"summary"`
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("%v: %v", extra, err)
		}
		return len(p.Placements), p.Summary.Placements
	}
	all, total := count("-o", "json", "--top", "0")
	if all != total || total <= 50 {
		t.Fatalf("--top 0 printed %d of %d placements; the test wants more than 50", all, total)
	}
	for _, c := range []struct {
		args []string
		want int
	}{{[]string{"-o", "json"}, 50}, {[]string{"-o", "json", "--top", "7"}, 7}, {[]string{"-o", "json", "--top", fmt.Sprint(total + 5)}, total}} {
		if n, tot := count(c.args...); n != c.want || tot != total {
			t.Errorf("%v: %d placements (summary %d), want %d (summary %d)", c.args, n, tot, c.want, total)
		}
	}
	out, _, _ := runPlanCLI(t, append(args, "-o", "yaml")...)
	if n := strings.Count(out, "\n- rank: "); n != 50 {
		t.Errorf("-o yaml: %d placements, want 50", n)
	}
	if !strings.Contains(out, fmt.Sprintf("\n  placements: %d\n", total)) {
		t.Errorf("-o yaml: summary.placements is not %d", total)
	}
	table, _, _ := runPlanCLI(t, args...)
	table20, _, _ := runPlanCLI(t, append(args, "--top", "20")...)
	if !(len(table) < len(table20)) {
		t.Errorf("the table with --top 20 is not longer than the default (10)")
	}
}

// FuzzIndentJSON checks indentJSON against json.Indent on compact JSON.
func FuzzIndentJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,{"b":"c\"d\\"},[]],"e":{}}`, `"x"`, `[[[]]]`, `{"k:,{[":"v]}"}`, `null`} {
		f.Add([]byte(s), "  ")
	}
	f.Fuzz(func(t *testing.T, data []byte, prefix string) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, data); err != nil {
			return
		}
		var want, got bytes.Buffer
		if err := json.Indent(&want, compact.Bytes(), prefix, "  "); err != nil {
			t.Fatal(err)
		}
		indentJSON(&got, compact.Bytes(), prefix, "  ")
		if got.String() != want.String() {
			t.Fatalf("indentJSON(%q, %q):\n%s\nwant:\n%s", compact.Bytes(), prefix, got.String(), want.String())
		}
	})
}
