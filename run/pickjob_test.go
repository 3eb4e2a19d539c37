package run

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestPickJobErrorBounded: a request naming no job, or one its files do
// not hold, was answered with every job name the files held: a file of a
// hundred thousand jobs made an error (and an API answer, a log line) of
// megabytes. The error lists the first names, sorted, and counts the rest.
func TestPickJobErrorBounded(t *testing.T) {
	w := &catalog.World{}
	const n = 5000
	for i := range n {
		j := &catalog.TrainingJob{}
		j.Metadata.Name = fmt.Sprintf("job-%05d-%s", i, strings.Repeat("x", 200))
		w.Jobs = append(w.Jobs, j)
	}
	for _, name := range []string{"", "missing"} {
		_, err := PickJob(w, name)
		if err == nil {
			t.Fatalf("job %q: picked one of %d", name, n)
		}
		msg := err.Error()
		if len(msg) > 8<<10 || !strings.Contains(msg, "job-00000-") || !strings.Contains(msg, fmt.Sprintf("and %d more", n-maxJobNames)) {
			t.Errorf("job %q: an error of %d bytes (%.200s…), want the first names and a count of the rest", name, len(msg), msg)
		}
	}
}
