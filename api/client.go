package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/textfit"
	"meridian.dev/meridian/internal/tlspin"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// Client calls a Meridian server.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
	// StreamIdle is how long a followed stream may send nothing, its
	// answer's headers included, before it is taken for broken and opened
	// again (DefaultStreamIdle when zero). The server sends a comment line
	// every Streams.Heartbeat, so a live stream is never that quiet.
	StreamIdle time.Duration
}

// DefaultStreamIdle is Client.StreamIdle's default: four of the server's
// default heartbeats.
const DefaultStreamIdle = 4 * 15 * time.Second

// NewClient returns a client for the server at base (http://host:port, or
// https:// with a certificate the system trusts).
func NewClient(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second, CheckRedirect: tlspin.NoRedirects}}
}

// NewPinnedClient returns a client that trusts exactly the server
// certificate with fingerprint fp (a self-signed server's, as `meridian
// serve` prints it); with fp empty it is NewClient.
func NewPinnedClient(base, token, fp string) (*Client, error) {
	hc, err := tlspin.HTTPClient(fp, 60*time.Second)
	if err != nil {
		return nil, err
	}
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: hc}, nil
}

// StatusError is an error response from the server.
type StatusError struct {
	Status int
	Err    Error
}

func (e *StatusError) Error() string {
	if e.Err.Field != "" {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Err.Field, e.Err.Message, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Err.Message, e.Status)
}

// maxErrorText bounds the text of an error answer the client keeps: it
// becomes the message a CLI prints, and a proxy's page or a hostile server
// could make it megabytes long.
const maxErrorText = 1024

// statusError is the error of an answer with status >= 400 and body data:
// the server's message (the body itself when it is not an API error), cut
// to maxErrorText bytes.
func statusError(status int, data []byte) *StatusError {
	var e ErrorBody
	if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
		e.Error.Message = strings.TrimSpace(string(data))
	}
	e.Error.Message = clipText(e.Error.Message)
	e.Error.Field = clipText(e.Error.Field)
	e.Error.Code = clipText(e.Error.Code)
	return &StatusError{Status: status, Err: e.Error}
}

// clipText cuts s to maxErrorText bytes, on a rune boundary, saying so.
func clipText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	return fmt.Sprintf("%s… (cut; %d bytes in all)", textfit.Prefix(s, maxErrorText), len(s))
}

// maxAnswer bounds what the client reads of one answer, and of the
// runs stream's list, which is that answer on one line. A longer answer is
// an error (ErrAnswerTooLarge), never its first maxAnswer bytes: a log cut
// there would lose its end without a word.
const maxAnswer = 64 << 20

// ErrAnswerTooLarge is the error of an answer longer than the client reads.
var ErrAnswerTooLarge = errors.New("answer too large")

// MaxListBytes and MaxListPages bound what the client reads for one
// listing that comes in pages (runs, a run's events, audit entries, the
// ledger) and that it returns whole: each answer is bounded by itself, but
// a server that kept naming a next page would otherwise be read for ever,
// and every page kept, until the machine ran out of memory. A real
// server's pages hold up to a thousand items or 16 MiB, so a listing that
// reaches either bound is far longer than any the client can usefully hold
// at once: it is refused (ErrListTooLong), naming the bound. A listing
// handed on a page at a time (AuditEach, AuditAllEach) keeps no page, so
// it is not held to them: its memory is one page's, however long it is.
const (
	MaxListBytes = 256 << 20
	MaxListPages = 4096
)

// ErrListTooLong is the error of a listing longer than the client reads.
var ErrListTooLong = errors.New("listing too long")

// listing counts the pages of one listing read so far.
type listing struct {
	what  string // what is listed, for errors: "runs", "audit"
	pages int
	bytes int64
	items int
	// each says the caller hands every page on and keeps none: the
	// listing is not held to MaxListPages and MaxListBytes.
	each bool
}

