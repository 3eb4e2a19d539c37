package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"meridian.dev/meridian/store"
)

// Config.TenantLogLimit bounds the output kept for all of one tenant's
// attempts together. LogLimit bounds each attempt's alone: without this, a
// tenant that submitted, printed LogLimit and cancelled over and over
// would fill the state directory, and the database and the audit anchor
// with it. The bound counts every run of the tenant's whose output is
// kept; when an append would pass it, the output of the tenant's oldest
// ended runs is removed to make room (outputevict.go), oldest end first,
// and only once none is left is the append cut. So a busy tenant's new
// runs keep their output, and what its old ones kept goes first; serve
// sets it on by default (DefaultTenantLogLimit).

// DefaultTenantLogLimit is serve's bound on the output kept for all of
// one tenant's attempts (Config.TenantLogLimit), 4 GiB. It is an
// assumption, not a fact: that the state directory's filesystem has room
// for it for every tenant beside the database, and that a tenant wants
// the whole output of its last few hundred attempts (each keeps at most
// LogLimit, 16 MiB: 256 of them fill it), older ones' output going first.
const DefaultTenantLogLimit = 4 << 30

// tenantOutput counts the bytes of output kept for one tenant's attempts.
// It is counted once from the files (tenantOutputs), and then on each
// append: two appends of the tenant's at once take their bytes from the
// same count, so together they never pass the bound.
type tenantOutput struct {
	// ready is closed once used is counted, or err says why it could not
	// be.
	ready chan struct{}
	err   error
	// failed is when the count failed (with err): the failure is kept
	// for outputCountRetry, so that posts in that time are told at once
	// rather than each counting the whole tenant again.
	failed time.Time
	used   atomic.Int64
	// recount says bytes were cut from a file of the tenant's that the
	// count may hold (takeBack): the next post counts the tenant again.
	recount atomic.Bool
	// The posts of output under way that hold this count
	// (heldTenantOutputs), guarded by holdMu. A count that replaces it
	// waits for them before it reads the files (waitPosts): bytes one took
	// from this count and had not yet written were missed by the count,
	// which came out low by them and let the tenant's output pass its
	// bound. holds is how many there are, pending the bytes they took and
	// have not been answered for, drained is made once another count
	// replaces this one and closed once holds is 0, and abandoned says the
	// count that replaced this one stopped waiting and counted their
	// pending bytes: no post takes from this count after. afterDrained,
	// set then, is called once the last of them is answered.
	holdMu       sync.Mutex
	holds        int
	pending      int64
	drained      chan struct{}
	abandoned    bool
	afterDrained func()
	// ended are the tenant's ended runs whose output may be kept, oldest
	// end first: what is removed to make room (outputevict.go).
	ended endedOutputs
	// refilled is when ended was last listed again from the store
	// (refillEnded), and refillErr why that listing failed.
	refillMu  sync.Mutex
	refilled  time.Time
	refillErr error
}

// outputCountRetry is how long a failed count of a tenant's output is
// kept before a post counts again: long enough that a store that is down
// is not asked by every post, well short of the 30 s an agent retries its
// final output for, so one brief failure drops none of it.
const outputCountRetry = 5 * time.Second

// stale says whether t is a count that failed more than outputCountRetry
// before now; t.ready must be closed.
func (t *tenantOutput) stale(now time.Time) bool {
	return t.err != nil && now.Sub(t.failed) >= outputCountRetry
}

// take reserves up to n more bytes under limit and returns how many it
// reserved (0 once limit is reached).
func (t *tenantOutput) take(limit, n int64) int64 {
	if t == nil {
		// No bound (Config.TenantLogLimit 0).
		return n
	}
	for {
		used := t.used.Load()
		got := min(n, max(limit-used, 0))
		if got <= 0 || t.used.CompareAndSwap(used, used+got) {
			return max(got, 0)
		}
	}
}

// full says whether limit is reached; never without a bound (t nil).
func (t *tenantOutput) full(limit int64) bool { return t != nil && t.used.Load() >= limit }

