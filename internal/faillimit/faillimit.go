// Package faillimit bounds what failed authentications from one source
// cost a server. Checking a credential that is not in a cache reads the
// store (a token's hash, or a run with its documents for an attempt's
// credential) before the request is known to be anyone's, so no tenant's
// rate limit applies yet: past a burst of failures from one source, the
// server answers its requests that would need such a read with 429 until
// the source's bucket refills. Requests whose credential the server can
// vouch for without the store (a cache, a token seen valid, an attempt
// credential's MAC) are not held back, so valid callers behind the same
// address (a load balancer, a NAT) keep being served while something
// beside them floods the server with bad credentials.
package faillimit

import (
	"container/heap"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter counts failed authentications by source. Its zero value is not
// usable; make one with New.
type Limiter struct {
	every time.Duration // one failure refills in every
	burst time.Duration // burst failures refill in burst

	mu sync.Mutex
	by map[string]*source
	// fullest orders the sources by emptyAt, earliest first: the source
	// whose bucket holds the most failures is the one forgotten when the
	// table is full.
	fullest sourceHeap
}

// A source's bucket is kept as the instant it would have been empty had
// it refilled without a cap since: at now it holds the failures that
// min(burst, now-emptyAt) refills (in whole durations, so that counting
// is exact). That order does not change as time passes, so the fullest
// bucket is found without reading every one.
type source struct {
	key     string
	emptyAt time.Time
	index   int // in Limiter.fullest
}

// maxSources bounds the sources remembered. Past it, the source with the
// fullest bucket is forgotten to make room: one that failed once loses
// little by being forgotten (its next failure starts a full bucket, one
// failure fuller than it was), while one that used its burst stays
// blocked, however many other sources fail meanwhile.
const maxSources = 4096

// New returns a Limiter that lets each source fail burst times at once and
// per times a second after that.
func New(per rate.Limit, burst int) *Limiter {
	every := time.Duration(float64(time.Second) / float64(per))
	return &Limiter{every: every, burst: time.Duration(burst) * every, by: map[string]*source{}}
}

// Source is the key a request's peer (remoteAddr as net/http gives it) is
// limited by: an IPv4 address, or the /64 of an IPv6 address, as one
// subscriber or host is usually given a whole /64 and could otherwise
// send each failure from a fresh address. An address that does not parse
// is its own key.
func Source(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// fill is what s's bucket holds at now, in time refilled: it may fail
// fill/every more times.
func (l *Limiter) fill(s *source, now time.Time) time.Duration {
	return min(l.burst, now.Sub(s.emptyAt))
}

// Blocked says whether src has used up its failures for now.
func (l *Limiter) Blocked(src string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.by[src]
	return s != nil && l.fill(s, now) < l.every
}

// Failed counts one failed authentication from src.
func (l *Limiter) Failed(src string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.by[src]
	if s == nil {
		for len(l.by) >= maxSources {
			old := heap.Pop(&l.fullest).(*source)
			delete(l.by, old.key)
		}
		s = &source{key: src, emptyAt: now.Add(-l.burst)}
		l.by[src] = s
		heap.Push(&l.fullest, s)
	}
	f := l.fill(s, now)
	if f >= l.every {
		f -= l.every
	}
	s.emptyAt = now.Add(-f)
	heap.Fix(&l.fullest, s.index)
}

type sourceHeap []*source

func (h sourceHeap) Len() int           { return len(h) }
func (h sourceHeap) Less(i, j int) bool { return h[i].emptyAt.Before(h[j].emptyAt) }
func (h sourceHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *sourceHeap) Push(x any) {
	s := x.(*source)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *sourceHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
