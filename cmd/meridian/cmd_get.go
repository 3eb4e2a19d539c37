package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
)

func init() { register(newGetCmd) }

// apiErr maps a server's 4xx answer to exit code 2.
func apiErr(err error) error {
	var se *api.StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusUnprocessableEntity {
		return badInput(err)
	}
	if errors.As(err, &se) && se.Status == http.StatusUnprocessableEntity {
		return &codeError{code: exitNoPlacement, err: err}
	}
	return err
}

// watchEvery is how often get --watch asks the server when it cannot
// have the tenant's runs stream.
var watchEvery = time.Second

func newGetCmd() *cobra.Command {
	var cf clientFlags
	var out string
	var watch bool
	cmd := &cobra.Command{
		Use:   "get runs [ID…] | get queue",
		Short: "List your runs, or the ones named, or those waiting",
		Long: `Get lists your runs, oldest first, with their state, site, attempt, last
progress and checkpoint, and age; name runs to see only those. -o wide adds
the accelerators, the plan date and the last reason. --watch prints the
table, then a line for each run whenever it changes, until interrupted (or,
when runs are named, until all of them end).

get queue lists your held runs in the order they are admitted (fair share
across tenants, then priority, then first come): each one's wait (capacity,
quota or law) and why, with the lawful pools it waits for.`,
		Example: "  meridian get runs\n  meridian get runs run-3f9a1c2b7d4e -o wide\n  meridian get runs --watch\n  meridian get runs -o json\n  meridian get queue",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "queue" {
				if len(args) > 1 || watch {
					return badInput(errors.New("get queue takes no names and no --watch"))
				}
				c, err := cf.client()
				if err != nil {
					return badInput(err)
				}
				q, err := c.Queue(cmd.Context())
				if err != nil {
					return apiErr(err)
				}
				if q == nil {
					q = []run.QueueEntry{}
				}
				return render(cmd.OutOrStdout(), out, map[string]any{"queue": q}, func(w io.Writer) error {
					return queueTable(w, q, out == "wide")
				})
			}
			if args[0] != "runs" && args[0] != "run" {
				return badInput(fmt.Errorf("get %q: the resources are runs and queue", args[0]))
			}
			ids := args[1:]
			if watch && (out == "json" || out == "yaml") {
				return badInput(errors.New("--watch prints a table; -o json and yaml print once"))
			}
			c, err := cf.client()
			if err != nil {
				return badInput(err)
			}
			w := cmd.OutOrStdout()
			if out == "json" || out == "yaml" {
				return printRunPages(cmd.Context(), w, c, out, ids)
			}
			// The table is aligned over all its rows (and a watch keeps
			// its columns), so it is printed once every page is read.
			marked, err := fetchShown(cmd.Context(), c, ids)
			if err != nil {
				return apiErr(err)
			}
			runs := runsOf(marked)
			wide := out == "wide"
			var cols []int // the table's, which a watch's rows keep
			if err := render(w, out, map[string]any{"runs": runs}, func(w io.Writer) error {
				return runTable(w, runs, wide, true, &cols)
			}); err != nil {
				return err
			}
			warned := changeWarns{}
			for _, r := range marked {
				warned.warn(cmd.ErrOrStderr(), r, false)
			}
			if !watch {
				return nil
			}
			return watchRuns(cmd.Context(), w, cmd.ErrOrStderr(), c, ids, marked, wide, cols, warned)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "after the table, print each change of a run until interrupted")
	addClientFlags(cmd, &cf)
	addOutputFlag(cmd, &out)
	return cmd
}

// queueTable prints the waiting runs in admission order.
func queueTable(w io.Writer, q []run.QueueEntry, wide bool) error {
	tw := newTab(w)
	h := []string{"POS", "ID", "JOB", "PRIORITY", "WAITS FOR", "SINCE", "REASON"}
	if wide {
		h = append(h, "POOLS")
	}
	row(tw, h...)
	now := time.Now()
	for _, e := range q {
		since := "-"
		if !e.Since.IsZero() {
			since = ageOf(now.Sub(e.Since))
		}
		cells := []string{strconv.Itoa(e.Position), e.Run, e.Job, strconv.Itoa(e.Priority), e.Wait, since, shown(e.Reason)}
		if wide {
			pools := make([]string, len(e.Wants))
			for i, p := range e.Wants {
				pools[i] = fmt.Sprintf("%s/%d (%d free)", p.Site, p.Pool, p.Free)
			}
			cells = append(cells, dash(strings.Join(pools, ", ")))
		}
		row(tw, cells...)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(q) == 0 {
		_, err := fmt.Fprintln(w, "nothing waits")
		return err
	}
	return nil
}

// printRunPages prints the tenant's runs, or the ones named, in JSON or
// YAML as each page (each named run) comes, byte for byte as render prints
// the whole list, and keeps none: a tenant's runs of any number print in
// the memory of a page, where they were all held (within the listing's
// bounds) before the first was printed.
func printRunPages(ctx context.Context, w io.Writer, c *api.Client, format string, ids []string) error {
	// Each run as the server shows it: changedOutsideMeridian and its
	// reason pass through.
	o, err := newPagedOut[*api.RunShown](w, format, "runs", "", nil)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		err = c.ListShownEach(ctx, o.page)
	}
	for _, id := range ids {
		r, gerr := c.GetShown(ctx, id)
		if gerr != nil {
			err = fmt.Errorf("run %s: %w", id, gerr)
			break
		}
		if err = o.page([]*api.RunShown{r}); err != nil {
			break
		}
	}
	if err != nil {
		return apiErr(err)
	}
	return o.end()
}

