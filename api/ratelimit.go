package api

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a token bucket per tenant: Rate requests a second on
// average, Burst at once. A route costs its Cost (1 unless it plans,
// submits, stages or verifies). Each server counts its own requests: with N
// replicas behind one address a tenant may get up to N times the rate.
type RateLimit struct {
	Rate  float64
	Burst int
}

// DefaultRateLimit is what `meridian serve` allows each tenant.
var DefaultRateLimit = RateLimit{Rate: 50, Burst: 100}

// DefaultAuditedRateLimit bounds, per tenant, the calls that append
// permanent records to the audit log (Route.Audited): a submission, a
// registration, a dataset's key, a staging, a token or rules change. The
// general rate let a tenant send 50 keys a second, each a record kept for
// ever (4 million a day); this lets it send one a second on average (3,600
// an hour) and 120 at once, which a script registering datasets, handing
// their keys and submitting a sweep of runs keeps to without a word (the
// client waits out a 429's Retry-After and asks again).
var DefaultAuditedRateLimit = RateLimit{Rate: 1, Burst: 120}

// limiter keeps one bucket per tenant.
type limiter struct {
	l RateLimit

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(l RateLimit) *limiter {
	return &limiter{l: l, buckets: map[string]*rate.Limiter{}}
}

// String says the limit as a refusal names it.
func (l RateLimit) String() string {
	return fmt.Sprintf("%s a minute on average, %d at once", strconv.FormatFloat(l.Rate*60, 'g', 4, 64), max(l.Burst, 1))
}

// allow takes cost tokens from tenant's bucket; when it cannot, it returns
// how long until it could.
func (l *limiter) allow(tenant string, cost int, now time.Time) (bool, time.Duration) {
	if l == nil || l.l.Rate <= 0 {
		return true, 0
	}
	// A request never costs more than the bucket holds, or it could
	// never pass.
	cost = min(cost, max(l.l.Burst, 1))
	l.mu.Lock()
	b := l.buckets[tenant]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.l.Rate), max(l.l.Burst, 1))
		l.buckets[tenant] = b
	}
	l.mu.Unlock()
	r := b.ReserveN(now, cost)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, time.Duration(math.Ceil(d.Seconds())) * time.Second
	}
	return true, 0
}
