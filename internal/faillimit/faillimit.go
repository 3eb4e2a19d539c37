// Package faillimit bounds what failed authentications from one source
// cost a server. Checking a credential that is not in a cache reads the
// store (a token's hash, or a run with its documents for an attempt's
// credential) before the request is known to be anyone's, so no tenant's
// rate limit applies yet: past a burst of failures from one address, the
// server answers its requests that would need such a read with 429 until
// the address's bucket refills. Requests whose credential a cache already
// vouches for are not held back, so a site's own agents keep reporting
// while a workload beside them floods the server with bad credentials.
package faillimit

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter counts failed authentications by source. Its zero value is not
// usable; make one with New.
type Limiter struct {
	per   rate.Limit
	burst int

	mu sync.Mutex
	by map[string]*source
}

type source struct {
	lim  *rate.Limiter
	used time.Time
}

// maxSources bounds the sources remembered: past it, those without a
// failure for a minute are dropped (their bucket would be full again),
// and if none is, all are.
const maxSources = 4096

// New returns a Limiter that lets each source fail burst times at once and
// per times a second after that.
func New(per rate.Limit, burst int) *Limiter {
	return &Limiter{per: per, burst: burst, by: map[string]*source{}}
}

// Source is the address of a request's peer (remoteAddr as net/http gives
// it) without its port.
func Source(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// Blocked says whether src has used up its failures for now.
func (l *Limiter) Blocked(src string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.by[src]
	return s != nil && s.lim.TokensAt(now) < 1
}

// Failed counts one failed authentication from src.
func (l *Limiter) Failed(src string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.by[src]
	if s == nil {
		if len(l.by) >= maxSources {
			for k, v := range l.by {
				if now.Sub(v.used) > time.Minute {
					delete(l.by, k)
				}
			}
			if len(l.by) >= maxSources {
				clear(l.by)
			}
		}
		s = &source{lim: rate.NewLimiter(l.per, l.burst)}
		l.by[src] = s
	}
	s.used = now
	s.lim.AllowN(now, 1)
}