// page counts a page of n items read as data; more says the page names a
// next one. A listing the client keeps whole must stay within MaxListPages
// and MaxListBytes. A page may be empty and still name a next one (the
// ledger of one dataset is the tenant's records filtered page by page, so
// a page of other datasets' records is empty): what ends every listing is
// that each caller checks the next page's cursor lies strictly after the
// page's, so that a server cannot name the same page again.
func (l *listing) page(data []byte, n int, more bool) error {
	l.pages++
	l.bytes += int64(len(data))
	l.items += n
	switch {
	case l.each:
	case l.bytes > MaxListBytes:
		return fmt.Errorf("%s: %w: the server's pages came to over %d bytes (%d MiB; %d items in %d pages), the most the client reads for one listing",
			l.what, ErrListTooLong, MaxListBytes, MaxListBytes>>20, l.items, l.pages)
	case more && l.pages >= MaxListPages:
		return fmt.Errorf("%s: %w: the server named a next page after %d pages (%d items), the most the client reads for one listing",
			l.what, ErrListTooLong, MaxListPages, l.items)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) (*http.Response, []byte, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		payload = b
	}
	var resp *http.Response
	var data []byte
	for try := 1; ; try++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		if body != nil {
			req.Header.Set("Content-Type", BodyType)
		}
		resp, err = c.HTTP.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("meridian server at %s: %w", c.shownBase(), err)
		}
		// One byte more than the limit tells a longer answer from one
		// that is exactly as long.
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
		resp.Body.Close()
		if err != nil {
			return resp, nil, err
		}
		wait, again := retryAfter(resp, data, try)
		if !again {
			break
		}
		// The server turned the request away before doing anything with
		// it (its rate or its plans under way): asked again when it said.
		select {
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		case <-time.After(wait):
		}
	}
	if len(data) > maxAnswer {
		return resp, nil, fmt.Errorf("%s %s: %w: the server's answer (HTTP %d) is over %d bytes (%d MiB), the most the client reads",
			method, path, ErrAnswerTooLarge, resp.StatusCode, maxAnswer, maxAnswer>>20)
	}
	if resp.StatusCode >= 400 {
		se := statusError(resp.StatusCode, data)
		if wait, ok := restLeft(resp, se); ok {
			// The tenant's rest after its last verification is
			// longer than is worth waiting out here (up to minutes):
			// said at once, with when to ask again, where the
			// client used to wait out tries of 30 s and still fail.
			return resp, data, &TooSoonError{StatusError: se, Wait: wait, At: time.Now().Add(wait)}
		}
		return resp, data, se
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, data, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp, data, nil
}

// Submit creates a run.
func (c *Client) Submit(ctx context.Context, req run.SubmitRequest) (*run.Run, error) {
	var r run.Run
	_, _, err := c.do(ctx, http.MethodPost, "/v1/runs", req, &r)
	return &r, err
}

// List returns the tenant's runs, read a page at a time.
func (c *Client) List(ctx context.Context) ([]*run.Run, error) {
	return c.listAfter(ctx, "", nil)
}

// ListEach calls fn with each page of the tenant's runs, oldest first, and
// keeps none of them (only their ids, to tell a page that lists a run
// again): a tenant's runs of any number are read in the memory of a page.
// An error of fn ends the reading and is returned.
func (c *Client) ListEach(ctx context.Context, fn func(page []*run.Run) error) error {
	return c.ListShownEach(ctx, func(page []*RunShown) error { return fn(runsOf(page)) })
}

// ListShownEach is ListEach with each run as the server shows it: marked
// when its row was changed outside Meridian (RunShown).
func (c *Client) ListShownEach(ctx context.Context, fn func(page []*RunShown) error) error {
	return c.runPages(ctx, "", map[string]bool{}, &listing{what: "runs", each: true}, fn)
}

