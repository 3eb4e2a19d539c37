package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/goccy/go-yaml"
	yamlv3 "go.yaml.in/yaml/v3"
	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// yamlHostile are strings that plain would read back as something else
// (another string, a number, a date, a boolean, null, a merge), or not at
// all; the YAML library, left to itself, wrote some of them plain (a tab,
// a carriage return, several lines, .inf, .nan, "? a", "<<", "1e3").
var yamlHostile = []string{
	"yes", "no", "on", "off", "y", "N", "True", "~", "null", "NULL", "", " ",
	"0x1F", "0o17", "017", "1e3", "1_000", "+1", "-0", ".5", ".inf", "-.Inf", ".nan", "12:30:00",
	"2026-12-07", "2026-12-07T10:00:00Z", ": x", "a: b", "a:", "- a", "-", "? a", "?", "#c", "a #c",
	" lead", "trail ", "\ttab", "a\tb", "a\nb", "a\n", "\n", "\n\na", "a\r\nb", "\r", "\x1b[31mred",
	`\xff`, `\u00e9`, `\n`, "\\", `"q"`, "'q'", "!tag", "&a", "*a", "%x", "@x", "`x", "[a]", "{a}",
	",", "|", ">", "---", "...", "--- a", "=", "<<", "é", "\u2028", "a\u0085b", "\ufeffbom", "\u00a0nbsp",
	"\xff\xfe", "a\x00b", "\u0085", "plain words", "nvidia-h100-sxm",
}

// yamlDoc is written by the streaming writer (a struct whose list is
// written an element at a time).
type yamlDoc struct {
	Name  string         `json:"name"`
	Items []any          `json:"items"`
	Meta  map[string]any `json:"meta"`
}

// yamlNest puts s in nested maps and lists, as a key and as a value.
func yamlNest(s string) map[string]any {
	return map[string]any{
		"value": s,
		s:       []any{s, map[string]any{"inner": s, s: []any{s}}, []any{[]any{s}}},
		"list":  []any{map[string]any{s: s}},
	}
}

// jsonValue is v as the writers see it: through encoding/json (which
// writes bytes that are not UTF-8 as U+FFFD).
func jsonValue(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// yamlOutput is one document -o yaml wrote, and the value it stands for.
type yamlOutput struct {
	out  []byte
	want any
}

// yamlOutputs is s, in nested maps and lists, written by each path -o
// yaml takes: render's streaming writer for a struct, its whole writer
// for anything else, and the paged writer of listings (s naming its list).
func yamlOutputs(t testing.TB, s string) map[string]yamlOutput {
	t.Helper()
	outs := map[string]yamlOutput{}
	doc := yamlDoc{Name: s, Items: []any{s, yamlNest(s), []any{s}}, Meta: yamlNest(s)}
	var b bytes.Buffer
	if err := render(&b, "yaml", doc, nil); err != nil {
		t.Fatalf("%q: streamed: %v", s, err)
	}
	outs["streamed"] = yamlOutput{bytes.Clone(b.Bytes()), jsonValue(t, doc)}
	b.Reset()
	if err := render(&b, "yaml", yamlNest(s), nil); err != nil {
		t.Fatalf("%q: whole: %v", s, err)
	}
	outs["whole"] = yamlOutput{bytes.Clone(b.Bytes()), jsonValue(t, yamlNest(s))}
	if s == "lead" {
		return outs // the listing's lead and its list would be one key
	}
	b.Reset()
	o, err := newPagedOut[any](&b, "yaml", s, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	o.lead("lead", yamlNest(s))
	page := []any{s, yamlNest(s)}
	if err := o.page(page); err != nil {
		t.Fatalf("%q: paged: %v", s, err)
	}
	if err := o.end(); err != nil {
		t.Fatalf("%q: paged: %v", s, err)
	}
	outs["paged"] = yamlOutput{bytes.Clone(b.Bytes()), jsonValue(t, map[string]any{"lead": yamlNest(s), s: page})}
	return outs
}

// checkYAMLReadsBack fails when some output of s does not read back, with
// the YAML library and with yaml.v3 (which reads Meridian's catalog), as
// what was written.
func checkYAMLReadsBack(t *testing.T, s string) {
	t.Helper()
	for path, o := range yamlOutputs(t, s) {
		for reader, read := range map[string]func([]byte, any) error{"goccy": yaml.Unmarshal, "yaml.v3": yamlv3.Unmarshal} {
			var got any
			if err := read(o.out, &got); err != nil {
				t.Errorf("%q: %s output does not read back with %s: %v\n%s", s, path, reader, err, o.out)
				continue
			}
			if g := normalYAML(got); !reflect.DeepEqual(g, o.want) {
				t.Errorf("%q: %s output reads back with %s as\n%#v\nwant\n%#v\noutput:\n%s", s, path, reader, g, o.want, o.out)
			}
		}
	}
}

// normalYAML is v as read from YAML with the maps' keys made strings
// (yaml.v3 reads a map into map[string]any only when every key is one).
func normalYAML(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = normalYAML(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = normalYAML(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalYAML(e)
		}
		return out
	}
	return v
}

// TestYAMLOutputRoundTrip: every string -o yaml writes, as a key or a
// value, in nested maps and lists, through each of its writers, reads
// back as the same string.
func TestYAMLOutputRoundTrip(t *testing.T) {
	for _, s := range yamlHostile {
		checkYAMLReadsBack(t, s)
	}
	// The strings together, in one document, as keys beside each other.
	all := map[string]any{}
	for _, s := range yamlHostile {
		all[s] = s
	}
	var b bytes.Buffer
	if err := render(&b, "yaml", yamlDoc{Name: "all", Items: []any{all}, Meta: all}, nil); err != nil {
		t.Fatal(err)
	}
	var got any
	if err := yaml.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("all: %v\n%s", err, b.Bytes())
	}
	if want := jsonValue(t, yamlDoc{Name: "all", Items: []any{all}, Meta: all}); !reflect.DeepEqual(normalYAML(got), want) {
		t.Errorf("all the strings in one document read back as another:\n%s", b.Bytes())
	}
	// A plain string stays plain: only what would not read back is quoted.
	b.Reset()
	if err := render(&b, "yaml", map[string]any{"site": "nvidia-h100-sxm", "reason": "plain words"}, nil); err != nil {
		t.Fatal(err)
	}
	if want := "reason: plain words\nsite: nvidia-h100-sxm\n"; b.String() != want {
		t.Errorf("plain strings written as %q, want %q", b.String(), want)
	}
}

// FuzzYAMLOutputRoundTrip: any string -o yaml writes reads back as itself.
func FuzzYAMLOutputRoundTrip(f *testing.F) {
	for _, s := range yamlHostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkYAMLReadsBack(t, s)
	})
}

// BenchmarkYAMLOutput writes the plan of a synthetic job at 2,000 sites
// as plan -o yaml does.
func BenchmarkYAMLOutput(b *testing.B) {
	jw, err := synth.WorldWith(2000, 4, 1, synth.JobNamed(synth.Jobs[0]))
	if err != nil {
		b.Fatal(err)
	}
	plan, err := planner.Make(jw, jw.Jobs[0], planner.Options{AsOf: catalog.MustDate("2025-06-01")})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := writeYAMLStream(io.Discard, plan); err != nil {
			b.Fatal(err)
		}
	}
}
