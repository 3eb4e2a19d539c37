package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Hold is what a run holds of a site's capacity: Count accelerators of the
// site's pool Pool (an index into its spec.pools), from its placement to
// the end of its attempt. A run that holds nothing has Count 0.
type Hold struct {
	Site        string
	Pool        int
	Accelerator string
	Count       int
}

// Limit bounds the sum of Hold.Count over the runs it matches. A Change's
// limits are checked after its row is written, in the same transaction,
// serialised with every other change that carries limits: two changes can
// never both take the last accelerators of a pool or of a quota.
type Limit struct {
	// Name says what is limited, for the error ("pool 0 of Site/x",
	// "quota of tenant t for h100").
	Name string
	// Site, when set, matches only holds at that site's pool Pool.
	Site string
	Pool int
	// Tenants, when set, matches only those tenants' runs.
	Tenants []string
	// Accelerators, when set, matches only holds of those accelerators.
	Accelerators []string
	// Max is the most the matched holds may add up to.
	Max int
	// Live, when set, makes Max bound the number of matched runs that have
	// not ended (state not one of FinalStates), the change's own row
	// among them, rather than their holds; Site, Pool and Accelerators
	// are not looked at.
	Live bool
}

// FinalStates are the states of a run that has ended, which it never
// leaves.
var FinalStates = []string{"succeeded", "failed", "cancelled"}

// CapacityError is a change refused because it would take a Limit past its
// Max; nothing of the change is written.
type CapacityError struct {
	Limit Limit
	// Used is what the matched holds would add up to with the change.
	Used int
}

func (e *CapacityError) Error() string {
	if e.Limit.Live {
		return fmt.Sprintf("%s: %d runs would not have ended, over the %d allowed", e.Limit.Name, e.Used, e.Limit.Max)
	}
	return fmt.Sprintf("%s: %d would be held, over the %d there are", e.Limit.Name, e.Used, e.Limit.Max)
}

// limitQuery is the SQL summing the holds a limit matches; ph(i) writes the
// i-th placeholder (1-based).
func limitQuery(l Limit, ph func(int) string) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, vals ...any) {
		ps := make([]any, len(vals))
		for i, v := range vals {
			args = append(args, v)
			ps[i] = ph(len(args))
		}
		where = append(where, fmt.Sprintf(cond, ps...))
	}
	if l.Live {
		// The predicate of the partial index runs_tenant_live, word for
		// word, so that the count reads the index.
		q := "SELECT COUNT(*) FROM runs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')"
		if len(l.Tenants) > 0 {
			q += " AND tenant IN (" + placeholders(&args, l.Tenants, ph) + ")"
		}
		return q, args
	}
	where = append(where, "hold_count > 0")
	if l.Site != "" {
		add("hold_site = %s AND hold_pool = %s", l.Site, l.Pool)
	}
	if len(l.Tenants) > 0 {
		where = append(where, "tenant IN ("+placeholders(&args, l.Tenants, ph)+")")
	}
	if len(l.Accelerators) > 0 {
		where = append(where, "hold_accelerator IN ("+placeholders(&args, l.Accelerators, ph)+")")
	}
	return "SELECT COALESCE(SUM(hold_count), 0) FROM runs WHERE " + strings.Join(where, " AND "), args
}

// ErrFieldType refuses a row whose field is stored as another type than
// Meridian writes: bytes (a BLOB) for text, anything but an integer for a
// number. Such a row was written outside Meridian.
var ErrFieldType = errors.New("a field of the row is stored as another type than Meridian writes")

// qRunHoldType finds a run whose tenant, hold_site or hold_accelerator is
// not text, or whose hold_pool or hold_count is not an integer, and names
// the first such field: the predicate of the partial index runs_hold_type,
// word for word, so that the look is one seek of an index that is empty
// where Meridian alone wrote the runs.
const qRunHoldType = `SELECT id, CASE WHEN typeof(tenant) <> 'text' THEN 'tenant'
	WHEN typeof(hold_site) <> 'text' THEN 'hold_site' WHEN typeof(hold_accelerator) <> 'text' THEN 'hold_accelerator'
	WHEN typeof(hold_pool) <> 'integer' THEN 'hold_pool' ELSE 'hold_count' END
	FROM runs WHERE typeof(tenant) <> 'text' OR typeof(hold_site) <> 'text'
	OR typeof(hold_accelerator) <> 'text' OR typeof(hold_pool) <> 'integer' OR typeof(hold_count) <> 'integer' LIMIT 1`

