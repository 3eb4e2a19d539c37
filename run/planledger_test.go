package run

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// labSG is the Organization jobDoc carries: lab, headquartered in SG.
const labSG = "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: SG}\n"

// ledgerController is f's staging controller with ledger, planning as
// serve's planners do: the controller's with the context the controller
// hands it as the plan's, the API's with the options it is given.
func ledgerController(f *lawCheckFixture, ledger policy.Exports, mods ...func(*Config)) *Controller {
	law := f.rs.Law()
	return f.stagingController(func(cfg *Config) {
		for _, mod := range mods {
			mod(cfg)
		}
		cfg.Exports = ledger
		cfg.Plan = func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{Context: ctx, AsOf: asOf, ExcludeSites: exclude, Rules: law})
		}
		cfg.PlanWith = func(w *catalog.World, job *catalog.TrainingJob, opts planner.Options) (*planner.Plan, error) {
			opts.Rules = law
			return planner.Make(w, job, opts)
		}
	})
}

// TestSubmitCountsLedgerInPlan: tenant t1's lab exported the data of
// 95,000 people from China this year (a staging at alpha, in SG, which
// the ledger records). A job on 10,000 more Chinese people's data makes
// 105,000: in the band of China's 2024 rules that needs a standard
// contract (cn-cbdf-2024-contract), which lab does not have, at both
// sites (SG and MY). Before, the server's plans had no ledger: the plan
// counted the 10,000 only, ranked alpha lawful and the run was submitted,
// to fail at staging. The submission and the API's plan now refuse it,
// naming the rule. Tenant t2, with an organisation of the same name,
// exported nothing: its run of the same job is planned.
func TestSubmitCountsLedgerInPlan(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := ledgerController(f, transfer.AuditExports(f.st))
	keys, err := dataset.TenantKeyrings{Root: f.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	before := addDataset(t, f.dir, keys, testData{name: "cn-before", origin: "CN", class: catalog.ClassPersonal, subjects: 95000, stored: true})
	if _, err := c.Apply(ctx, "t1", []Document{{Name: "res.yaml", Content: labSG + before}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StageDataset(ctx, "t1", "cn-before", StageRequest{Site: "alpha", Organization: "lab"}); err != nil {
		t.Fatalf("95,000 people from CN, below the band: %v", err)
	}
	more := "---\napiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: cn-more}\nspec:\n  origin: CN\n  classification: personal\n  sizeBytes: 1.0e5\n  subjects: 10000\n"
	job := dataJobDoc(10, 1, []string{"cn-more"}, false, more)

	_, _, err = c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{job}})
	if !errors.Is(err, ErrNoPlacement) || !strings.Contains(err.Error(), "cn-cbdf-2024-contract") {
		t.Fatalf("t1's submission of 10,000 more: %v, want no placement, naming cn-cbdf-2024-contract", err)
	}
	plan, err := c.Plan(ctx, "t1", PlanRequest{Documents: []Document{job}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Placements) != 0 || !deniedBy(plan, "alpha", "cn-cbdf-2024-contract") {
		t.Fatalf("t1's plan: %d placements, rejections %+v; want alpha denied by cn-cbdf-2024-contract", len(plan.Placements), plan.Rejected)
	}

	r, _, err := c.Submit(ctx, "t2", SubmitRequest{Documents: []Document{job}})
	if err != nil {
		t.Fatalf("t2, which exported nothing: %v", err)
	}
	if r.State != Planned || r.Site != "alpha" {
		t.Fatalf("t2's run: %s at %s (%s), want planned at alpha", r.State, r.Site, r.Reason)
	}
}

// deniedBy reports whether plan rejects a pool of site for rule.
func deniedBy(plan *planner.Plan, site, rule string) bool {
	return slices.ContainsFunc(plan.Rejected, func(rj planner.Rejection) bool {
		return rj.Site == site && slices.ContainsFunc(rj.Reasons, func(f policy.Finding) bool { return f.Rule == rule })
	})
}

// TestSubmitLedgerUnreadDecidesNothing: a volume rule that cannot read the
// ledger has judged no placement. The submission is refused as not
// judged (a store's passing error, tried again), not planned as if the
// job's own data were all that counted, nor refused as if the law denied
// it; nothing is written. The API's plan answers the same.
func TestSubmitLedgerUnreadDecidesNothing(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	ledger := &failingExports{}
	ledger.fail.Store(true)
	c := ledgerController(f, ledger)
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{volumePack("test-volume-my", "MY", 5000)}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := dataset.TenantKeyrings{Root: f.dir}.For("t1")
	if err != nil {
		t.Fatal(err)
	}
	job := dataJobDoc(10, 1, []string{"people"}, false, addDataset(t, f.dir, keys, testData{name: "people", origin: "MY", class: catalog.ClassPersonal}))
	_, _, err = c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{job}})
	if !errors.Is(err, planner.ErrLedgerUnread) || !notJudged(err) || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("submission while the ledger fails: %v, want a plan not judged for the ledger", err)
	}
	if ledger.reads.Load() == 0 {
		t.Fatal("the plan did not read the ledger: the test tries nothing")
	}
	var n int
	if err := f.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM runs`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d runs after the refused submission (%v), want none", n, err)
	}
	if _, err := c.Plan(ctx, "t1", PlanRequest{Documents: []Document{job}}); !errors.Is(err, planner.ErrLedgerUnread) {
		t.Fatalf("the API's plan while the ledger fails: %v, want ErrLedgerUnread", err)
	}
	ledger.fail.Store(false)
	if r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{job}}); err != nil || r.State != Planned {
		t.Fatalf("submission once the ledger reads: %v", err)
	}
}
