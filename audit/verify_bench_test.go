package audit

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkVerifySource verifies a log of 4,000 entries of 4 KiB (16 MiB)
// read as verification reads a store's, a page of 1,000 at a time: the
// time a store's verification holds its snapshot, less the reads.
func BenchmarkVerifySource(b *testing.B) {
	c := NewChain([]byte("0123456789abcdef"))
	const n = 4000
	es := make([]Entry, 0, n)
	var prev *Entry
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pad := strings.Repeat("x", 4<<10)
	for i := 0; i < n; i++ {
		rec, err := NewRecord(KindTransfer, "r1", map[string]any{"i": i, "pad": pad})
		if err != nil {
			b.Fatal(err)
		}
		es = append(es, c.Seal(prev, t0.Add(time.Duration(i)*time.Millisecond), rec))
		prev = &es[len(es)-1]
	}
	src := pagedSource{Source: SliceSource(es), entries: es, page: 1000}
	b.SetBytes(int64(n * len(pad)))
	b.ResetTimer()
	for range b.N {
		if r, err := c.VerifySource(src); err != nil || !r.OK {
			b.Fatal(r, err)
		}
	}
}

// pagedSource reads entries page entries at a time.
type pagedSource struct {
	Source
	entries []Entry
	page    int
}

func (s pagedSource) Read(kind string, fn func([]Entry) error) error {
	if kind != "" {
		return s.Source.Read(kind, fn)
	}
	for i := 0; i < len(s.entries); i += s.page {
		if err := fn(s.entries[i:min(i+s.page, len(s.entries))]); err != nil {
			return err
		}
	}
	return nil
}
