package run

import (
	"context"
	"errors"
	"sync"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// pageReads is a store that notes the most runs one list of active runs
// returned, and every run such lists returned.
type pageReads struct {
	store.Store
	mu   sync.Mutex
	most int
	seen map[string]bool
}

func (p *pageReads) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	rows, err := p.Store.ListRuns(ctx, o)
	if o.Active {
		p.mu.Lock()
		p.most = max(p.most, len(rows))
		for _, r := range rows {
			p.seen[r.ID] = true
		}
		p.mu.Unlock()
	}
	return rows, err
}

func (p *pageReads) reset() (most int, seen int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	most, seen = p.most, len(p.seen)
	p.most, p.seen = 0, map[string]bool{}
	return most, seen
}

// TestActiveRunsPaged: the loop's pass, the law check and a what-if each
// listed every active run of every tenant, documents and all, in one read:
// the memory of each pass grew with all of them. They now read them a page
// (activePage) at a time, and still come to every run.
func TestActiveRunsPaged(t *testing.T) {
	old := activePage
	activePage = 2
	t.Cleanup(func() { activePage = old })
	reads := &pageReads{seen: map[string]bool{}}
	f := newLawCheckFixture(t, func(st store.Store) store.Store { reads.Store = st; return reads })
	// Sites that do not answer: its steps start no job.
	c := f.controller(func(cfg *Config) {
		cfg.Backends = func(*catalog.Site, string) (backend.Backend, error) { return nil, errors.New("test: no site") }
	})
	ctx := context.Background()
	const n = 5
	for range n {
		if _, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 1000)}}); err != nil {
			t.Fatal(err)
		}
	}
	reads.reset()
	res, err := c.recheckAll(ctx, c.lawNow())
	if err != nil {
		t.Fatal(err)
	}
	if most, _ := reads.reset(); most > activePage || res.Runs != n {
		t.Errorf("the law check read %d active runs at once and judged %d; want at most %d at once, all %d judged", most, res.Runs, activePage, n)
	}
	rep, err := c.WhatIf(ctx, c.lawNow(), c.cfg.Plan, c.today())
	if err != nil {
		t.Fatal(err)
	}
	if most, _ := reads.reset(); most > activePage || len(rep.Runs) != n {
		t.Errorf("a what-if read %d active runs at once and reported %d; want at most %d at once, all %d reported", most, len(rep.Runs), activePage, n)
	}
	// Last: its steps, at sites that do not answer, end the runs.
	c.Tick(ctx)
	if most, seen := reads.reset(); most > activePage || seen != n {
		t.Errorf("a pass of the loop read %d active runs at once, %d in all; want at most %d at once, all %d", most, seen, activePage, n)
	}
}
