package api

import (
	"fmt"
	"net/http"
	"sync"
)

// slots counts what each tenant holds of a per-tenant bound: the open
// streams, and each kind of call that may hold the server's work for long
// (tenantSlots).
type slots struct {
	mu   sync.Mutex
	open map[string]int
}

// acquire takes one of tenant's max slots; ok is false when all are
// taken. release gives it back (once, however often it is called); a
// tenant that holds none is not kept in the map.
func (s *slots) acquire(tenant string, max int) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[tenant] >= max {
		return nil, false
	}
	if s.open == nil {
		s.open = map[string]int{}
	}
	s.open[tenant]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.open[tenant]--; s.open[tenant] <= 0 {
				delete(s.open, tenant)
			}
			s.mu.Unlock()
		})
	}, true
}

// held returns how many of tenant's slots are taken.
func (s *slots) held(tenant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[tenant]
}

// tenantSlots bounds one kind of call (Route.Long, Plans, LogReads) that
// a tenant may have under way on one server, and words its refusal: the
// three were one check each, copied, and a change to one (its count,
// its answer) had to be made three times.
type tenantSlots struct {
	slots
	max int
	// code is the refusal's error code, retryAfter its Retry-After (in
	// seconds), and what the calls it counts, in the words of its message
	// ("plans ... under way").
	code, retryAfter, what string
}

// take takes one of tenant's slots, or answers 429 (naming the tenant,
// the bound and what it counts, with a Retry-After) and is false.
func (t *tenantSlots) take(w http.ResponseWriter, tenant string) (release func(), ok bool) {
	release, ok = t.acquire(tenant, t.max)
	if !ok {
		w.Header().Set("Retry-After", t.retryAfter)
		writeErr(w, http.StatusTooManyRequests, t.code, "", fmt.Sprintf("tenant %s has %d %s on this server, the most it may; wait for one to end", tenant, t.max, t.what))
	}
	return release, ok
}

// newCallSlots returns the server's bounds of the calls under way, one
// for each kind of Route that holds one.
func newCallSlots() (long, plans, logReads *tenantSlots) {
	long = &tenantSlots{max: MaxLongCalls, code: "too_many_long_calls", retryAfter: "30",
		what: "stagings and verifications under way"}
	plans = &tenantSlots{max: MaxPlanCalls, code: "too_many_plans", retryAfter: "1",
		what: "plans, submissions, estimates, registrations and rules diffs under way"}
	logReads = &tenantSlots{max: MaxLogReads, code: "too_many_log_reads", retryAfter: "1",
		what: "pages of the audit log or the ledger being read"}
	return long, plans, logReads
}

// newOutputReadSlots returns the server's bound of the pages of runs'
// output being read (Route.OutputReads).
func newOutputReadSlots() *tenantSlots {
	return &tenantSlots{max: MaxOutputReads, code: "too_many_output_reads", retryAfter: "1",
		what: "pages of runs' output being read"}
}
