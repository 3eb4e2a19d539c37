package policy

import "testing"

// TestFindingText: a line that prints the rule and the source beside the
// message showed both twice ("rule r: r: … (source: S) (source: S)").
func TestFindingText(t *testing.T) {
	for _, c := range []struct {
		f    Finding
		want string
	}{
		{Finding{Rule: "r-1", Message: "r-1: data may not leave (source: Act 3)", Source: "Act 3"}, "data may not leave"},
		// A later revision cites more than the message embeds.
		{Finding{Rule: "r-1", Message: "r-1: data may not leave (source: Act 3)", Source: "Act 3; Measures 2026"}, "data may not leave"},
		// A parenthesis that is not the finding's source stays.
		{Finding{Rule: "r-1", Message: "r-1: needs consent (source: a survey)", Source: "Act 3"}, "needs consent (source: a survey)"},
		{Finding{Rule: "r-1", Message: "another rule r-2: says so", Source: "Act 3"}, "another rule r-2: says so"},
	} {
		if got := c.f.Text(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.f, got, c.want)
		}
	}
}
