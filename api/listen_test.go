package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
)

// selfSigned is a certificate for 127.0.0.1 that the test's client does not
// check.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// http2Settings opens an HTTP/2 connection to addr over TLS and returns
// the settings the server announces first, by id.
func http2Settings(t *testing.T, addr string) map[uint16]uint32 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("the server speaks %q over TLS, not h2", p)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// The client's preface and its (empty) settings.
	if _, err := c.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 9)
	if _, err := io.ReadFull(c, head); err != nil {
		t.Fatal(err)
	}
	n := int(head[0])<<16 | int(head[1])<<8 | int(head[2])
	if head[3] != 4 { // SETTINGS
		t.Fatalf("the server's first frame is of type %d, not SETTINGS", head[3])
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	out := map[uint16]uint32{}
	for i := 0; i+6 <= len(body); i += 6 {
		out[binary.BigEndian.Uint16(body[i:])] = binary.BigEndian.Uint32(body[i+2:])
	}
	return out
}

// TestHTTP2StreamsBounded: over TLS the server speaks HTTP/2, whose one
// connection carries many requests at once; the server allows each
// connection MaxStreamsPerConn of them, where it allowed Go's default of
// 250, so that the 128 connections an address may hold carried 32,000
// requests at once.
func TestHTTP2StreamsBounded(t *testing.T) {
	const maxConcurrentStreams = 0x3
	for _, tc := range []struct {
		what string
		set  int
		want uint32
	}{
		{"the default limits", DefaultLimits.MaxStreamsPerConn, uint32(DefaultLimits.MaxStreamsPerConn)},
		{"limits that name none", 0, uint32(DefaultLimits.MaxStreamsPerConn)},
		{"limits of 3", 3, 3},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lim := DefaultLimits
		lim.MaxStreamsPerConn = tc.set
		hs, lln := NewHTTPServer(http.NotFoundHandler(), ln, lim)
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
		go hs.ServeTLS(lln, "", "")
		got, ok := http2Settings(t, ln.Addr().String())[maxConcurrentStreams]
		hs.Close()
		if !ok || got != tc.want || got == 0 || got > 64 {
			t.Errorf("%s: the server allows %d requests at once on a connection (announced: %v), want %d", tc.what, got, ok, tc.want)
		}
	}
}

// TestSlowBodyCutAtReadTimeout: a client that sends its headers and then
// trickles its body, a byte at a time, holds its connection no longer than
// the read timeout, over a real connection; one that never finishes its
// headers, no longer than the header timeout.
func TestSlowBodyCutAtReadTimeout(t *testing.T) {
	lim := DefaultLimits
	lim.ReadHeader, lim.Read = 200*time.Millisecond, 500*time.Millisecond
	f := newFixtureWith(t, fixtureOptions{Limits: &lim})
	addr := f.srv.URL[len("http://"):]
	for _, tc := range []struct {
		what, head string
		most       time.Duration
	}{
		{"a trickled body", "POST /v1/plans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokA + "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", lim.Read},
		{"unfinished headers", "POST /v1/plans HTTP/1.1\r\nHost: x\r\n", lim.ReadHeader},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Write([]byte(tc.head)); err != nil {
			t.Fatal(err)
		}
		// Trickle until the server closes the connection (a write or a
		// read fails), for at most 10 s.
		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, c)
			close(closed)
		}()
		tick := time.NewTicker(50 * time.Millisecond)
	trickle:
		for time.Since(start) < 10*time.Second {
			select {
			case <-closed:
				break trickle
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					break trickle
				}
			}
		}
		tick.Stop()
		took := time.Since(start)
		c.Close()
		if took > tc.most+2*time.Second {
			t.Errorf("%s held its connection %s, past the server's limit of %s", tc.what, took.Round(time.Millisecond), tc.most)
		}
	}
}

// TestPartialLimitsKeepDefaults: a Limits that sets some fields has
// DefaultLimits's in the others. Before, the others were zero: no header,
// body or idle timeout (a client that sent a header a byte a minute held
// its connection for good), and a MaxConnsPerIP of zero, with which every
// connection was closed as it was accepted.
func TestPartialLimitsKeepDefaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	hs, lln := NewHTTPServer(h, ln, Limits{MaxConns: 8})
	go hs.Serve(lln)
	t.Cleanup(func() { hs.Close() })
	d := DefaultLimits
	if hs.ReadHeaderTimeout != d.ReadHeader || hs.ReadTimeout != d.Read || hs.WriteTimeout != d.Write || hs.IdleTimeout != d.Idle || hs.MaxHeaderBytes != d.MaxHeaderBytes {
		t.Errorf("timeouts %v %v %v %v, header bound %d: want DefaultLimits's", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout, hs.MaxHeaderBytes)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("a request to a server of MaxConns 8 and no other limit: %v", err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		t.Errorf("answer %q", b)
	}
}
