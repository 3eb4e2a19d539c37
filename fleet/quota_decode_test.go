package fleet

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// TestParseQuotasDecodesOnce: reading a quotas file decoded each document
// twice, once for the quota and once more as written, to find numbers
// with a fraction and empty documents: twice the allocations of a
// decoding (a file reloaded by an operator, read on every start). It
// decodes each once: its allocations stay within half as many again as
// those of decoding the documents into Quota once.
func TestParseQuotasDecodesOnce(t *testing.T) {
	data, accs := cohortQuotasYAML(100), accelerators(t)
	once := testing.AllocsPerRun(5, func() {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var q Quota
			if err := dec.Decode(&q); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				return
			}
		}
	})
	parse := testing.AllocsPerRun(5, func() {
		if _, err := ParseQuotas("quotas.yaml", data, accs); err != nil {
			t.Fatal(err)
		}
	})
	if parse > 1.5*once {
		t.Errorf("reading 100 quotas allocates %v times, decoding them once %v: the documents are decoded more than once", parse, once)
	}
}

// TestQuotaDocIsQuota: quotaDoc, which a Quota document is decoded into,
// has Quota's fields, each of Family's included, by their YAML names: a
// field added to Quota and not to it would be refused as unknown.
func TestQuotaDocIsQuota(t *testing.T) {
	var fields func(t reflect.Type, prefix string, out map[string]bool)
	fields = func(t reflect.Type, prefix string, out map[string]bool) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[count]() {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			out[prefix+name] = true
			fields(f.Type, prefix+name+".", out)
		}
	}
	want, got := map[string]bool{}, map[string]bool{}
	fields(reflect.TypeFor[Quota](), "", want)
	fields(reflect.TypeFor[quotaDoc](), "", got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("quotaDoc's fields %v, Quota's %v", got, want)
	}
	if !want["spec.families.borrowingLimit"] {
		t.Errorf("the fields read: %v", want)
	}
}
