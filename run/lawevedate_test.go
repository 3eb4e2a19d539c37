package run

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// leaveRecord is the leave-unlawful audit record of run id: its payload's
// days and decision.
type leaveRecord struct {
	Decision string `json:"decision"`
	AsOf     string `json:"asOf"`
	RuleDay  string `json:"ruleDay"`
	From     string `json:"from"`
}

// leaveRecords reads run id's leave-unlawful audit records from st.
func leaveRecords(t *testing.T, st store.Store, id string) []leaveRecord {
	t.Helper()
	es, err := st.AuditSelect(context.Background(), store.AuditQuery{RunID: id, Kinds: []string{audit.KindDecision}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []leaveRecord
	for _, e := range es {
		var l leaveRecord
		if err := json.Unmarshal(e.Payload, &l); err != nil {
			t.Fatal(err)
		}
		if l.Decision == "leave-unlawful" {
			out = append(out, l)
		}
	}
	return out
}

// TestLeaveRecordNamesTheDayThatRefused: a rule closes Singapore's sites
// from 11 June. At 11:00 UTC on the 10th it is the 11th from UTC+13
// eastward, and the law check moves the run off alpha (SG). The move's
// reason named the 11th, but its audit record and its law-move event
// carried only the UTC day, the 10th, a day alpha was lawful on: a reader
// of the audit log saw a decision dated a day the rule was not in force.
// The record keeps asOf (the UTC day it was taken on) and names the day
// that refused as ruleDay; the event names it too.
func TestLeaveRecordNamesTheDayThatRefused(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	c, r := earthFixture(t, clk, denyPack("test-no-sg-from-june-11", "SG", "2026-06-11"))
	clk.set(time.Date(2026, 6, 10, 11, 0, 0, 0, time.UTC))
	c.lawTick(ctx)
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Migrating || got.Migration == nil {
		t.Fatalf("after the check at 11:00 UTC: %s (%s); want moving off alpha", got.State, got.Reason)
	}
	if !strings.Contains(got.Migration.Reason, "as of 2026-06-11") {
		t.Errorf("reason %q does not name the day that refused", got.Migration.Reason)
	}
	recs := leaveRecords(t, c.cfg.Store, r.ID)
	if len(recs) != 1 {
		t.Fatalf("%d leave-unlawful records, want 1: %+v", len(recs), recs)
	}
	if l := recs[0]; l.AsOf != "2026-06-10" || l.RuleDay != "2026-06-11" {
		t.Errorf("leave record %+v: want asOf the UTC day 2026-06-10 and ruleDay 2026-06-11, the day whose law refused", l)
	}
	evs, err := c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var move *store.Event
	for i := range evs {
		if evs[i].Kind == "law-move" {
			move = &evs[i]
		}
	}
	if move == nil {
		t.Fatalf("no law-move event: %v", kinds(evs))
	}
	var data struct {
		Rule    string `json:"rule"`
		RuleDay string `json:"ruleDay"`
	}
	if err := json.Unmarshal([]byte(move.Data), &data); err != nil {
		t.Fatal(err)
	}
	if data.Rule != "test-no-sg-from-june-11" || data.RuleDay != "2026-06-11" {
		t.Errorf("law-move event data %s: want rule test-no-sg-from-june-11 on ruleDay 2026-06-11", move.Data)
	}
}

// TestLeaveRecordOnTheUTCDayNamesIt: the same rule, checked at 12:00 UTC
// on the 11th (the 11th in UTC): the record's ruleDay is its asOf, the UTC
// day that refused.
func TestLeaveRecordOnTheUTCDayNamesIt(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	c, r := earthFixture(t, clk, denyPack("test-no-sg-from-june-11", "SG", "2026-06-11"))
	clk.set(time.Date(2026, 6, 11, 12, 0, 0, 0, time.UTC))
	c.lawTick(ctx)
	recs := leaveRecords(t, c.cfg.Store, r.ID)
	if len(recs) != 1 || recs[0].AsOf != "2026-06-11" || recs[0].RuleDay != "2026-06-11" {
		t.Fatalf("leave records %+v: want one, as of and ruled on 2026-06-11", recs)
	}
}