// fetchShown returns the tenant's runs, or the ones named, in that order,
// each as the server shows it: marked when its row was changed outside
// Meridian.
func fetchShown(ctx context.Context, c *api.Client, ids []string) ([]*api.RunShown, error) {
	if len(ids) == 0 {
		runs, err := c.ListShown(ctx)
		if err != nil {
			return nil, err
		}
		return runs, nil
	}
	runs := make([]*api.RunShown, 0, len(ids))
	for _, id := range ids {
		r, err := c.GetShown(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", id, err)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// runsOf is the runs of marked, without their marks.
func runsOf(marked []*api.RunShown) []*run.Run {
	runs := make([]*run.Run, len(marked))
	for i, r := range marked {
		runs[i] = r.Run
	}
	return runs
}

// warnChanged writes to w, when the server marks r changed outside
// Meridian (its row rewritten in the database without the audit key),
// a line that says so and why; this names the run as "this run" (one
// run shown), else by its id. The reason is the server's text, which may
// hold a tenant's, so it is shown escaped.
func warnChanged(w io.Writer, r *api.RunShown, this bool) {
	if r == nil || !r.ChangedOutsideMeridian && r.ChangedOutsideMeridianReason == "" {
		return
	}
	why := r.ChangedOutsideMeridianReason
	if why == "" {
		why = "the server gave no reason"
	}
	who := "this run's"
	if !this {
		who = "run " + shown(r.ID) + "'s"
	}
	fmt.Fprintf(w, "WARNING: %s record was changed outside Meridian: %s\n", who, shown(why))
}

// changeWarns is what a view that shows runs again and again (get
// --watch, run --follow) has warned of: for each run, a hash of the
// reason its last WARNING line gave. A run is warned of when the server
// first shows it marked, and again only when the reason changes, not at
// each event that carries it; a hash, so that what the view keeps per run
// is not as long as a reason may be.
type changeWarns map[string]uint64

// warn writes warnChanged's line for r to w unless it is the one last
// written for r.
func (cw changeWarns) warn(w io.Writer, r *api.RunShown, this bool) {
	if r == nil || r.Run == nil || !r.ChangedOutsideMeridian && r.ChangedOutsideMeridianReason == "" {
		return
	}
	h := fnv.New64a()
	io.WriteString(h, r.ChangedOutsideMeridianReason)
	sum := h.Sum64() | 1 // never 0, the zero value of a run not warned of
	// One run shown (this) is kept under one key, whatever id the server
	// gives it: a stream of one run cannot grow what is kept.
	key := ""
	if !this {
		key = r.ID
	}
	if cw[key] == sum {
		return
	}
	cw[key] = sum
	warnChanged(w, r, this)
}

// runRow is one run as get prints it.
func runRow(r *run.Run, wide bool, now time.Time) []string {
	step, loss, ck := "-", "-", "-"
	if r.Progress != nil {
		step, loss = strconv.FormatInt(r.Progress.Step, 10), strconv.FormatFloat(r.Progress.Loss, 'f', 4, 64)
	}
	if r.Checkpoint != nil {
		ck = strconv.FormatInt(r.Checkpoint.Step, 10)
	}
	row := []string{r.ID, r.Job, string(r.State), r.Site, strconv.Itoa(r.Attempt), step, loss, ck, ageOf(now.Sub(r.CreatedAt))}
	if wide {
		accs := "-"
		if r.Placement.Count > 0 {
			accs = fmt.Sprintf("%s × %d", r.Placement.Accelerator, r.Placement.Count)
		}
		row = append(row, accs, r.AsOf, dash(shown(r.Reason)))
	}
	return row
}

var runHeader = []string{"ID", "JOB", "STATE", "SITE", "ATTEMPT", "STEP", "LOSS", "CHECKPOINT", "AGE"}

// runTable prints runs, with a header when header is set, its columns at
// least *cols wide, and leaves in *cols the widths it used (cols may be nil).
func runTable(w io.Writer, runs []*run.Run, wide, header bool, cols *[]int) error {
	tw := newTab(w)
	tw.cols = cols
	h := runHeader
	if wide {
		h = append(append([]string{}, h...), "ACCELERATORS", "AS OF", "REASON")
	}
	if header {
		row(tw, h...)
	}
	now := time.Now()
	for _, r := range runs {
		row(tw, runRow(r, wide, now)...)
	}
	if colorOn(w) {
		first := 0
		if header {
			first = 1
		}
		tw.style = func(ri, col int, cell string) string {
			switch {
			case header && ri == 0:
				return paint(cell, sgrBold)
			case col == 2 && ri >= first:
				return paint(cell, stateColor(string(runs[ri-first].State)))
			}
			return cell
		}
	}
	return tw.Flush()
}

// watchRuns prints a row for each run whose state, site, attempt,
// progress or checkpoint changes, and for each new run when none are
// named. It returns when ctx ends, or, for named runs, when all of them
// have ended.
//
// It follows the tenant's runs stream (GET /v1/runs?follow=1), so a
// change prints as soon as the server has it; when the server gives no
// stream (one from before streams, or the tenant's streams are all
// taken) or the stream keeps breaking, it asks every watchEvery instead.
// A watched run that the server shows marked changed outside Meridian
// gets get's WARNING line on errw, once for each reason it gives; warned
// holds those already written (for runs, the table printed before).
func watchRuns(ctx context.Context, w, errw io.Writer, c *api.Client, ids []string, runs []*api.RunShown, wide bool, cols []int, warned changeWarns) error {
	if warned == nil {
		warned = changeWarns{}
	}
	wt := &runWatch{w: w, errw: errw, wide: wide, cols: cols, last: map[string]string{}, ended: map[string]bool{}, warned: warned}
	if len(ids) > 0 {
		wt.named = map[string]bool{}
		for _, id := range ids {
			wt.named[id] = true
		}
	}
	for _, r := range runs {
		wt.last[r.ID] = watchKey(r.Run)
		wt.ended[r.ID] = r.State.Final()
	}
	if wt.done() {
		return nil
	}
	err := c.FollowRuns(ctx, func(ev api.RunsStreamEvent) error {
		list := ev.List
		if ev.Run != nil {
			list = []*api.RunShown{ev.Run}
		}
		if err := wt.show(list); err != nil {
			return err
		}
		if wt.done() {
			return errWatchDone
		}
		return nil
	})
	switch {
	case ctx.Err() != nil, errors.Is(err, errWatchDone):
		return nil
	case errors.Is(err, errWatchWrite):
		return err
	}
	var se *api.StatusError
	if errors.As(err, &se) && se.Status != http.StatusTooManyRequests {
		return apiErr(err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watchEvery):
		}
		runs, err := fetchShown(ctx, c, ids)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return apiErr(err)
		}
		if err := wt.show(runs); err != nil {
			return err
		}
		if wt.done() {
			return nil
		}
	}
}

var (
	errWatchDone  = errors.New("the named runs have ended")
	errWatchWrite = errors.New("get --watch: writing the table")
)

// runWatch is what get --watch has printed: each run's last row key.
type runWatch struct {
	w     io.Writer
	errw  io.Writer // where a marked run's WARNING line goes
	wide  bool
	cols  []int           // the widths of the columns printed so far
	named map[string]bool // nil: every run of the tenant
	last  map[string]string
	ended map[string]bool // whether each run shown is final
	// warned holds the WARNING lines written, by run.
	warned changeWarns
}

// watchKey is what a watch prints a row for a change of: state, site,
// attempt, step, loss and checkpoint.
func watchKey(r *run.Run) string {
	return fmt.Sprint(runRow(r, false, r.CreatedAt)[2:8])
}

// show prints a row for each of runs that is watched and changed, and
// then the WARNING line of each watched run the server shows marked
// changed outside Meridian with a reason not yet warned of.
func (wt *runWatch) show(runs []*api.RunShown) error {
	var changed []*run.Run
	var marked []*api.RunShown
	for _, sr := range runs {
		r := sr.Run
		if wt.named != nil && !wt.named[r.ID] {
			continue
		}
		wt.ended[r.ID] = r.State.Final()
		if k := watchKey(r); wt.last[r.ID] != k {
			wt.last[r.ID] = k
			changed = append(changed, r)
		}
		if sr.ChangedOutsideMeridian || sr.ChangedOutsideMeridianReason != "" {
			marked = append(marked, sr)
		}
	}
	if len(changed) > 0 {
		if err := runTable(wt.w, changed, wt.wide, false, &wt.cols); err != nil {
			return fmt.Errorf("%w: %v", errWatchWrite, err)
		}
	}
	if len(marked) > 0 && wt.warned == nil {
		wt.warned = changeWarns{}
	}
	for _, r := range marked {
		wt.warned.warn(wt.errw, r, false)
	}
	return nil
}

// done says whether runs were named and all of them have ended.
func (wt *runWatch) done() bool {
	if wt.named == nil {
		return false
	}
	for id := range wt.named {
		if !wt.ended[id] {
			return false
		}
	}
	return true
}

// ageOf is how long ago, as kubectl prints it: 45s, 12m, 3h, 2d.
func ageOf(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
