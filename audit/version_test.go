package audit

import (
	"testing"
	"time"
)

// v1ChainOf is a chain of n entries in hash format 1, as written before
// entries named their tenant (the migration gave them an empty tenant and
// version 1).
func v1ChainOf(c *Chain, n int) []Entry {
	var out []Entry
	prev := Genesis
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		e := Entry{Seq: int64(i), PrevHash: prev, Time: t0.Add(time.Duration(i) * time.Second).Format(TimeLayout),
			Kind: KindTransfer, Payload: []byte(`{"bytesSent":1000}`), Version: 1}
		e.Hash = c.sum(e, e.Seq)
		out = append(out, e)
		prev = e.Hash
	}
	return out
}

// TestVersionAndOldTenantAreChecked: neither an entry's hash format nor,
// in format 1, its tenant is inside its hash. A tenant written onto an old
// entry hands it to that tenant (its audit view, its ledger and its export
// volumes count it; the default tenant's no longer do), and a format
// Meridian never wrote is shown as the entry's; both verified.
func TestVersionAndOldTenantAreChecked(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	if r := c.Verify(v1ChainOf(c, 3)); !r.OK {
		t.Fatalf("intact version 1 chain: %+v", r)
	}
	for _, unkeyed := range []bool{false, true} {
		vc := c
		if unkeyed {
			vc = NewUnkeyedChain()
		}
		es := v1ChainOf(c, 3)
		es[1].Tenant = "other"
		if r := vc.Verify(es); r.OK || r.Problem.Seq != 2 || r.Problem.Kind != Modified {
			t.Errorf("unkeyed %v: a tenant written onto a version 1 entry verified: %+v", unkeyed, r)
		}
	}
	es := chainOf(t, c, 3)
	for _, v := range []int{3, 99, -1} {
		es[2].Version = v
		r := c.Verify(es)
		if r.OK || r.Problem.Seq != 3 || r.Problem.Kind != Modified {
			t.Errorf("version %d: %+v", v, r)
		}
	}
}