// ListShown is List with each run as the server shows it (RunShown).
func (c *Client) ListShown(ctx context.Context) ([]*RunShown, error) {
	var all []*RunShown
	err := c.runPages(ctx, "", map[string]bool{}, &listing{what: "runs"}, func(page []*RunShown) error {
		all = append(all, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// runsOf is the runs of page, without their marks.
func runsOf(page []*RunShown) []*run.Run {
	out := make([]*run.Run, len(page))
	for i, r := range page {
		out[i] = r.Run
	}
	return out
}

// listAfter reads the tenant's runs after run after (all of them from "")
// a page at a time; seen holds the runs already read, which no page may
// list again.
func (c *Client) listAfter(ctx context.Context, after string, seen map[string]bool) ([]*run.Run, error) {
	all, err := c.shownAfter(ctx, after, seen)
	if err != nil || all == nil {
		return nil, err
	}
	return runsOf(all), nil
}

// shownAfter is listAfter with each run as the server shows it (RunShown).
func (c *Client) shownAfter(ctx context.Context, after string, seen map[string]bool) ([]*RunShown, error) {
	var all []*RunShown
	if seen == nil {
		seen = map[string]bool{}
	}
	err := c.runPages(ctx, after, seen, &listing{what: "runs"}, func(page []*RunShown) error {
		all = append(all, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// runPages reads GET /v1/runs a page at a time from after run after to
// the last page, handing each to fn; seen holds the runs already read,
// which no page may list again.
func (c *Client) runPages(ctx context.Context, after string, seen map[string]bool, l *listing, fn func([]*RunShown) error) error {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(RunPage))
	if after != "" {
		q.Set("after", after)
	}
	for {
		var page RunShownList
		_, data, err := c.do(ctx, http.MethodGet, "/v1/runs?"+q.Encode(), nil, &page)
		if err != nil {
			return err
		}
		if err := l.page(data, len(page.Runs), page.Next != ""); err != nil {
			return err
		}
		for i, r := range page.Runs {
			if r == nil {
				return fmt.Errorf("runs: the server's page %d lists null as run %d", l.pages, i)
			}
			if r.Run == nil { // {}: a run with no field set
				r.Run = &run.Run{}
			}
			if seen[r.ID] {
				return fmt.Errorf("runs: the server listed run %s twice: the pages would never end", r.ID)
			}
			seen[r.ID] = true
		}
		// The server's next page starts after the page's last run, so
		// an empty page cannot name one (and one that did could name the
		// same page for ever).
		if page.Next != "" && len(page.Runs) == 0 {
			return fmt.Errorf("runs: the server's page %d is empty but names a next page (after %q): the pages would never end", l.pages, page.Next)
		}
		if page.Next != "" && page.Next != page.Runs[len(page.Runs)-1].ID {
			return fmt.Errorf("runs: the server's next page starts after %q, not after the page's last run", page.Next)
		}
		if err := fn(page.Runs); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		q.Set("after", page.Next)
	}
}

// Queue returns the tenant's held runs in admission order, read a page at
// a time within the listing's bounds. The queue moves between pages; each
// page is the order as of its request. Each page starts after the place
// of the page before's last entry (its cursor), which runs admitted or
// held meanwhile do not move; a server from before cursors is read by
// position, where a run admitted meanwhile shifts one later run into a
// page already read (not shown). A run shown already (the order itself
// changed: a tenant's share of one family rose past another's) is shown
// once, where it was first seen.
func (c *Client) Queue(ctx context.Context) ([]run.QueueEntry, error) {
	out := []run.QueueEntry{}
	seen := map[string]bool{}
	l := &listing{what: "queue"}
	after, cursor := 0, ""
	for {
		q := url.Values{}
		q.Set("limit", strconv.Itoa(RunPage))
		if cursor != "" {
			q.Set("cursor", cursor)
		} else if after > 0 {
			q.Set("after", strconv.Itoa(after))
		}
		var page QueueList
		_, data, err := c.do(ctx, http.MethodGet, "/v1/queue?"+q.Encode(), nil, &page)
		if err != nil {
			return nil, err
		}
		if err := l.page(data, len(page.Queue), page.Next != ""); err != nil {
			return nil, err
		}
		for _, e := range page.Queue {
			if !seen[e.Run] {
				seen[e.Run] = true
				out = append(out, e)
			}
		}
		if page.Next == "" {
			return out, nil
		}
		// The next page starts after the page's last entry, which lies
		// after the page before's: a server naming the same page again
		// could make the pages never end.
		if len(page.Queue) == 0 {
			return nil, fmt.Errorf("queue: the server's page %d is empty but names a next page (after %q): the pages would never end", l.pages, page.Next)
		}
		if page.Cursor != "" {
			if page.Cursor == cursor {
				return nil, fmt.Errorf("queue: the server's page %d names itself as the next page: the pages would never end", l.pages)
			}
			cursor = page.Cursor
			continue
		}
		next, err := strconv.Atoi(page.Next)
		if err != nil || next != page.Queue[len(page.Queue)-1].Position || next <= after {
			return nil, fmt.Errorf("queue: the server's page %d names a next page (after %q) that does not start after its last entry: the pages would never end", l.pages, page.Next)
		}
		after, cursor = next, ""
	}
}

// Get returns one run.
func (c *Client) Get(ctx context.Context, id string) (*run.Run, error) {
	r, err := c.GetShown(ctx, id)
	return r.Run, err
}

// GetShown returns one run as the server shows it: marked when its row
// was changed outside Meridian (RunShown).
func (c *Client) GetShown(ctx context.Context, id string) (*RunShown, error) {
	r := &RunShown{Run: &run.Run{}}
	_, _, err := c.do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id), nil, r)
	if r.Run == nil { // the server answered null
		r.Run = &run.Run{}
	}
	return r, err
}

// Events returns a run's timeline, every page of it.
func (c *Client) Events(ctx context.Context, id string) ([]store.Event, error) {
	out := []store.Event{}
	err := c.eventPages(ctx, id, &listing{what: "events of " + id}, func(page []store.Event) error {
		out = append(out, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EventsEach calls fn with each page of a run's timeline, in order, and
// keeps none of them: a timeline of any length is read in the memory of
// a page. An error of fn ends the reading and is returned.
func (c *Client) EventsEach(ctx context.Context, id string, fn func(page []store.Event) error) error {
	return c.eventPages(ctx, id, &listing{what: "events of " + id, each: true}, fn)
}

// eventPages reads a run's timeline a page at a time to the last page,
// handing each to fn.
func (c *Client) eventPages(ctx context.Context, id string, l *listing, fn func([]store.Event) error) error {
	var after int64
	for {
		var page EventList
		p := "/v1/runs/" + url.PathEscape(id) + "/events"
		if after > 0 {
			p += "?after=" + strconv.FormatInt(after, 10)
		}
		_, data, err := c.do(ctx, http.MethodGet, p, nil, &page)
		if err != nil {
			return err
		}
		if err := l.page(data, len(page.Events), page.Next > after); err != nil {
			return err
		}
		if err := fn(page.Events); err != nil {
			return err
		}
		if page.Next <= after {
			return nil
		}
		after = page.Next
	}
}

// Cancel asks the server to cancel a run.
func (c *Client) Cancel(ctx context.Context, id string) (*run.Run, error) {
	var r run.Run
	_, _, err := c.do(ctx, http.MethodPost, "/v1/runs/"+url.PathEscape(id)+"/cancel", nil, &r)
	return &r, err
}

// logPage is how much of a run's output the client asks for at a time.
const logPage = 8 << 20

// Logs returns the run's output from byte offset on, read a page at a time
// (CopyLogs), and the offset it reached: the size of the whole output when
// it began.
func (c *Client) Logs(ctx context.Context, id string, offset int64) ([]byte, int64, error) {
	var buf bytes.Buffer
	size, err := c.CopyLogs(ctx, id, offset, &buf)
	return buf.Bytes(), size, err
}

// CopyLogs writes the run's output from byte offset on to w a page at a
// time, to the end the server had when it began, and returns the offset it
// reached: where the next read starts.
func (c *Client) CopyLogs(ctx context.Context, id string, offset int64, w io.Writer) (int64, error) {
	end := int64(-1)
	for {
		b, size, err := c.LogsPage(ctx, id, offset, logPage)
		if err != nil {
			return offset, err
		}
		if end < 0 {
			end = size // -1 when the answer did not say: read to a short page
		}
		if len(b) > 0 {
			if _, err := w.Write(b); err != nil {
				return offset, err
			}
			offset += int64(len(b))
		}
		if len(b) == 0 || end >= 0 && offset >= end || end < 0 && int64(len(b)) < logPage {
			return offset, nil
		}
	}
}

// LogsPage returns at most limit bytes of the run's output from byte
// offset on, and the size of the whole output (-1 when the answer does
// not carry it).
func (c *Client) LogsPage(ctx context.Context, id string, offset, limit int64) ([]byte, int64, error) {
	q := url.Values{}
	q.Set("offset", strconv.FormatInt(offset, 10))
	q.Set("limit", strconv.FormatInt(limit, 10))
	resp, data, err := c.do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id)+"/logs?"+q.Encode(), nil, nil)
	if err != nil {
		return nil, 0, err
	}
	size, err := strconv.ParseInt(resp.Header.Get("X-Log-Size"), 10, 64)
	if err != nil || size < 0 {
		size = -1
	}
	return data, size, nil
}

// Audit returns audit entries, of one run when id is set, every page of
// them (at most MaxListPages and MaxListBytes: AuditEach has no such
// bound).
func (c *Client) Audit(ctx context.Context, id string) ([]audit.Entry, error) {
	var all []audit.Entry
	err := c.auditPages(ctx, auditQuery(id), &listing{what: "audit"}, func(page []audit.Entry) error {
		all = append(all, page...)
		return nil
	})
	return all, err
}

// AuditEach calls fn with each page of the audit entries, of one run when
// id is set, in seq order, and keeps none of them: a log of any length is
// read in the memory of one page (1,000 entries or 16 MiB). An error of fn
// ends the reading and is returned.
func (c *Client) AuditEach(ctx context.Context, id string, fn func(page []audit.Entry) error) error {
	return c.auditPages(ctx, auditQuery(id), &listing{what: "audit", each: true}, fn)
}

func auditQuery(id string) url.Values {
	q := url.Values{}
	if id != "" {
		q.Set("run", id)
	}
	return q
}

// auditPages reads GET /v1/audit?q a page at a time to the last page,
// handing each to fn.
func (c *Client) auditPages(ctx context.Context, q url.Values, l *listing, fn func([]audit.Entry) error) error {
	var after int64
	for {
		if after > 0 {
			q.Set("after", strconv.FormatInt(after, 10))
		}
		var page AuditList
		_, data, err := c.do(ctx, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &page)
		if err != nil {
			return err
		}
		if err := l.page(data, len(page.Entries), page.Next != 0); err != nil {
			return err
		}
		if page.Next != 0 && page.Next <= after {
			return fmt.Errorf("audit: the server's next page starts after %d, not after %d: it would never end", page.Next, after)
		}
		if err := fn(page.Entries); err != nil {
			return err
		}
		if page.Next == 0 {
			return nil
		}
		after = page.Next
	}
}

// Verify checks the audit chain.
func (c *Client) Verify(ctx context.Context) (audit.Result, error) {
	var res audit.Result
	_, _, err := c.do(ctx, http.MethodGet, "/v1/audit/verify", nil, &res)
	return res, err
}

// AuditAll returns the whole chain as the tenant may see it: its own
// entries in full, others' as hashes.
func (c *Client) AuditAll(ctx context.Context) ([]audit.Entry, error) {
	var all []audit.Entry
	err := c.auditPages(ctx, url.Values{"all": {"1"}}, &listing{what: "audit"}, func(page []audit.Entry) error {
		all = append(all, page...)
		return nil
	})
	return all, err
}

// AuditAllEach is AuditAll a page at a time, as AuditEach.
func (c *Client) AuditAllEach(ctx context.Context, fn func(page []audit.Entry) error) error {
	return c.auditPages(ctx, url.Values{"all": {"1"}}, &listing{what: "audit", each: true}, fn)
}

// Apply registers (or, with update, replaces) Organization and Dataset
// documents for the tenant.
func (c *Client) Apply(ctx context.Context, docs []run.Document, update bool) ([]run.Resource, error) {
	var out struct {
		Resources []run.Resource `json:"resources"`
	}
	_, _, err := c.do(ctx, http.MethodPost, "/v1/resources", ApplyRequest{Documents: docs, Update: update}, &out)
	return out.Resources, err
}

// Resources lists the tenant's registered organisations and datasets.
func (c *Client) Resources(ctx context.Context) ([]run.Resource, error) {
	var out struct {
		Resources []run.Resource `json:"resources"`
	}
	_, _, err := c.do(ctx, http.MethodGet, "/v1/resources", nil, &out)
	return out.Resources, err
}

// PutKey hands the server the key of a dataset the tenant registered.
func (c *Client) PutKey(ctx context.Context, dataset, key string) error {
	_, _, err := c.do(ctx, http.MethodPut, "/v1/datasets/"+url.PathEscape(dataset)+"/key", KeyRequest{Key: key}, nil)
	return err
}

// Plan plans a job on the server (its catalog and law); top bounds the
// placements returned (0: all).
func (c *Client) Plan(ctx context.Context, req run.PlanRequest, top int) (*planner.Plan, error) {
	var p planner.Plan
	_, _, err := c.do(ctx, http.MethodPost, "/v1/plans?top="+strconv.Itoa(top), req, &p)
	return &p, err
}

// Estimate estimates a job on the server.
func (c *Client) Estimate(ctx context.Context, req run.EstimateRequest) (*run.Estimate, error) {
	var e run.Estimate
	_, _, err := c.do(ctx, http.MethodPost, "/v1/estimates", req, &e)
	return &e, err
}

// Sites lists the server's sites.
func (c *Client) Sites(ctx context.Context) ([]*catalog.Site, error) {
	var out SiteList
	_, _, err := c.do(ctx, http.MethodGet, "/v1/catalog/sites", nil, &out)
	return out.Sites, err
}

// Accelerators lists the accelerators the server knows.
func (c *Client) Accelerators(ctx context.Context) ([]*catalog.Accelerator, error) {
	var out AcceleratorList
	_, _, err := c.do(ctx, http.MethodGet, "/v1/catalog/accelerators", nil, &out)
	return out.Accelerators, err
}

// Countries lists the countries the server knows.
func (c *Client) Countries(ctx context.Context) ([]*catalog.Country, error) {
	var out CountryList
	_, _, err := c.do(ctx, http.MethodGet, "/v1/catalog/countries", nil, &out)
	return out.Countries, err
}

// Datasets lists the tenant's registered datasets.
func (c *Client) Datasets(ctx context.Context) ([]run.DatasetInfo, error) {
	var out DatasetList
	_, _, err := c.do(ctx, http.MethodGet, "/v1/datasets", nil, &out)
	return out.Datasets, err
}

// Stage stages a registered dataset to a site (or, with DryRun, asks the
// law). A refusal is a *StatusError with status 422.
func (c *Client) Stage(ctx context.Context, name string, req run.StageRequest) (*run.StageResult, error) {
	var out run.StageResult
	_, _, err := c.do(ctx, http.MethodPost, "/v1/datasets/"+url.PathEscape(name)+"/stage", req, &out)
	return &out, err
}

// VerifyDataset authenticates every chunk of a dataset staged at a site.
func (c *Client) VerifyDataset(ctx context.Context, name, site string) (*dataset.VerifyReport, error) {
	var out dataset.VerifyReport
	_, _, err := c.do(ctx, http.MethodPost, "/v1/datasets/"+url.PathEscape(name)+"/verify", VerifyRequest{Site: site}, &out)
	return &out, err
}

// Ledger returns the tenant's transfer ledger (of one dataset when set),
// every page of it, with the totals of the last. With a dataset named, a
// page holds the records of that dataset among the tenant's records it
// covers, so it can be empty and still name a next page: the tenant's
// first thousand records may all be of another dataset.
func (c *Client) Ledger(ctx context.Context, name string) (*run.Ledger, error) {
	out := &run.Ledger{Entries: []run.LedgerRow{}}
	var after int64
	l := listing{what: "ledger"}
	for {
		q := url.Values{}
		if name != "" {
			q.Set("dataset", name)
		}
		if after > 0 {
			q.Set("after", strconv.FormatInt(after, 10))
		}
		p := "/v1/ledger"
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		var page run.Ledger
		_, data, err := c.do(ctx, http.MethodGet, p, nil, &page)
		if err != nil {
			return nil, err
		}
		if err := l.page(data, len(page.Entries), page.Next > after); err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, page.Entries...)
		out.Totals = page.Totals
		if page.Next <= after {
			return out, nil
		}
		after = page.Next
	}
}

// Tenants lists tenants and their tokens (admin), a page at a time.
func (c *Client) Tenants(ctx context.Context) ([]TenantInfo, error) {
	l := &listing{what: "tenants"}
	all := []TenantInfo{}
	after := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(TenantPage)}}
		if after != "" {
			q.Set("after", after)
		}
		var page TenantList
		_, data, err := c.do(ctx, http.MethodGet, "/v1/tenants?"+q.Encode(), nil, &page)
		if err != nil {
			return nil, err
		}
		if err := l.page(data, len(page.Tenants), page.Next != ""); err != nil {
			return nil, err
		}
		if page.Next != "" && page.Next <= after {
			return nil, fmt.Errorf("tenants: the server's next page starts after %q, not after %q: it would never end", page.Next, after)
		}
		all = append(all, page.Tenants...)
		if page.Next == "" {
			return all, nil
		}
		after = page.Next
	}
}

// AddTenant adds a token for a tenant (admin); the answer holds its secret.
func (c *Client) AddTenant(ctx context.Context, req TenantRequest) (*NewTenantToken, error) {
	var out NewTenantToken
	_, _, err := c.do(ctx, http.MethodPost, "/v1/tenants", req, &out)
	return &out, err
}

// RevokeTenant revokes a tenant's tokens, or one of them (admin).
func (c *Client) RevokeTenant(ctx context.Context, tenant, tokenID string) (*Revoked, error) {
	var out Revoked
	p := "/v1/tenants/" + url.PathEscape(tenant)
	if tokenID != "" {
		p += "?token=" + url.QueryEscape(tokenID)
	}
	_, _, err := c.do(ctx, http.MethodDelete, p, nil, &out)
	return &out, err
}

// Health asks who the token speaks for.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var out Health
	_, _, err := c.do(ctx, http.MethodGet, "/v1/healthz", nil, &out)
	return &out, err
}

// FollowLogs streams a run's output from offset into w until the run ends.
func (c *Client) FollowLogs(ctx context.Context, id string, offset int64, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/v1/runs/"+url.PathEscape(id)+"/logs?follow=1&offset="+strconv.FormatInt(offset, 10), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := *c.HTTP
	hc.Timeout = 0 // a stream lasts as long as the run
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("meridian server at %s: %w", c.shownBase(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return statusError(resp.StatusCode, data)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// ReloadQuotas asks the server to read its quota file again (admin
// token): what is in force now, or the file's error.
func (c *Client) ReloadQuotas(ctx context.Context) (*run.QuotaReload, error) {
	var out run.QuotaReload
	_, _, err := c.do(ctx, http.MethodPost, "/v1/quotas/reload", nil, &out)
	return &out, err
}

// Rules is the rules in force on the server (GET /v1/rules): each rule's
// state on asOf (YYYY-MM-DD; "" for today, UTC) and its enforcement steps.
// A server that cannot apply the law in force answers an error (503
// law_unavailable), not the revision it holds.
func (c *Client) Rules(ctx context.Context, asOf string) (*RuleList, error) {
	path := "/v1/rules"
	if asOf != "" {
		path += "?" + url.Values{"asOf": {asOf}}.Encode()
	}
	var out RuleList
	if _, _, err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RulesApply sends a change of the server's rules (admin token).
func (c *Client) RulesApply(ctx context.Context, req RulesApplyRequest) (*RulesApplyResult, error) {
	var out RulesApplyResult
	_, _, err := c.do(ctx, http.MethodPost, "/v1/rules", req, &out)
	return &out, err
}

// RulesHistory lists the server's rules revisions, oldest first, read a
// page at a time within the listing's bounds (a server from before pages
// answers them all at once).
func (c *Client) RulesHistory(ctx context.Context) ([]RuleRevision, error) {
	out := []RuleRevision{}
	l := &listing{what: "rules revisions"}
	cursor := ""
	for {
		q := url.Values{}
		q.Set("limit", strconv.Itoa(MaxRevisionPage))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page RuleHistory
		_, data, err := c.do(ctx, http.MethodGet, "/v1/rules/revisions?"+q.Encode(), nil, &page)
		if err != nil {
			return nil, err
		}
		if err := l.page(data, len(page.Revisions), page.Cursor != ""); err != nil {
			return nil, err
		}
		// Each page starts after the page before's last revision: a
		// server naming the same page again could make the pages never end.
		for _, r := range page.Revisions {
			if len(out) > 0 && r.Revision <= out[len(out)-1].Revision {
				return nil, fmt.Errorf("rules revisions: the server's page %d holds revision %d after %d: the pages are not in order", l.pages, r.Revision, out[len(out)-1].Revision)
			}
			out = append(out, r)
		}
		if page.Cursor == "" {
			return out, nil
		}
		if len(page.Revisions) == 0 || page.Cursor == cursor {
			return nil, fmt.Errorf("rules revisions: the server's page %d names a next page that does not start after it: the pages would never end", l.pages)
		}
		cursor = page.Cursor
	}
}

// RulesDiff compares two revisions (-1: the defaults, see the route).
func (c *Client) RulesDiff(ctx context.Context, from, to int64) (*rules.Diff, error) {
	q := url.Values{}
	if from >= 0 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	if to >= 0 {
		q.Set("to", strconv.FormatInt(to, 10))
	}
	var out rules.Diff
	_, _, err := c.do(ctx, http.MethodGet, "/v1/rules/diff?"+q.Encode(), nil, &out)
	return &out, err
}

// WhatIf asks what a proposed change would do to the server's live runs
// and staged data (admin token).
func (c *Client) WhatIf(ctx context.Context, req WhatIfRequest) (*run.WhatIfReport, error) {
	var out run.WhatIfReport
	_, _, err := c.do(ctx, http.MethodPost, "/v1/rules/what-if", req, &out)
	return &out, err
}

// Answers 429 (too many requests) are asked again, up to tooManyTries in
// all, after the wait the server names in Retry-After (at most
// tooManyWaitMax; a second when it names none). A 429 verify_too_soon
// (a tenant's rest after verifying the whole chain, up to minutes) is
// asked again only when its wait is at most restWaitMax: a longer one is
// answered at once with a TooSoonError.
const (
	tooManyTries   = 4
	tooManyWaitMax = 30 * time.Second
	restWaitMax    = 5 * time.Second
)

// codeVerifyTooSoon is the code of the server's 429 to a verification
// asked for within the tenant's rest after its last one.
const codeVerifyTooSoon = "verify_too_soon"

// TooSoonError is the error of a request the server refused until a rest
// is over (a verification of the whole chain asked for again too soon):
// Wait is what the server said was left of it, At when that is.
type TooSoonError struct {
	*StatusError
	Wait time.Duration
	At   time.Time
}

func (e *TooSoonError) Error() string {
	return fmt.Sprintf("%s: try again in %s (after %s)", e.StatusError.Error(), e.Wait, e.At.UTC().Format("15:04:05 MST"))
}

func (e *TooSoonError) Unwrap() error { return e.StatusError }

// retryWait is the wait resp's Retry-After names in seconds (a second
// when it names none, or none the client reads), and whether it named one.
func retryWait(resp *http.Response) (time.Duration, bool) {
	s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || s < 0 {
		return time.Second, false
	}
	return time.Duration(s) * time.Second, true
}

// restLeft says whether resp, whose error is se, refuses a verification
// for a rest longer than restWaitMax, and how long is left of it.
func restLeft(resp *http.Response, se *StatusError) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests || se.Err.Code != codeVerifyTooSoon {
		return 0, false
	}
	wait, _ := retryWait(resp)
	return wait, wait > restWaitMax
}

// retryAfter says whether resp, the answer to try with body data, is to
// be asked again, and after how long.
func retryAfter(resp *http.Response, data []byte, try int) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests || try >= tooManyTries {
		return 0, false
	}
	wait, _ := retryWait(resp)
	if _, long := restLeft(resp, statusError(resp.StatusCode, data)); long {
		return 0, false
	}
	return min(wait, tooManyWaitMax), true
}

// shownBase is the server's address as an error names it: a password
// written into it (https://user:secret@host) as xxxxx, as net/http's own
// errors show the request's address.
func (c *Client) shownBase() string {
	u, err := url.Parse(c.Base)
	if err != nil {
		return "(an address that does not parse)"
	}
	return u.Redacted()
}
