package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/seal"
)

// turningClock is a clock that reads from until it is turned, and to
// after; unset, from is 09:00 UTC on testDay's date and to a day later.
// At 09:00 UTC no day after the UTC day has begun anywhere (Days): the
// law is asked about the 14th and 15th, and after the turn about the
// 15th and 16th.
type turningClock struct {
	turned   atomic.Bool
	from, to time.Time
}

func (c *turningClock) now() time.Time {
	from, to := c.from, c.to
	if from.IsZero() {
		from = testDay.Add(-3 * time.Hour)
	}
	if to.IsZero() {
		to = from.AddDate(0, 0, 1)
	}
	if c.turned.Load() {
		return to
	}
	return from
}

// turnAfterConfirm is a ledger that turns the clock once its first
// confirmation is recorded: the day ends between two batches.
type turnAfterConfirm struct {
	*FileLedger
	clock *turningClock
}

func (l *turnAfterConfirm) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	err := l.FileLedger.Append(ctx, tenant, kind, runID, payload)
	if err == nil && kind == KindTransfer {
		l.clock.turned.Store(true)
	}
	return err
}

// turnOnProgress turns the clock once the first object has arrived: the
// day ends in the middle of a batch.
type turnOnProgress struct{ clock *turningClock }

func (p turnOnProgress) Start(string, int64) {}
func (p turnOnProgress) Done()               {}
func (p turnOnProgress) Add(int64)           { p.clock.turned.Store(true) }

// dayLaw is BasisLaw, but refuses every transfer on the days in deny
// (a rule in force from that day), and notes the days it was asked about.
type dayLaw struct {
	deny  map[string]bool
	mu    sync.Mutex
	asked []string
}

func (l *dayLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	l.mu.Lock()
	l.asked = append(l.asked, q.AsOf.String())
	l.mu.Unlock()
	if l.deny[q.AsOf.String()] {
		return policy.Decision{Denials: []policy.Finding{{Rule: "rule-from-the-16th", Effect: policy.Deny, Message: "in force from this day", Source: "test"}}}
	}
	return BasisLaw{}.EvaluateTransfer(q, ds, to)
}

