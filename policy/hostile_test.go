package policy

import (
	"strings"
	"testing"
)

// TestHostilePackYAML: a rule file built to make the YAML parser work
// (deep nesting, an alias bomb) is refused by the bounded parser before
// the pack parser sees it, naming the file and the limit. The pack parser
// alone took over four minutes on the deep file.
func TestHostilePackYAML(t *testing.T) {
	bomb := "apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: bomb}\n" +
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		bomb += n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 10), ", ") + "]\n"
		prev = n
	}
	for _, c := range []struct{ name, doc, want string }{
		{"deep.yaml", strings.Repeat("[", 50000) + strings.Repeat("]", 50000), "nested deeper than"},
		{"deep-block.yaml", func() string {
			var b strings.Builder
			for i := range 2000 {
				b.WriteString(strings.Repeat(" ", i) + "a:\n")
			}
			return b.String()
		}(), "nested deeper than"},
		{"bomb.yaml", bomb, "alias"},
	} {
		_, err := ParsePack(c.name, []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming the file and %q", c.name, err, c.want)
		}
	}
}

// BenchmarkBuiltinLoad is the cost of loading the built-in packs, the
// bounded YAML check included.
func BenchmarkBuiltinLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Builtin(); err != nil {
			b.Fatal(err)
		}
	}
}
