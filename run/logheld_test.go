package run

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// unsizedLogs is a backend whose scheduler keeps size bytes of output for
// every job and tells no size before it is read (a running pod's log):
// it has Logs only, and counts the bytes it serves.
type unsizedLogs struct {
	backend.Backend
	size   int64
	served *atomic.Int64
}

func (u unsizedLogs) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	return io.NopCloser(countingReader{io.LimitReader(&madeUpOutput{}, u.size), u.served}), nil
}

// heldSiteOutput is what the reader rc holds in memory of the sites'
// schedulers' output, counted from its parts.
func heldSiteOutput(t *testing.T, rc io.ReadCloser) int {
	t.Helper()
	lr, ok := rc.(*logReader)
	if !ok {
		t.Fatalf("the reader is a %T", rc)
	}
	n := 0
	for _, p := range lr.parts {
		if p.be != nil {
			n += len(p.b)
		}
	}
	return n
}

// TestOpenLogsHoldBoundedPerTenant: many readers of one tenant, opened
// at once and left unread (slow clients), of 16 MiB of a site's output of
// unknown size, hold no more of it together than logTenantHold; each
// held up to logHold (16 MiB) before, eight 128 MiB. Each still reads the
// whole output, byte for byte, and the tenant's room comes back when they
// are closed.
func TestOpenLogsHoldBoundedPerTenant(t *testing.T) {
	var served atomic.Int64
	size := int64(16 << 20)
	e := newEnv(t, func(c *Config) {
		c.LogLimit = size
		made := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := made(site, root)
			return unsizedLogs{Backend: b, size: size, served: &served}, err
		}
	})
	r, header := endedRun(t, e)
	whole := append([]byte(header), make([]byte, size)...)
	io.ReadFull(&madeUpOutput{}, whole[len(header):])
	var readers []io.ReadCloser
	held := 0
	for range 8 {
		rc, got, err := e.c.OpenLogs(context.Background(), "t1", r.ID, 0, math.MaxInt64)
		if err != nil || got != int64(len(whole)) {
			t.Fatalf("open: size %d of %d, %v", got, len(whole), err)
		}
		readers = append(readers, rc)
		held += heldSiteOutput(t, rc)
	}
	if held > logTenantHold {
		t.Errorf("8 readers of one tenant hold %d MiB of the site's output, more than the %d MiB a tenant may", held>>20, logTenantHold>>20)
	}
	if n := e.c.logHolds.of("t1"); n != held {
		t.Errorf("the tenant's count says %d bytes held, the readers hold %d", n, held)
	}
	for i, rc := range readers {
		var page bytes.Buffer
		_, err := io.Copy(&page, rc)
		if err != nil || !bytes.Equal(page.Bytes(), whole) {
			t.Errorf("reader %d: %d bytes (%v), want the %d of the output", i, page.Len(), err, len(whole))
		}
		rc.Close()
		rc.Close()
	}
	if n := e.c.logHolds.of("t1"); n != 0 {
		t.Errorf("%d bytes still counted held after every reader was closed", n)
	}
}

// togetherLogs is unsizedLogs whose first n outputs opened are read only
// once all n are open: n readers of the site's output at once.
type togetherLogs struct {
	unsizedLogs
	n      int
	mu     *sync.Mutex
	opened *int
	all    chan struct{}
}

func (g togetherLogs) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	rc, err := g.unsizedLogs.Logs(ctx, handle)
	g.mu.Lock()
	if *g.opened++; *g.opened == g.n {
		close(g.all)
	}
	first := *g.opened <= g.n
	g.mu.Unlock()
	if !first {
		return rc, err
	}
	return waitingReader{rc, g.all}, err
}

// waitingReader reads once all is closed.
type waitingReader struct {
	io.ReadCloser
	all chan struct{}
}

func (w waitingReader) Read(b []byte) (int, error) {
	<-w.all
	return w.ReadCloser.Read(b)
}