// runHoldType is the refusal of a change's limits read from row, a row of
// qRunHoldType (nil when there is none): a limit's sum compares the tenant,
// site, pool and accelerator with text and integers, which a BLOB never
// equals, so the run's accelerators were left out of every sum and a quota
// or a pool could be passed. Every limit fails until the row is written as
// Meridian writes it.
func runHoldType(row interface{ Scan(...any) error }) error {
	var id []byte
	var col string
	err := row.Scan(&id, &col)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	want := "text"
	if col == "hold_pool" || col == "hold_count" {
		want = "an integer"
	}
	return fmt.Errorf("run %q: %w: its %s is not stored as %s (a row written outside Meridian), which the sums of the limits do not match: no change with limits is made until it is written again as %s (SELECT rowid FROM runs WHERE typeof(%s) <> '%s')",
		id, ErrFieldType, col, want, want, col, strings.TrimPrefix(want, "an "))
}

func placeholders(args *[]any, vals []string, ph func(int) string) string {
	ps := make([]string, len(vals))
	for i, v := range vals {
		*args = append(*args, v)
		ps[i] = ph(len(*args))
	}
	return strings.Join(ps, ", ")
}

// TenantHold is what one tenant's runs hold of one pool, summed.
type TenantHold struct {
	Tenant string
	Hold
}

// holdsQuery sums the holds per tenant and pool.
const holdsQuery = `SELECT tenant, hold_site, hold_pool, hold_accelerator, SUM(hold_count) FROM runs WHERE hold_count > 0
	GROUP BY tenant, hold_site, hold_pool, hold_accelerator ORDER BY tenant, hold_site, hold_pool, hold_accelerator`

type rowsScanner interface {
	Next() bool
	Scan(...any) error
	Err() error
}

// MaxRunCounts bounds the rows CountRuns returns: the MaxRunCounts
// (state, site) pairs with the most runs, then one row (Other) summing the
// rest. A run's site is read back from the store, where whoever writes the
// database may put any number of them: each pair was a row of every
// scrape of the metrics, which keep as many series of their own.
const MaxRunCounts = 1024

// countRunsQuery counts runs by state and site, for CountRuns: the
// MaxRunCounts pairs with the most runs (the pair's order breaking ties),
// each with the count of all runs, in the same statement (one snapshot),
// from which scanRunCounts sums the rest. SQLite keeps the top pairs as
// it sorts (LIMIT), not every pair, and computes the total once.
var countRunsQuery = `SELECT state, site, COUNT(*), (SELECT COUNT(*) FROM runs) FROM runs GROUP BY state, site
	ORDER BY COUNT(*) DESC, state, site LIMIT ` + strconv.Itoa(MaxRunCounts)

// OtherRunCount is the state and site of CountRuns' row that sums the
// pairs past the first MaxRunCounts: the label the metrics give it.
const OtherRunCount = "other"

// scanRunCounts reads countRunsQuery's rows, and adds the row (Other)
// of the runs they leave out, if any.
func scanRunCounts(rows rowsScanner) ([]RunCount, error) {
	var out []RunCount
	var total, sum int64
	for rows.Next() {
		var c RunCount
		if err := rows.Scan(&c.State, &c.Site, &c.N, &total); err != nil {
			return nil, err
		}
		sum += c.N
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if total > sum {
		out = append(out, RunCount{State: OtherRunCount, Site: OtherRunCount, N: total - sum, Other: true})
	}
	return out, nil
}

func scanHolds(rows rowsScanner) ([]TenantHold, error) {
	var out []TenantHold
	for rows.Next() {
		var h TenantHold
		if err := rows.Scan(&h.Tenant, &h.Site, &h.Pool, &h.Accelerator, &h.Count); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