// tenantOutputs returns tenant's count of output kept, counting it from
// the tenant's output files the first time it is asked for (after each
// start: the files are the record). The first asker starts the count;
// every asker waits for it for at most outputCountWait and no longer than ctx,
// then errLogBusy. A count that failed is kept outputCountRetry, and the
// first asker after that counts again; so does the first asker after
// bytes the count may hold were cut (tenantOutput.recount).
func (c *Controller) tenantOutputs(ctx context.Context, tenant string) (*tenantOutput, error) {
	t, h, err := c.heldTenantOutputs(ctx, tenant)
	if err != nil {
		return nil, err
	}
	h.release()
	return t, nil
}

// outputHold is one post's hold on its tenant's count (heldTenantOutputs),
// and the bytes it took from it: released once the post is answered.
type outputHold struct {
	t     *tenantOutput
	taken int64
}

// take records that the post took n bytes from the count (takeOutput) and
// is about to write them. It says false where the count that replaced
// this one stopped waiting for its posts and counted the bytes they had
// taken: the post writes nothing and gives the n bytes back (answered
// 503, and posted again).
func (h *outputHold) take(n int64) bool {
	if h == nil {
		return true
	}
	h.t.holdMu.Lock()
	defer h.t.holdMu.Unlock()
	if h.t.abandoned {
		return false
	}
	h.t.pending += n
	h.taken += n
	return true
}

// release lets go of the post's hold once it is answered. It is never
// called under outputMu: the last post a count stopped waiting for calls
// its afterDrained, which takes it.
func (h *outputHold) release() {
	if h == nil {
		return
	}
	t := h.t
	t.holdMu.Lock()
	t.holds--
	t.pending -= h.taken
	h.taken = 0
	var then func()
	if t.holds == 0 && t.drained != nil {
		close(t.drained)
		then, t.afterDrained = t.afterDrained, nil
	}
	t.holdMu.Unlock()
	if then != nil {
		then()
	}
}

// hold is a new post's hold on t; called under outputMu while t is the
// tenant's count, so that none is taken once another replaces it.
func (t *tenantOutput) hold() *outputHold {
	t.holdMu.Lock()
	defer t.holdMu.Unlock()
	t.holds++
	return &outputHold{t: t}
}

// replaced says another count replaces t; called under outputMu. Its
// drained is closed once no post holds t.
func (t *tenantOutput) replaced() {
	t.holdMu.Lock()
	defer t.holdMu.Unlock()
	t.drained = make(chan struct{})
	if t.holds == 0 {
		close(t.drained)
	}
}

// abandon stops t's posts taking from it, and returns the bytes they
// took and have not been answered for: they may be written after the
// files are counted. then is called once the last post holding t is
// answered; never where none does (all were answered before the files
// are read).
func (t *tenantOutput) abandon(then func()) int64 {
	t.holdMu.Lock()
	defer t.holdMu.Unlock()
	t.abandoned = true
	if t.holds > 0 {
		t.afterDrained = then
	}
	return t.pending
}

// heldTenantOutputs is tenantOutputs for a post of output, which holds
// the count it is given (tenantOutput.holds) until it is answered, and
// then calls the hold's release. A post given an error holds nothing.
func (c *Controller) heldTenantOutputs(ctx context.Context, tenant string) (*tenantOutput, *outputHold, error) {
	c.outputMu.Lock()
	t := c.outputs[tenant]
	counter := t == nil || (counted(t) && (t.stale(time.Now()) || t.recount.Load()))
	prev := t
	if counter {
		if c.outputs == nil {
			c.outputs = map[string]*tenantOutput{}
		}
		t = &tenantOutput{ready: make(chan struct{})}
		c.outputs[tenant] = t
		if prev != nil {
			prev.replaced()
		}
	}
	// Held under outputMu: once a count replaces t, no post holds it
	// anew, and the count's wait for those that do (waitPosts) ends.
	h := t.hold()
	c.outputMu.Unlock()
	if counter {
		// Counted apart from the request: a tenant of many runs may take
		// longer to count than an agent waits for an answer, and a count
		// cut short by each post's end would never finish.
		// It ends with the controller's Run (or its own timeout), not
		// the post's.
		go c.countTenant(c.lifeContext(), tenant, t, prev)
	}
	if err := awaitCount(ctx, t.ready); err != nil {
		h.release()
		return nil, nil, err
	}
	if t.err != nil {
		h.release()
		return nil, nil, t.err
	}
	return t, h, nil
}

