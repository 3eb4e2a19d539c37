package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// paddedRules is a rule file of n org-policy rules, each message padded to
// pad characters: a file near the loader's bounds.
func paddedRules(n, pad int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: many}\n")
	b.WriteString("definitions:\n  - {name: near, expr: \"site.country in ['SG', 'MY']\", source: stop_test.go}\nrules:\n")
	for i := range n {
		fmt.Fprintf(&b, `  - id: many-%d
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [stop_test.go]
    message: "site {site.name} %s"
    condition: "def.near && site.country == 'X%d'"
`, i, strings.Repeat("x", pad), i)
	}
	return []byte(b.String())
}

// endsAfter is a context that is live for its first n looks (Err) and
// cancelled from then on: a request whose client leaves while its work
// is under way, at a point the test chooses without a clock.
type endsAfter struct {
	context.Context
	mu    sync.Mutex
	n     int
	done  chan struct{}
	ended bool
}

func newEndsAfter(n int) *endsAfter {
	return &endsAfter{Context: context.Background(), n: n, done: make(chan struct{})}
}

func (c *endsAfter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n > 0 {
		c.n--
		return nil
	}
	if !c.ended {
		c.ended = true
		close(c.done)
	}
	return context.Canceled
}

func (c *endsAfter) Done() <-chan struct{} { return c.done }

// TestParseStopsWithinAFile: a request that ends while one large rule
// file is being read (rules diff reads a revision's files) stops reading
// it, rather than parsing and checking all its rules first, and says the
// request ended: not a problem of the file.
func TestParseStopsWithinAFile(t *testing.T) {
	files := []File{{Name: "many.yaml", Data: paddedRules(500, 200)}}
	if _, err := Parse(context.Background(), Options{NoBuiltin: true, Files: files}); err != nil {
		t.Fatalf("the file does not parse: %v", err)
	}
	for _, n := range []int{1, 2, 3, 4, 50} {
		_, err := Parse(newEndsAfter(n), Options{NoBuiltin: true, Files: files})
		var ps Problems
		if !errors.Is(err, context.Canceled) || errors.As(err, &ps) {
			t.Errorf("ended after %d looks: err %v, want the request's end (context.Canceled), not Problems", n, err)
		}
	}
}

// TestNewStopsWithContext: a load for a request (rules apply, what-if)
// stops when the request ends, wherever it is: reading a file, or
// compiling the conditions of the files it read; a load whose request
// lives on is the load New does.
func TestNewStopsWithContext(t *testing.T) {
	files := []File{{Name: "many.yaml", Data: paddedRules(500, 200)}}
	e, err := NewContext(context.Background(), Options{NoBuiltin: true, Files: files})
	if err != nil || len(e.rules) != 500 {
		t.Fatalf("the file does not load: %v", err)
	}
	for _, n := range []int{1, 3, 50} {
		_, err := NewContext(newEndsAfter(n), Options{NoBuiltin: true, Files: files})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ended after %d looks: err %v, want context.Canceled", n, err)
		}
	}
	// Ended once every file has been read: compiling stops too.
	p, err := ParsePack("many.yaml", files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ps, err := compileContext(ctx, []*Pack{p}); !errors.Is(err, context.Canceled) || len(ps) > 0 {
		t.Errorf("compiling for an ended request: problems %v, err %v, want context.Canceled", ps, err)
	}
	if e, ps, err := compileContext(newEndsAfter(100), []*Pack{p}); !errors.Is(err, context.Canceled) || e != nil {
		t.Errorf("compiling for a request that ends among the rules: engine %v, problems %v, err %v, want context.Canceled", e != nil, ps, err)
	}
}

// BenchmarkParseAbandoned is the work a rules diff does for a request
// that ends as its revision's one file, near the bounds, goes to the YAML
// parser (the third look): the longest stretch that cannot stop.
func BenchmarkParseAbandoned(b *testing.B) {
	files := []File{{Name: "many.yaml", Data: paddedRules(4000, 700)}}
	b.SetBytes(int64(len(files[0].Data)))
	for b.Loop() {
		_, _ = Parse(newEndsAfter(3), Options{NoBuiltin: true, Files: files})
	}
}

// BenchmarkParsePackLarge reads one rule file near the bounds in full.
func BenchmarkParsePackLarge(b *testing.B) {
	data := paddedRules(4000, 700)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParsePack("many.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePackWorstShape reads the costliest shape of rule file
// found within the bounds: one rule whose message is a plain scalar
// folded over short lines up to MaxPackBytes. The YAML library's cost
// goes with lines more than bytes: this takes about twice as long as
// paddedRules' file of quoted messages, and cannot stop part-way (its
// scanner reads the whole document in one call).
func BenchmarkParsePackWorstShape(b *testing.B) {
	one := string(paddedRules(1, 0))
	at := strings.Index(one, "    message:")
	end := at + strings.Index(one[at:], "\n") + 1
	var s strings.Builder
	s.WriteString(one[:at] + "    message: site {site.name}\n")
	line := "      w\n"
	for s.Len()+len(line)+len(one)-end <= MaxPackBytes {
		s.WriteString(line)
	}
	s.WriteString(one[end:])
	data := []byte(s.String())
	if _, err := ParsePack("worst.yaml", data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParsePack("worst.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
