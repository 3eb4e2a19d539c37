package api

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what connections may cost the server. Every field has a
// default: a zero field is DefaultLimits's (NewHTTPServer).
type Limits struct {
	// MaxConns is the most connections open at once; MaxConnsPerIP the most
	// from one address. Connections beyond either are closed at once, so
	// that one client holding sockets open cannot starve the others.
	MaxConns      int
	MaxConnsPerIP int
	// ReadHeader bounds reading a request's headers, Read its whole body,
	// Write the answer, Idle a kept-alive connection between requests.
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
	// MaxStreamsPerConn is the most requests at once on one HTTP/2
	// connection (served over TLS): an HTTP/1.1 connection carries one
	// at a time, and without it each of an address's connections carried
	// 250, so that MaxConnsPerIP bounded nothing of its requests at once.
	MaxStreamsPerConn int
}

// DefaultLimits are the limits `meridian serve` uses.
var DefaultLimits = Limits{MaxConns: 1024, MaxConnsPerIP: 128, ReadHeader: 5 * time.Second, Read: 30 * time.Second,
	Write: 2 * time.Minute, Idle: 30 * time.Second, MaxHeaderBytes: 32 << 10, MaxStreamsPerConn: 16}

// NewHTTPServer returns an http.Server for h with l's timeouts, and wraps ln
// so that l's connection limits hold.
func NewHTTPServer(h http.Handler, ln net.Listener, l Limits) (*http.Server, net.Listener) {
	l = l.withDefaults()
	hs := &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeader, ReadTimeout: l.Read, WriteTimeout: l.Write,
		IdleTimeout: l.Idle, MaxHeaderBytes: l.MaxHeaderBytes}
	hs.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: l.MaxStreamsPerConn}
	// Shutdown waits for every handler to return: streams must end first.
	if e, ok := h.(interface{ EndStreams() }); ok {
		hs.RegisterOnShutdown(e.EndStreams)
	}
	return hs, &limitListener{Listener: ln, max: l.MaxConns, perIP: l.MaxConnsPerIP, byIP: map[string]int{}}
}

// withDefaults is l with each field that is zero (or less) DefaultLimits's.
// A Limits that set some fields left the others zero, which http.Server
// reads as no bound: no header or body timeout (a client sending a byte a
// minute held its connection for good), and a MaxConnsPerIP of zero closed
// every connection.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pickD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.MaxConns, d.MaxConns)
	pick(&l.MaxConnsPerIP, d.MaxConnsPerIP)
	pick(&l.MaxHeaderBytes, d.MaxHeaderBytes)
	pick(&l.MaxStreamsPerConn, d.MaxStreamsPerConn)
	pickD(&l.ReadHeader, d.ReadHeader)
	pickD(&l.Read, d.Read)
	pickD(&l.Write, d.Write)
	pickD(&l.Idle, d.Idle)
	return l
}

type limitListener struct {
	net.Listener
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		over := l.total >= l.max || l.byIP[ip] >= l.perIP
		if !over {
			l.total++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if over {
			c.Close()
			continue
		}
		return &limitConn{Conn: c, l: l, ip: ip}, nil
	}
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

type limitConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.total--
		if c.l.byIP[c.ip]--; c.l.byIP[c.ip] <= 0 {
			delete(c.l.byIP, c.ip)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
