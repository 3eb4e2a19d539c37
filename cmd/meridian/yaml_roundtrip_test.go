package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
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
	t.Run("numbers", checkYAMLOutputNumbers)
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

// yamlNumbers are numbers as encoding/json writes them, among them floats
// it writes with an exponent and no dot (under 1e-6, from 1e21), and
// integers past 64 bits (a json.Number's text, written as its digits,
// quoted); "1e3" is a string.
var yamlNumbers = map[string]any{
	"done":     5e-7,
	"big":      2e21,
	"s":        "1e3",
	"tiny":     json.Number("5e-7"),
	"exp":      json.Number("2E+21"),
	"expdot":   json.Number("1.5e-7"),
	"zero":     0,
	"int":      42,
	"neg":      -17,
	"one":      json.Number("1.0"),
	"negzero":  json.Number("-0.0"),
	"negzeroi": json.Number("-0"),
	"half":     0.5,
	"million":  1234567.5,
	"small":    0.00001,
	"maxint":   int64(math.MaxInt64),
	"minint":   int64(math.MinInt64),
	"maxuint":  uint64(math.MaxUint64),
	"past64":   json.Number("18446744073709551616"),
	"pastneg":  json.Number("-9223372036854775809"),
	"huge":     json.Number("123456789012345678901234567890"),
	"hugeexp":  json.Number("1e300"),
	"maxfloat": math.MaxFloat64,
	"minfloat": math.SmallestNonzeroFloat64,
}

// pastInt64Bits says whether n is an integer that neither an int64 nor a
// uint64 holds.
func pastInt64Bits(n json.Number) bool {
	s := string(n)
	if strings.ContainsAny(s, ".eE") {
		return false
	}
	_, errI := strconv.ParseInt(s, 10, 64)
	_, errU := strconv.ParseUint(s, 10, 64)
	return errI != nil && errU != nil
}

// sameYAMLNumber says whether got, read back from YAML, is a number of the
// value of the JSON number want: exactly when both are integers, else as
// float64 (what both readers, and encoding/json, read a float as).
func sameYAMLNumber(got any, want json.Number) bool {
	var g *big.Int
	var gf float64
	switch got := got.(type) {
	case int:
		g, gf = big.NewInt(int64(got)), float64(got)
	case int64:
		g, gf = big.NewInt(got), float64(got)
	case uint64:
		g, gf = new(big.Int).SetUint64(got), float64(got)
	case float64:
		gf = got
	default:
		return false
	}
	if w, ok := new(big.Int).SetString(string(want), 10); ok && g != nil {
		return g.Cmp(w) == 0
	}
	wf, err := strconv.ParseFloat(string(want), 64)
	return err == nil && gf == wf
}

// checkYAMLNumbers fails unless each of yamlNumbers, written by each of
// -o yaml's writers, reads back with both readers as a number of its value
// (and "1e3" as the string).
func checkYAMLNumbers(t *testing.T, name string, out []byte, path func(any) map[string]any) {
	t.Helper()
	b, err := json.Marshal(yamlNumbers)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var want map[string]any
	if err := d.Decode(&want); err != nil {
		t.Fatal(err)
	}
	for reader, read := range map[string]func([]byte, any) error{"goccy": yaml.Unmarshal, "yaml.v3": yamlv3.Unmarshal} {
		var got any
		if err := read(out, &got); err != nil {
			t.Errorf("%s: output does not read back with %s: %v\n%s", name, reader, err, out)
			continue
		}
		m := path(normalYAML(got))
		for k, w := range want {
			switch w := w.(type) {
			case string:
				if m[k] != w {
					t.Errorf("%s: %s reads %s back as %#v, want the string %q\n%s", name, reader, k, m[k], w, out)
				}
			case json.Number:
				if pastInt64Bits(w) {
					// Its digits, kept whole as a string (a float would
					// round them), as -o yaml always wrote it.
					if m[k] != string(w) {
						t.Errorf("%s: %s reads %s back as %T %#v, want the string of its digits %s\n%s", name, reader, k, m[k], m[k], w, out)
					}
					continue
				}
				if !sameYAMLNumber(m[k], w) {
					t.Errorf("%s: %s reads %s back as %T %#v, want the number %s\n%s", name, reader, k, m[k], m[k], w, out)
				}
			}
		}
	}
}

