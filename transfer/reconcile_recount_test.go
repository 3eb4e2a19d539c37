package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// failKind is a ledger that refuses to append records of one kind.
type failKind struct {
	Ledger
	kind string
}

func (l failKind) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if kind == l.kind {
		return errors.New("the ledger is down")
	}
	return l.Ledger.Append(ctx, tenant, kind, runID, payload)
}

// TestReconcileCountsAKilledWriteOnce: a reconcile counted the temporary
// file a killed write of a chunk left at the site (partial), and was
// killed before it removed it; a later copy's write of the same chunk was
// cut too, leaving a second one. The next reconcile counted the most any
// of them held: the first one's bytes again (an overcount), the second's
// not at all. Now a write already counted counts only for the bytes it
// holds beyond those counted: each crossing is counted once, and one
// found grown counts for what it gained (never an undercount).
func TestReconcileCountsAKilledWriteOnce(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		first, grown, second int // eighths of the chunk
		want                 int // eighths counted in all
	}{
		{"second-write-smaller", 6, 6, 2, 6 + 2},
		{"second-write-larger", 2, 2, 6, 2 + 6},
		{"first-grown", 2, 5, 1, 2 + 3 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 6, 200<<10, "")
			ctx := context.Background()
			lacking, obj, cut := cutStagingLacking(t, f)
			eighth := int(obj.Bytes / 8)
			first := plantTemp(t, f, obj.Key, "0123456789abcdef", tc.first*eighth)

			site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
			if err != nil {
				t.Fatal(err)
			}
			defer site.Close()
			key, _ := f.keys.Get("chat-logs")
			sealer, _ := seal.New(key, "chat-logs")
			cr := CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}}
			// Killed once the part is counted, before it is removed.
			s := f.stager()
			s.Ledger = failKind{f.ledger, KindAbandoned}
			if _, err := s.Reconcile(ctx, cr); err == nil {
				t.Fatal("reconcile with the ledger refusing abandonments returned no error")
			}
			if _, err := os.Stat(first); err != nil {
				t.Fatalf("the counted part is gone after the kill: %v", err)
			}
			if tc.grown != tc.first {
				if err := os.WriteFile(first, make([]byte, tc.grown*eighth), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Another write of the same chunk, cut too, under an intent
			// of the same staging (as a failed batch's intent of what it
			// did not send is): that staging wrote nothing after the
			// count, so the counted write is taken for itself.
			in := Intent{ID: "second-write", Entry: lacking.Entry, Objects: []Object{obj}}
			if err := f.ledger.Append(ctx, "", KindIntent, "", in); err != nil {
				t.Fatal(err)
			}
			second := plantTemp(t, f, obj.Key, "fedcba9876543210", tc.second*eighth)
			if _, err := f.stager().Reconcile(ctx, cr); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{first, second} {
				if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s still at the site after the reconcile: %v", filepath.Base(p), err)
				}
			}
			_, ents, err := ReadFileLedger(f.ledger.Path, "chat-logs")
			if err != nil {
				t.Fatal(err)
			}
			var got int64
			for _, e := range ents[len(cut):] {
				for _, p := range e.Partial {
					if p.Key == obj.Key {
						got += p.Bytes
					}
				}
			}
			if want := int64(tc.want * eighth); got != want {
				t.Fatalf("the ledger counts %d bytes of parts of %s; %d crossed (%d eighths)", got, obj.Key, want, tc.want)
			}
		})
	}
}

// TestCountedWritesRememberedWithinABound: the writes a view remembers as
// counted for a dataset at a site are bounded (maxCounted), the oldest
// forgotten first; a write counted again keeps the most bytes counted.
func TestCountedWritesRememberedWithinABound(t *testing.T) {
	defer func(n int) { maxCounted = n }(maxCounted)
	maxCounted = 2
	v := newView()
	for i, w := range []CountedWrite{{ID: "temp:a", Bytes: 5}, {ID: "temp:b", Bytes: 6}, {ID: "temp:b", Bytes: 3}, {ID: "temp:c", Bytes: 7}} {
		e := Entry{Kind: KindDataset, Dataset: "chat-logs", Site: "s1", Intent: "i", Reconciled: true, Counted: []CountedWrite{w}}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.apply(Record{Seq: int64(i + 1), Kind: KindTransfer, Payload: raw}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int64{}
	for ref, c := range v.countedWrites(KindDataset, "chat-logs", "s1") {
		got[ref] = c.bytes
	}
	if want := map[string]int64{"temp:b": 6, "temp:c": 7}; !maps.Equal(got, want) {
		t.Fatalf("writes remembered as counted: %v; want %v", got, want)
	}
}
