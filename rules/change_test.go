package rules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
)

// TestChangeNamingAFileTwiceRefused: a change listing one file name twice
// applied the last of the two unseen, and one removing and adding a name
// did both; each is refused, naming both fields.
func TestChangeNamingAFileTwiceRefused(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	s, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := pack("org.yaml", "org-deny-xa", "XA", "2024-01-01")
	b := pack("org.yaml", "org-deny-xb", "XB", "2024-01-01")
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{a}}, "admin", "first", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []Change{
		{Files: []policy.File{b, a}},
		{Files: []policy.File{b}, Remove: []string{"org.yaml"}},
		{Remove: []string{"org.yaml", "org.yaml"}},
	} {
		_, _, err := s.Apply(ctx, ch, "admin", "twice", time.Now())
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "too") {
			t.Errorf("change %+v: %v, want a field error naming the other field", ch.Remove, err)
		}
	}
	if s.Current().Rev != 1 {
		t.Errorf("revision %d after refused changes, want 1", s.Current().Rev)
	}
}