// checkYAMLOutputNumbers: every number -o yaml writes reads back as a
// number of the same value, through each of its writers.
func checkYAMLOutputNumbers(t *testing.T) {
	asMap := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	var b bytes.Buffer
	if err := render(&b, "yaml", yamlDoc{Name: "n", Items: []any{yamlNumbers}, Meta: yamlNumbers}, nil); err != nil {
		t.Fatal(err)
	}
	checkYAMLNumbers(t, "streamed (list)", b.Bytes(), func(v any) map[string]any {
		l, _ := asMap(v)["items"].([]any)
		if len(l) != 1 {
			return nil
		}
		return asMap(l[0])
	})
	checkYAMLNumbers(t, "streamed (map)", b.Bytes(), func(v any) map[string]any { return asMap(asMap(v)["meta"]) })
	b.Reset()
	if err := render(&b, "yaml", yamlNumbers, nil); err != nil {
		t.Fatal(err)
	}
	checkYAMLNumbers(t, "whole", b.Bytes(), asMap)
	b.Reset()
	o, err := newPagedOut[any](&b, "yaml", "items", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	o.lead("lead", yamlNumbers)
	if err := o.page([]any{yamlNumbers}); err != nil {
		t.Fatal(err)
	}
	if err := o.end(); err != nil {
		t.Fatal(err)
	}
	checkYAMLNumbers(t, "paged (lead)", b.Bytes(), func(v any) map[string]any { return asMap(asMap(v)["lead"]) })
	checkYAMLNumbers(t, "paged (list)", b.Bytes(), func(v any) map[string]any {
		l, _ := asMap(v)["items"].([]any)
		if len(l) != 1 {
			return nil
		}
		return asMap(l[0])
	})
	// A key order is kept: the writers' JSON order, not the YAML library's.
	b.Reset()
	if err := render(&b, "yaml", struct {
		Z float64 `json:"z"`
		A float64 `json:"a"`
	}{5e-7, 1}, nil); err != nil {
		t.Fatal(err)
	}
	if want := "z: 5.0e-07\na: 1\n"; b.String() != want {
		t.Errorf("a struct written as %q, want %q", b.String(), want)
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

// TestYAMLPlainCacheBounded: the answers a writer keeps of which strings
// read back plain (one cache per worker of the streaming writer) hold at
// most 4,096 strings of at most 128 bytes, 512 KiB, however long the
// strings written. It kept strings of up to 1 KiB, 4 MiB a worker.
func TestYAMLPlainCacheBounded(t *testing.T) {
	var c plainCache
	for i := range 5000 {
		for _, n := range []int{100, 129, 1000} {
			s := fmt.Sprintf("%0*d", n, i)
			if !c.readsBackPlain("k" + s[1:]) {
				t.Fatalf("%q does not read back plain", s)
			}
		}
	}
	held := 0
	for s := range c.m {
		held += len(s)
	}
	if len(c.m) > 4096 || held > 4096*128 {
		t.Errorf("the cache holds %d strings, %d bytes; want at most 4096 strings and 512 KiB", len(c.m), held)
	}
}

// TestYAMLDuplicateJSONKey: a JSON object that names a key twice (an
// audit entry's payload, kept as the log holds it, from a log someone
// rewrote) is written by -o yaml with the last value, at the key's first
// place, as encoding/json reads it. Both items were written, and the YAML
// then read back with neither reader (a map may not repeat a key).
func TestYAMLDuplicateJSONKey(t *testing.T) {
	raw := json.RawMessage(`{"a":"one","b":{"x":"one","y":[{"z":"one","z":"two"}],"x":"two"},"a":{"c":"three"},"d":"four"}`)
	docs := map[string]any{
		"whole":    map[string]any{"payload": raw},
		"streamed": yamlDoc{Name: "entry", Items: []any{raw}, Meta: map[string]any{"payload": raw}},
	}
	for name, doc := range docs {
		var b bytes.Buffer
		if err := render(&b, "yaml", doc, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantDoc := jsonValue(t, doc)
		for reader, read := range map[string]func([]byte, any) error{"goccy": yaml.Unmarshal, "yaml.v3": yamlv3.Unmarshal} {
			var got any
			if err := read(b.Bytes(), &got); err != nil {
				t.Errorf("%s: output does not read back with %s: %v\n%s", name, reader, err, b.Bytes())
				continue
			}
			if g := normalYAML(got); !reflect.DeepEqual(g, wantDoc) {
				t.Errorf("%s: output reads back with %s as\n%#v\nwant\n%#v\noutput:\n%s", name, reader, g, wantDoc, b.Bytes())
			}
		}
	}
	// The key keeps its first place: "a" before "b", its value the last.
	out, err := jsonToYAML(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, wantText := string(out), "a:\n  c: three\nb:\n  x: two\n  \"y\":\n  - z: two\nd: four\n"; got != wantText {
		t.Errorf("jsonToYAML(%s) =\n%s\nwant\n%s", raw, got, wantText)
	}
	// An object of many keys (looked up in a map, not along the object).
	var long, wantLong strings.Builder
	long.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&long, `"k%02d":"first",`, i)
		fmt.Fprintf(&wantLong, "k%02d: %s\n", i, map[bool]string{true: "last", false: "first"}[i%7 == 3])
	}
	for i := 3; i < 40; i += 7 {
		fmt.Fprintf(&long, `"k%02d":"last",`, i)
	}
	longJSON := strings.TrimSuffix(long.String(), ",") + "}"
	out, err = jsonToYAML([]byte(longJSON), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != wantLong.String() {
		t.Errorf("jsonToYAML(%s) =\n%s\nwant\n%s", longJSON, out, wantLong.String())
	}
}
