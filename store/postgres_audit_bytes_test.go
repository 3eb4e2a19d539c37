package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// countingProxy forwards connections on a loopback port to addr and counts
// the bytes the database sent back.
type countingProxy struct {
	ln   net.Listener
	addr string
	recv atomic.Int64
	wg   sync.WaitGroup
}

func newCountingProxy(t *testing.T, addr string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln, addr: addr}
	var conns sync.Map
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			conns.Store(c, up)
			p.wg.Add(2)
			go func() {
				defer p.wg.Done()
				io.Copy(up, c)
				up.Close()
			}()
			go func() {
				defer p.wg.Done()
				io.Copy(countWriter{c, &p.recv}, up)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, v any) bool {
			k.(net.Conn).Close()
			v.(net.Conn).Close()
			return true
		})
		p.wg.Wait()
	})
	return p
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// TestPostgresAuditPagesBoundedByBytes: a page of the log cut at a byte
// bound (verification's 4 MiB, the API's 16 MiB) must not have the
// database send the rest of the rows the page's row limit allowed. It did:
// the client stopped reading at the bound, and closing the rows read and
// dropped the others, so a verification of a log of large entries moved
// the log across the network many times over (each page all the rows up to
// the row limit), and an API page of 5,000 intents of megabytes each moved
// gigabytes to answer 16 MiB.
func TestPostgresAuditPagesBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCountingProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	s, err := OpenPostgres(ctx, u.String(), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// 64 entries of 512 KiB: a verification page holds 8 of them.
	const n, size = 64, 512 << 10
	raw := make([]byte, size/2)
	for i := 0; i < n; i += 8 {
		var recs []audit.Record
		for j := 0; j < 8; j++ {
			rand.Read(raw)
			r, err := audit.NewRecord(audit.KindTransfer, "r1", hex.EncodeToString(raw))
			if err != nil {
				t.Fatal(err)
			}
			r.Tenant = "a"
			recs = append(recs, r)
		}
		if err := s.AppendAudit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	const logBytes int64 = n * size
	before := proxy.recv.Load()
	res, err := s.VerifyAudit(ctx)
	if err != nil || !res.OK || res.Entries != n {
		t.Fatalf("verify: %+v %v", res, err)
	}
	got := proxy.recv.Load() - before
	t.Logf("verification of %d MiB of payloads received %.1f MiB", logBytes>>20, float64(got)/(1<<20))
	if limit := logBytes + logBytes/4; got > limit {
		t.Errorf("verification received %d bytes for a log of %d bytes of payloads, want at most %d", got, logBytes, limit)
	}
	// A page of the API's shape: many rows allowed, cut at 1 MiB.
	for _, q := range []AuditQuery{
		{AllTenants: true, Limit: 5000, MaxBytes: 1 << 20},
		{Tenant: "a", Untenanted: UntenantedOfRuns, Limit: 5000, MaxBytes: 1 << 20},
		{Tenant: "a", Limit: 5000, MaxBytes: 1 << 20},
	} {
		before := proxy.recv.Load()
		page, err := s.AuditSelect(ctx, q)
		if err != nil || len(page) != 2 {
			t.Fatalf("%+v: %d entries, %v; want 2", q, len(page), err)
		}
		got := proxy.recv.Load() - before
		t.Logf("%+v: a page of 1 MiB received %.1f MiB", q, float64(got)/(1<<20))
		// The page, the entry after it that tells the page is full, and
		// the gap check's own small reads (the seq index counted, a few
		// KiB at most): never a payload more.
		if limit := int64(3*size + 16<<10); got > limit {
			t.Errorf("%+v: a page of 2 entries of %d bytes received %d bytes, want at most %d", q, size, got, limit)
		}
	}
}