// chunksAtSite counts the chunk objects of chat-logs in the site's store.
func chunksAtSite(t *testing.T, f *fixture) int {
	t.Helper()
	st, err := dataset.OpenStore(context.Background(), f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err := dataset.ListChunks(context.Background(), st, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

// ledgerDays lists the as-of date of each intent and confirmation, in order.
func ledgerDays(t *testing.T, f *fixture) (intents, confirmations []string) {
	t.Helper()
	recs, err := readFileLedger(f.ledger.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var e struct {
			AsOf string `json:"asOf"`
		}
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			t.Fatal(err)
		}
		switch r.Kind {
		case KindIntent:
			intents = append(intents, e.AsOf)
		case KindTransfer:
			confirmations = append(confirmations, e.AsOf)
		}
	}
	return intents, confirmations
}

func manifestAtSite(f *fixture) bool {
	_, err := os.Stat(filepath.Join(f.siteDir, filepath.FromSlash(dataset.ManifestKey("chat-logs"))))
	return err == nil
}

// TestStageStopsWhenTheLawChangesAtMidnight: a staging judged on one day
// that is still sending at midnight moves nothing more on the next day
// unless the law allows it on that day. A rule in force from the 16th
// refused the dataset; a staging judged on the 15th went on sending every
// remaining chunk and the manifest on the 16th, recorded as of the 15th.
func TestStageStopsWhenTheLawChangesAtMidnight(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 4, 200<<10, "")
	total := len(f.manifest.UniqueChunks())
	if total < 3 {
		t.Fatalf("%d chunks; the test needs several batches", total)
	}
	clock := &turningClock{}
	law := &dayLaw{deny: map[string]bool{"2026-01-16": true}}
	s := f.stager()
	s.Law, s.Now, s.Batch, s.Workers = law, clock.now, 1, 1
	s.Ledger = &turnAfterConfirm{FileLedger: f.ledger, clock: clock}
	_, err := s.Stage(ctx, f.request())
	var de *DeniedError
	if !errors.As(err, &de) || de.AsOf.String() != "2026-01-16" {
		t.Fatalf("Stage across midnight into a refusal: %v, want the refusal as of 2026-01-16", err)
	}
	if Transient(err) {
		t.Fatalf("the law's refusal counts as passing: %v", err)
	}
	if n := chunksAtSite(t, f); n != 1 {
		t.Fatalf("%d of %d chunks at the site; want only the batch sent on the 15th", n, total)
	}
	if manifestAtSite(f) {
		t.Fatal("the manifest went on the day the law refused it")
	}
	intents, confs := ledgerDays(t, f)
	if strings.Join(intents, ",") != "2026-01-15" || strings.Join(confs, ",") != "2026-01-15" {
		t.Fatalf("intents as of %v, confirmations as of %v; want the one batch of the 15th", intents, confs)
	}
}

// TestStageRecordsTheDayItMoves: a staging the law allows on both days
// records what moved after midnight as of the day it moved, judged for
// that day, where every record said the day the staging began.
func TestStageRecordsTheDayItMoves(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 4, 200<<10, "")
	total := len(f.manifest.UniqueChunks())
	clock := &turningClock{}
	law := &dayLaw{}
	s := f.stager()
	s.Law, s.Now, s.Batch, s.Workers = law, clock.now, 1, 1
	s.Ledger = &turnAfterConfirm{FileLedger: f.ledger, clock: clock}
	res, err := s.Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.AsOf != "2026-01-16" || res.Totals == nil || res.Totals.ChunksSent != total {
		t.Fatalf("result as of %s, totals %+v; want the 16th and %d chunks", res.AsOf, res.Totals, total)
	}
	// Asked about the 14th and 15th (the days it is at 09:00 UTC on the
	// 15th somewhere) before the stores are read and again about the
	// contents read (CopyRequest.Contents), then about the 15th and 16th.
	if strings.Join(law.asked, ",") != "2026-01-14,2026-01-15,2026-01-14,2026-01-15,2026-01-15,2026-01-16" {
		t.Fatalf("the law was asked about %v; want the 14th and 15th (twice: then the contents read) and then the 15th and 16th", law.asked)
	}
	intents, confs := ledgerDays(t, f)
	if len(intents) != total+1 || len(confs) != total+1 {
		t.Fatalf("%d intents, %d confirmations; want %d of each", len(intents), len(confs), total+1)
	}
	for i := range intents {
		want := "2026-01-16"
		if i == 0 {
			want = "2026-01-15"
		}
		if intents[i] != want || confs[i] != want {
			t.Fatalf("batch %d: intent as of %s, confirmation as of %s; want %s", i, intents[i], confs[i], want)
		}
	}
}

// TestStageStopsAtMidnightInsideABatch: a batch that is still sending at
// midnight sends no more of its objects, and confirms the one object that
// did arrive, as of the day it was sent; the next staging, judged on the
// new day, is refused.
func TestStageStopsAtMidnightInsideABatch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 4, 200<<10, "")
	total := len(f.manifest.UniqueChunks())
	clock := &turningClock{}
	law := &dayLaw{deny: map[string]bool{"2026-01-16": true}}
	s := f.stager()
	s.Law, s.Now, s.Workers = law, clock.now, 1
	s.Progress = turnOnProgress{clock}
	_, err := s.Stage(ctx, f.request())
	if !errors.Is(err, ErrDayChanged) || !Transient(err) {
		t.Fatalf("Stage cut by midnight: %v, want ErrDayChanged, passing", err)
	}
	if n := chunksAtSite(t, f); n != 1 {
		t.Fatalf("%d of %d chunks at the site; want the one sent on the 15th", n, total)
	}
	if _, confs := ledgerDays(t, f); len(confs) != 1 || confs[0] != "2026-01-15" {
		t.Fatalf("confirmations as of %v; want one, of the 15th", confs)
	}
	s.Progress = nil
	_, err = s.Stage(ctx, f.request())
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("Stage on the 16th: %v, want the refusal", err)
	}
	// Once the law allows it again, a staging finds the chunk that
	// arrived already there and sends the rest.
	law.deny = nil
	res, err := s.Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconciled != 0 || res.Skipped != 1 || res.ChunksSent != total-1 {
		t.Fatalf("reconciled %d, skipped %d, sent %d; want 0, 1 and %d", res.Reconciled, res.Skipped, res.ChunksSent, total-1)
	}
	sums, err := Summarize(ctx, f.ledger, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].ChunksSent != total || sums[0].OpenIntents != 0 {
		t.Fatalf("ledger summary %+v; want %d chunks confirmed and nothing open", sums, total)
	}
}

