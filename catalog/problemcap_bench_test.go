package catalog

import (
	"strings"
	"testing"
)

// BenchmarkDecodeManyBadDocuments measures refusing a 1.4 MB file of
// 99,000 broken documents, as a plan's body: decode it and write its
// problems (TestProblemsCappedPerFile).
func BenchmarkDecodeManyBadDocuments(b *testing.B) {
	body := []byte(strings.Repeat("kind: Site\n---\n", 99_000))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_, err := Decode("plan.yaml", body)
		if err == nil {
			b.Fatal("accepted")
		}
		_ = err.Error()
	}
}