// TestOpenLogsFollowersReadTheSiteOnce: 16 followers of one tenant
// (Streams.PerTenant) of a site's output of unknown size, each a round
// that asks for the last 100 bytes with no limit, reading the site at
// once, each read the output once and keep what they want. Before, room
// was booked for the most a read might keep (16 MiB for a limit of
// MaxInt64), not what it kept: the third and later found none, kept
// nothing, and read the site's output again, whole, when read: twice each
// round.
func TestOpenLogsFollowersReadTheSiteOnce(t *testing.T) {
	const followers = 16
	var served atomic.Int64
	var mu sync.Mutex
	opened := 0
	all := make(chan struct{})
	size := int64(4 << 20)
	e := newEnv(t, func(c *Config) {
		c.LogLimit = size
		made := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := made(site, root)
			return togetherLogs{unsizedLogs{Backend: b, size: size, served: &served}, followers, &mu, &opened, all}, err
		}
	})
	r, header := endedRun(t, e)
	whole := append([]byte(header), make([]byte, size)...)
	io.ReadFull(&madeUpOutput{}, whole[len(header):])
	off := int64(len(whole)) - 100
	readers := make([]io.ReadCloser, followers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, got, err := e.c.OpenLogs(context.Background(), "t1", r.ID, off, math.MaxInt64)
			if err != nil || got != int64(len(whole)) {
				t.Errorf("open: size %d of %d, %v", got, len(whole), err)
				return
			}
			readers[i] = rc
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	kept := 0
	for _, rc := range readers {
		for _, p := range rc.(*logReader).parts {
			if p.be != nil {
				kept += cap(p.b)
			}
		}
	}
	if n := e.c.logHolds.of("t1"); n > kept || n > logTenantHold {
		t.Errorf("the tenant's count says %d bytes held, the readers keep %d (the tenant may %d)", n, kept, logTenantHold)
	}
	for i, rc := range readers {
		page, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(page, whole[off:]) {
			t.Errorf("reader %d: %d bytes (%v), want the last 100 of the output", i, len(page), err)
		}
		rc.Close()
	}
	if n := served.Load(); n != followers*size {
		t.Errorf("%d readers at once were served %.1f times the site's output, want each once (%d)", followers, float64(n)/float64(size), followers)
	}
	if n := e.c.logHolds.of("t1"); n != 0 {
		t.Errorf("%d bytes still counted held after every reader was closed", n)
	}
}

// panickyLogs is unsizedLogs whose output's reader panics after some
// bytes: a backend's bug.
type panickyLogs struct{ unsizedLogs }

func (p panickyLogs) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	rc, err := p.unsizedLogs.Logs(ctx, handle)
	return io.NopCloser(&panicAfter{r: rc, n: 64 << 10}), err
}

// panicAfter reads n bytes of r, then panics.
type panicAfter struct {
	r io.Reader
	n int
}

func (p *panicAfter) Read(b []byte) (int, error) {
	if p.n <= 0 {
		panic("a backend's reader failed")
	}
	n, err := p.r.Read(b[:min(len(b), p.n)])
	p.n -= n
	return n, err
}

// TestOpenLogsPanicGivesRoomBack: a backend's reader that panics while the
// opening reads it leaves none of its tenant's room taken. Before, the
// room booked for the read was given back only after the read returned:
// each such panic (recovered by the HTTP server) took up to 16 MiB of the
// tenant's 32 for good, until restart.
func TestOpenLogsPanicGivesRoomBack(t *testing.T) {
	var served atomic.Int64
	size := int64(1 << 20)
	e := newEnv(t, func(c *Config) {
		c.LogLimit = size
		made := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := made(site, root)
			return panickyLogs{unsizedLogs{Backend: b, size: size, served: &served}}, err
		}
	})
	r, _ := endedRun(t, e)
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("the backend's reader did not panic")
			}
		}()
		e.c.OpenLogs(context.Background(), "t1", r.ID, 0, math.MaxInt64)
	}()
	if n := e.c.logHolds.of("t1"); n != 0 {
		t.Errorf("%d bytes of the tenant's room still taken after the opening panicked", n)
	}
}

// BenchmarkOpenLogsUnsized opens and reads a run whose output is a site's
// 16 MiB of unknown size: whole (a page without limit), and its last 100
// bytes (a follow's round that has caught up).
func BenchmarkOpenLogsUnsized(b *testing.B) {
	var served atomic.Int64
	size := int64(16 << 20)
	e := newEnv(b, func(c *Config) {
		c.LogLimit = size
		made := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			be, err := made(site, root)
			return unsizedLogs{Backend: be, size: size, served: &served}, err
		}
	})
	r, header := endedRun(b, e)
	whole := int64(len(header)) + size
	for _, off := range []int64{0, whole - 100} {
		b.Run(fmt.Sprintf("from-%d", off), func(b *testing.B) {
			for b.Loop() {
				rc, _, err := e.c.OpenLogs(context.Background(), "t1", r.ID, off, math.MaxInt64)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil || n != whole-off {
					b.Fatalf("read %d bytes (%v), want %d", n, err, whole-off)
				}
			}
		})
	}
}