// TestCopyStopsWhenTheDayTurns: a copy whose caller judged the law itself
// (a run's checkpoint) sends nothing on a day after the one it began on:
// it stops with a passing failure, and the caller asks the law again.
func TestCopyStopsWhenTheDayTurns(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 4, 200<<10, "")
	clock := &turningClock{}
	s := f.stager()
	s.Now, s.Batch, s.Workers = clock.now, 1, 1
	s.Ledger = &turnAfterConfirm{FileLedger: f.ledger, clock: clock}
	key, err := f.keys.Get("chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := seal.New(key, "chat-logs")
	src, err := dataset.OpenStore(ctx, f.home)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	e := Entry{Kind: KindCheckpoint, Dataset: "chat-logs", Site: f.site.Metadata.Name, From: "CN", To: "MY", AsOf: "2026-01-15"}
	_, err = s.Copy(ctx, CopyRequest{Name: "chat-logs", Sealer: sealer, Src: src, Dst: dst, Entry: e})
	if !errors.Is(err, ErrDayChanged) || !Transient(err) {
		t.Fatalf("Copy across midnight: %v, want ErrDayChanged, passing", err)
	}
	if n := chunksAtSite(t, f); n != 1 || manifestAtSite(f) {
		t.Fatalf("%d chunks at the site (manifest there: %v); want the one batch of the 15th", n, manifestAtSite(f))
	}
}