// recountWaits, where tests set it, is called when a count begins to wait
// for the posts that hold the count it replaces.
var recountWaits func()

// recountPostsWait bounds how long a count waits for the posts that hold
// the count it replaces (waitPosts). Posts of the tenant's that come
// meanwhile wait for the count, and are answered 503 past
// outputCountWait: one post held up (a sync that hangs on a failing
// disk) would otherwise hold them all so for outputCountTimeout. A
// variable so that tests may shorten it.
var recountPostsWait = 15 * time.Second

// waitPosts waits for the posts under way that hold prev, the count a
// new one replaces, to be answered, for no longer than recountPostsWait
// and ctx. Past recountPostsWait it returns the bytes those still under
// way took and have not been answered for (prev.abandon), to be counted
// with the files: some may be in the files already, and so counted
// twice, but none is missed; the count errs high, never low. No post
// takes from prev after, and once the last of them is answered
// stopped() is called: the count that then holds is not exact (those
// posts' bytes counted twice, or cut back after the files were read).
func waitPosts(ctx context.Context, prev *tenantOutput, stopped func()) (int64, error) {
	if prev == nil {
		return 0, nil
	}
	if recountWaits != nil {
		recountWaits()
	}
	prev.holdMu.Lock()
	drained := prev.drained
	prev.holdMu.Unlock()
	wait := time.NewTimer(recountPostsWait)
	defer wait.Stop()
	select {
	case <-drained:
		return 0, nil
	case <-wait.C:
		return prev.abandon(stopped), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for the posts of output under way before counting: %w", ctx.Err())
	}
}

// recountOutput has the first post of tenant's output from now on count
// the tenant again (tenantOutput.recount): the one counting now, where
// one is, once it is done.
func (c *Controller) recountOutput(tenant string) {
	c.outputMu.Lock()
	t := c.outputs[tenant]
	c.outputMu.Unlock()
	if t != nil {
		t.recount.Store(true)
	}
}

// outputCountTimeout bounds one count of a tenant's output.
const outputCountTimeout = 5 * time.Minute

// counted says whether t's count has ended.
func counted(t *tenantOutput) bool {
	select {
	case <-t.ready:
		return true
	default:
		return false
	}
}

// lifeContext is the context of the controller's Run while it runs, and
// context.Background before it starts (a controller serving agents only).
func (c *Controller) lifeContext() context.Context {
	if ctx := c.life.Load(); ctx != nil {
		return *ctx
	}
	return context.Background()
}

// countTenant counts tenant's output into t and closes t.ready; a count
// that failed says when (t.failed), and is kept outputCountRetry.
func (c *Controller) countTenant(ctx context.Context, tenant string, t, prev *tenantOutput) {
	ctx, cancel := context.WithTimeout(ctx, outputCountTimeout)
	defer cancel()
	// The files are read once the posts holding the count this one
	// replaces are answered: their bytes are written (or cut) by then.
	// Where it stops waiting, the tenant is counted again at the first
	// post once those posts are answered: the bytes they took, counted
	// besides the files, are in the files by then or cut back, and a
	// failed one's cut (takeBack) said so on prev, which no post reads.
	late, err := waitPosts(ctx, prev, func() { c.recountOutput(tenant) })
	if late > 0 {
		c.cfg.Logger.Warn("counting a tenant's kept output without waiting longer for posts under way: the bytes they took are counted, some perhaps twice, until they are answered and the tenant counted again",
			"tenant", tenant, "waited", recountPostsWait, "bytes", late)
	}
	var used int64
	if err == nil {
		c.sweepRemoved()
		used, err = c.countOutput(ctx, tenant)
		used += late
	}
	if err == nil {
		err = c.listEnded(ctx, tenant, t)
	}
	t.used.Store(used)
	if err != nil {
		t.err, t.failed = err, time.Now()
		if ctx.Err() != nil {
			// Cut short (the controller stopping, or the count's own
			// timeout): the next post counts again at once.
			t.failed = time.Time{}
		}
		c.cfg.Logger.Warn("counting a tenant's kept output", "tenant", tenant, "err", err)
	} else if used >= c.cfg.TenantLogLimit {
		c.cfg.Logger.Warn("a tenant's kept output has reached serve --tenant-output-limit: its oldest ended runs' output is removed to make room for new output, and past that no more is kept",
			"tenant", tenant, "bytes", used, "limit", c.cfg.TenantLogLimit, "ended runs with output", t.ended.len())
	}
	close(t.ready)
}

