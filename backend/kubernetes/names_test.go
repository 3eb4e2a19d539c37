package kubernetes

import (
	"regexp"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestJobNameIsAValidDistinctLabel(t *testing.T) {
	ids := []string{"r1", "R1", "r_1", "r.1", "a", strings.Repeat("x", 64), strings.Repeat("y", 63) + "Z", "run-2026-12-02.lr_3e-4"}
	seen := map[string]string{}
	for _, id := range ids {
		for _, attempt := range []int{0, 1, 1234567890} {
			n := JobName(id, attempt)
			if len(n) > 63 || !dns1123Label.MatchString(n) {
				t.Errorf("JobName(%q, %d) = %q: not a DNS label of at most 63", id, attempt, n)
			}
			if validHandle(n) != nil {
				t.Errorf("JobName(%q, %d) = %q is not accepted as a handle", id, attempt, n)
			}
			if other, dup := seen[n]; dup {
				t.Errorf("JobName gives %q for both %s and %q/%d", n, other, id, attempt)
			}
			seen[n] = id
			if again := JobName(id, attempt); again != n {
				t.Errorf("JobName(%q, %d) not deterministic: %q then %q", id, attempt, n, again)
			}
		}
	}
}

func FuzzJobName(f *testing.F) {
	for _, s := range []string{"r1", "R_1.x", "-", strings.Repeat("Ab_", 22)} {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, id string, attempt int) {
		if backend.ValidRunID(id) != nil || attempt < 0 {
			return
		}
		n := JobName(id, attempt)
		if len(n) > 63 || !dns1123Label.MatchString(n) || validHandle(n) != nil {
			t.Fatalf("JobName(%q, %d) = %q: not a valid Job name and handle", id, attempt, n)
		}
		if l := runLabel(id); len(l) > 63 || !labelValue.MatchString(l) {
			t.Fatalf("runLabel(%q) = %q: not a label value", id, l)
		}
	})
}

func TestHandlesThatAreNotJobNames(t *testing.T) {
	for _, h := range []string{"", "../../etc", "999999999", "no-such-job-0", "m-", "M-abcdef01-1", "m-xx-abcdef01-1/x"} {
		if validHandle(h) == nil {
			t.Errorf("validHandle(%q) accepted it", h)
		}
	}
}

func TestShapeSplitsOverNodes(t *testing.T) {
	for _, c := range []struct{ n, per, pods, each int64 }{
		{0, 8, 1, 0}, {1, 8, 1, 1}, {8, 8, 1, 8}, {12, 8, 2, 6}, {16, 8, 2, 8}, {9, 8, 3, 3},
		{7, 4, 7, 1}, {64, 8, 8, 8}, {10, 8, 2, 5},
	} {
		pods, each := shape(c.n, c.per)
		if pods != c.pods || each != c.each {
			t.Errorf("shape(%d, %d) = %d pods × %d, want %d × %d", c.n, c.per, pods, each, c.pods, c.each)
		}
		if pods*each != c.n && c.n > 0 || each > c.per {
			t.Errorf("shape(%d, %d) = %d × %d does not split %d over nodes of %d", c.n, c.per, pods, each, c.n, c.per)
		}
	}
}
