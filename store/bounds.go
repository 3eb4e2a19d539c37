package store

import (
	"errors"
	"fmt"
)

// ErrTooMany refuses a read that would return more rows than the store
// returns at once (see the bounds below): nothing is returned. The reads
// the interface lets a caller make without a limit (a tenant's runs'
// versions, resources, a run's whole timeline, every token) were read
// whole, however many rows the table had grown to hold, by every request
// that reached them.
var ErrTooMany = errors.New("more rows than one read returns")

// The most rows each read without a limit returns; a read that finds more
// fails with ErrTooMany, naming the read and the bound, without reading
// the rest. Each is well above what Meridian lets a tenant make (10,000
// runs not ended, 10,000 registered resources), so that only a table
// grown past any such bound, or written outside Meridian, is refused.
const (
	// MaxRunVersions bounds RunVersions: a tenant's runs, ended ones
	// included.
	MaxRunVersions = 50000
	// MaxEvents bounds Events, and EventsAfter with no limit (or a larger
	// one): a run's timeline.
	MaxEvents = 50000
	// MaxListResources bounds ListResources: twice what a tenant may
	// register (requests in flight at once may each pass that bound).
	MaxListResources = 20000
	// MaxTokens bounds ListTokens: every tenant's tokens, revoked ones
	// included.
	MaxTokens = 50000
)

// The bounds the stores apply; tests lower them.
var (
	maxRunVersions   = MaxRunVersions
	maxEvents        = MaxEvents
	maxListResources = MaxListResources
	maxTokens        = MaxTokens
)

// tooMany is the ErrTooMany of a read of what that found more than max
// rows.
func tooMany(what string, max int) error {
	return fmt.Errorf("%s: %w (more than %d); read them a page at a time", what, ErrTooMany, max)
}

// eventsLimit refuses an EventsAfter limit past MaxEvents.
func eventsLimit(limit int) error {
	if limit > maxEvents {
		return fmt.Errorf("events: limit %d: at most %d", limit, maxEvents)
	}
	return nil
}

// readLimit is the LIMIT of a paged query of limit rows (0: the read's
// bound max, and one more to tell a read that finds more than it).
func readLimit(limit, max int) int {
	if limit == 0 {
		return max + 1
	}
	return limit
}

// versionsLimit refuses a RunVersionsAfter limit below 0 or past
// MaxRunVersions.
func versionsLimit(limit int) error {
	if limit < 0 || limit > maxRunVersions {
		return fmt.Errorf("run versions: limit %d: want 0 (up to %d) to %d", limit, maxRunVersions, maxRunVersions)
	}
	return nil
}

func tooManyEvents(runID string) error {
	return tooMany(fmt.Sprintf("events of run %q", runID), maxEvents)
}

func tooManyVersions(tenant string) error {
	return tooMany(fmt.Sprintf("run versions of tenant %q", tenant), maxRunVersions)
}

func tooManyResources(tenant, kind string) error {
	what := fmt.Sprintf("resources of tenant %q", tenant)
	if kind != "" {
		what = fmt.Sprintf("resources of kind %q of tenant %q", kind, tenant)
	}
	return tooMany(what, maxListResources)
}