// outputCountWait bounds how long a post of output waits for its tenant's
// output to be counted before it is answered 503 (and posted again). A
// variable so that tests on a loaded machine may raise it.
var outputCountWait = 2 * time.Second

// awaitCount waits for ready to be closed, for at most outputCountWait and
// no longer than ctx (errLogBusy).
func awaitCount(ctx context.Context, ready <-chan struct{}) error {
	select {
	case <-ready:
		return nil
	default:
	}
	wait := time.NewTimer(outputCountWait)
	defer wait.Stop()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return errLogBusy
	case <-wait.C:
		return errLogBusy
	}
}

// outputScanPage is how many of a tenant's runs one read of the store
// lists while its output is counted.
const outputScanPage = 1000

// countOutput sums the sizes of the output files of every run of
// tenant's, reading the runs' ids a page at a time (no run is read whole).
func (c *Controller) countOutput(ctx context.Context, tenant string) (int64, error) {
	var sum int64
	after := ""
	for {
		page, err := c.cfg.Store.RunVersionsAfter(ctx, tenant, after, outputScanPage)
		if err != nil {
			return 0, fmt.Errorf("counting tenant %s's output: %w", tenant, err)
		}
		for _, v := range page {
			n, err := c.runOutput(v.ID)
			if err != nil {
				return 0, fmt.Errorf("counting tenant %s's output: %w", tenant, err)
			}
			sum += n
		}
		if len(page) < outputScanPage {
			return sum, nil
		}
		after = page[len(page)-1].ID
	}
}

// runOutput is the size of run id's attempts' output files (0 when it has
// none).
func (c *Controller) runOutput(id string) (int64, error) { return dirOutput(c.logDir(id)) }

// dirOutput is the size of the attempts' output files in dir, a run's
// output directory (0 when there is none).
func dirOutput(dir string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "attempt-") || !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		sum += fi.Size()
	}
	return sum, nil
}

// noteOutputCut records on the run's timeline, once per attempt on this
// server, that attempt a's output is no longer kept: its tenant's runs
// have reached TenantLogLimit. The post that found it is answered as
// one past LogLimit is, whether this is recorded or not.
func (c *Controller) noteOutputCut(ctx context.Context, r *Run, a Attempt) {
	key := attemptKey(r.ID, a.N)
	c.mu.Lock()
	m := c.memo(key, time.Now())
	noted := m.outputCut
	m.outputCut = true
	c.mu.Unlock()
	if noted {
		return
	}
	reason := fmt.Sprintf("attempt %d's output is no longer kept: the output kept for tenant %s's runs has reached this server's limit of %d bytes (serve --tenant-output-limit); the site's own log has the rest",
		a.N, r.Tenant, c.cfg.TenantLogLimit)
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		ch.Events = append(ch.Events, store.Event{Kind: "output-not-kept", Reason: reason})
		return nil
	})
	if err != nil {
		// Told at a later post instead.
		c.mu.Lock()
		c.memo(key, time.Now()).outputCut = false
		c.mu.Unlock()
		c.cfg.Logger.Warn("recording that an attempt's output is no longer kept", "run", r.ID, "attempt", a.N, "err", err)
	}
}

// TenantOutputLimit is the bound on the output kept for all of one
// tenant's attempts this controller was given (Config.TenantLogLimit;
// 0, no bound): serve's tests check what its flag gave.
func (c *Controller) TenantOutputLimit() int64 { return c.cfg.TenantLogLimit }
