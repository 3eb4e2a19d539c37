package audit

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func chainOf(t *testing.T, c *Chain, n int) []Entry {
	t.Helper()
	var out []Entry
	var prev *Entry
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < n; i++ {
		rec, err := NewRecord(KindState, "r1", map[string]any{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		e := c.Seal(prev, t0.Add(time.Duration(i)*time.Second), rec)
		out = append(out, e)
		prev = &out[len(out)-1]
	}
	return out
}

func TestVerify(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	tests := []struct {
		name string
		edit func([]Entry) []Entry
		want *Problem
	}{
		{"intact", func(es []Entry) []Entry { return es }, nil},
		{"modified payload", func(es []Entry) []Entry {
			es[3].Payload = []byte(`{"i":99}`)
			return es
		}, &Problem{Seq: 4, Kind: Modified}},
		{"modified kind", func(es []Entry) []Entry {
			es[1].Kind = KindPlan
			return es
		}, &Problem{Seq: 2, Kind: Modified}},
		{"deleted middle", func(es []Entry) []Entry {
			return append(es[:2:2], es[3:]...)
		}, &Problem{Seq: 3, Kind: Deleted}},
		{"deleted first", func(es []Entry) []Entry { return es[1:] }, &Problem{Seq: 1, Kind: Deleted}},
		{"swapped contents", func(es []Entry) []Entry {
			a, b := es[2], es[3]
			es[2], es[3] = b, a
			es[2].Seq, es[3].Seq = 3, 4
			return es
		}, &Problem{Seq: 3, Kind: Reordered}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.edit(chainOf(t, c, 6))
			got := c.Verify(es)
			if tc.want == nil {
				if !got.OK || got.Problem != nil || got.Head != es[len(es)-1].Hash {
					t.Fatalf("intact chain: got %+v", got)
				}
				return
			}
			if got.OK || got.Problem == nil {
				t.Fatalf("tampered chain verified: %+v", got)
			}
			p := *got.Problem
			p.Detail, p.Found = "", nil // what the break pins is tested in accepted_test.go
			if diff := cmp.Diff(*tc.want, p); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyWrongKey(t *testing.T) {
	es := chainOf(t, NewChain([]byte("0123456789abcdef")), 3)
	got := NewChain([]byte("another key 1234")).Verify(es)
	if got.OK || got.Problem.Seq != 1 {
		t.Fatalf("chain verified under a different key: %+v", got)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k1, k2); diff != "" || len(k1) != 32 {
		t.Errorf("second load differs or wrong length %d: %s", len(k1), diff)
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o644)
	if _, err := LoadKey(dir); err == nil {
		t.Error("a world-readable key file was accepted")
	}
}

type memAppender struct{ recs []Record }

func (m *memAppender) AppendAudit(_ context.Context, recs ...Record) error {
	m.recs = append(m.recs, recs...)
	return nil
}

func TestLogAppend(t *testing.T) {
	m := &memAppender{}
	l := NewLog(m)
	if err := l.Append(context.Background(), KindTransfer, "r9", map[string]string{"from": "CN", "to": "MY"}); err != nil {
		t.Fatal(err)
	}
	want := []Record{{Kind: KindTransfer, RunID: "r9", Payload: []byte(`{"from":"CN","to":"MY"}`)}}
	if diff := cmp.Diff(want, m.recs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := l.Append(context.Background(), "", "r9", nil); err == nil {
		t.Error("empty kind accepted")
	}
	if err := l.Append(context.Background(), KindTransfer, "r9", func() {}); err == nil {
		t.Error("unmarshalable payload accepted")
	}
}

// FuzzVerify feeds arbitrary entry lists to Verify: it must not panic, and
// it must never call a list intact unless every hash checks out.
func FuzzVerify(f *testing.F) {
	c := NewChain([]byte("0123456789abcdef"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var es []Entry
		if json.Unmarshal(data, &es) != nil {
			return
		}
		res := c.Verify(es)
		if res.OK {
			prev := Genesis
			for i, e := range es {
				if e.Seq != int64(i)+1 || e.PrevHash != prev || c.sum(e, e.Seq) != e.Hash {
					t.Fatalf("verified a broken chain at %d", i)
				}
				prev = e.Hash
			}
		}
	})
}