// TestAttackStageOnRuleEveEastOfUTC: a rule in force from 1 March denies
// CN to US. At 20:00 UTC on 28 February it is already 1 March from UTC+4
// eastward (Beijing: 04:00 on the 1st), and the rule is in force there;
// judged by the UTC day alone, the staging was allowed until midnight UTC.
// It is refused, as of the 1st, naming the rule and the time zones.
func TestAttackStageOnRuleEveEastOfUTC(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 2, 64<<10, "")
	f.site.Spec.Country = "US"
	law, err := policy.New(policy.Options{NoBuiltin: true, Files: []policy.File{{Name: "cn-us.yaml", Data: []byte(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: cn-us}
rules:
  - id: test-no-cn-us-from-march
    title: No CN data to the US from 1 March
    jurisdiction: CN
    kind: data-transfer
    scope: transfer
    effect: deny
    effectiveFrom: 2026-03-01
    enforcement: in-force
    confidence: confirmed
    sources: ["test pack of transfer/day_test.go"]
    message: dataset {dataset.name} would move to {transfer.to}
    condition: "transfer.from == 'CN' && transfer.to == 'US'"
`)}}})
	if err != nil {
		t.Fatal(err)
	}
	req := f.request()
	req.Query.Countries = map[string]*catalog.Country{"CN": {}, "US": {}}
	s := f.stager()
	s.Law = law
	// The day before, the rule is in force nowhere: the staging's
	// refusal below is the rule's, not the pack's on every day.
	s.Now = func() time.Time { return time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC) }
	if err := s.Allows(req.Query, f.ds, f.site); err != nil {
		t.Fatalf("Allows at 09:00 UTC on 28 February, before 1 March began anywhere: %v", err)
	}
	s.Now = func() time.Time { return time.Date(2026, 2, 28, 20, 0, 0, 0, time.UTC) }
	_, err = s.Stage(ctx, req)
	var de *DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("Stage on the eve of a rule east of UTC: %v, want *DeniedError", err)
	}
	if de.AsOf.String() != "2026-03-01" || len(de.Denials) == 0 || de.Denials[0].Rule != "test-no-cn-us-from-march" {
		t.Fatalf("refused as of %s by %+v; want the rule in force from 2026-03-01", de.AsOf, de.Denials)
	}
	if !strings.Contains(err.Error(), "rule test-no-cn-us-from-march") || !strings.Contains(err.Error(), "in some time zone") {
		t.Fatalf("refusal %q does not name the rule and the time zone", err)
	}
	if n := chunksAtSite(t, f); n != 0 {
		t.Fatalf("%d chunks reached the site", n)
	}
	// The run's check before staging (Allows) refuses it too.
	if err := s.Allows(req.Query, f.ds, f.site); !errors.As(err, &de) {
		t.Fatalf("Allows on the eve: %v, want *DeniedError", err)
	}
}

// TestStageRecordsTheUTCDay: a staging at 20:00 UTC on 28 February, judged
// on the 28th and 1 March (lawful on both), is recorded in the ledger as
// of the 28th, the UTC day it moved on: the record is not a gate.
func TestStageRecordsTheUTCDay(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 2, 64<<10, "")
	law := &dayLaw{}
	s := f.stager()
	s.Law = law
	s.Now = func() time.Time { return time.Date(2026, 2, 28, 20, 0, 0, 0, time.UTC) }
	res, err := s.Stage(ctx, f.request())
	if err != nil {
		t.Fatal(err)
	}
	if res.AsOf != "2026-02-28" {
		t.Fatalf("staging recorded as of %s; want the UTC day 2026-02-28", res.AsOf)
	}
	intents, confs := ledgerDays(t, f)
	for _, d := range append(intents, confs...) {
		if d != "2026-02-28" {
			t.Fatalf("intents as of %v, confirmations as of %v; want the UTC day", intents, confs)
		}
	}
	if !strings.Contains(strings.Join(law.asked, ","), "2026-03-01") {
		t.Fatalf("the law was asked about %v; want 1 March too", law.asked)
	}
}

// TestStageStopsWhenADayBeginsEastOfUTC: a staging begun at 09:00 UTC on
// the 15th, lawful then, is still sending at 11:00 UTC, when the 16th has
// begun at UTC+14. A rule in force from the 16th stops it there, on the
// same UTC day: nothing more moves.
func TestStageStopsWhenADayBeginsEastOfUTC(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 4, 200<<10, "")
	clock := &turningClock{from: testDay.Add(-3 * time.Hour), to: testDay.Add(-time.Hour)}
	law := &dayLaw{deny: map[string]bool{"2026-01-16": true}}
	s := f.stager()
	s.Law, s.Now, s.Batch, s.Workers = law, clock.now, 1, 1
	s.Ledger = &turnAfterConfirm{FileLedger: f.ledger, clock: clock}
	_, err := s.Stage(ctx, f.request())
	var de *DeniedError
	if !errors.As(err, &de) || de.AsOf.String() != "2026-01-16" {
		t.Fatalf("Stage running into the 16th east of UTC: %v, want the refusal as of 2026-01-16", err)
	}
	if n := chunksAtSite(t, f); n != 1 || manifestAtSite(f) {
		t.Fatalf("%d chunks at the site (manifest there: %v); want the one batch sent before", n, manifestAtSite(f))
	}
}

// TestDays: the dates an instant falls on somewhere on Earth.
func TestDays(t *testing.T) {
	for _, c := range []struct {
		at   string
		want string
	}{
		{"2026-02-28T20:00:00Z", "2026-02-28,2026-03-01"},
		{"2026-02-28T09:59:59Z", "2026-02-27,2026-02-28"},
		{"2026-02-28T10:00:00Z", "2026-02-27,2026-02-28,2026-03-01"},
		{"2026-02-28T12:00:00Z", "2026-02-28,2026-03-01"},
		{"2026-12-31T23:00:00Z", "2026-12-31,2027-01-01"},
		{"2026-03-01T05:00:00+09:00", "2026-02-28,2026-03-01"},
	} {
		at, err := time.Parse(time.RFC3339, c.at)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range Days(at) {
			got = append(got, d.String())
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("Days(%s) = %v, want %s", c.at, got, c.want)
		}
		if l := Latest(at).String(); l != got[len(got)-1] {
			t.Errorf("Latest(%s) = %s, want %s", c.at, l, got[len(got)-1])
		}
	}
}
