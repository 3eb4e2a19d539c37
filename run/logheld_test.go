package run

import (
	"bytes"
	"context"
	"io"
	"math"
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
