package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	p := PrincipalOf(r)
	writeJSON(w, http.StatusOK, Health{Status: "ok", Tenant: p.Tenant, Admin: p.Admin})
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req run.SubmitRequest
	if !decodeDocuments(w, r, &req, "submission") || !documentsValid(w, req.Documents) {
		return
	}
	// The Idempotency-Key header stands for the body's idempotencyKey; a
	// header that differs from the body's is refused, not dropped (the
	// client's retries keyed by it would each make a run), and what is
	// wrong with a key taken from it is answered naming the header.
	header := r.Header.Get("Idempotency-Key")
	switch {
	case header == "":
	case req.IdempotencyKey == "":
		req.IdempotencyKey = header
	case req.IdempotencyKey != header:
		writeErr(w, http.StatusBadRequest, "invalid", "Idempotency-Key", "differs from the body's idempotencyKey: give the key once, or the same in both")
		return
	}
	got, created, err := s.c.Submit(r.Context(), tenantOf(r), req)
	var ie *run.InputError
	if header != "" && errors.As(err, &ie) && ie.Field == "idempotencyKey" {
		named := *ie
		named.Field = "Idempotency-Key"
		err = &named
	}
	if err != nil {
		fail(w, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, got)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := queryFlag(w, r, "follow"); !ok {
		return
	}
	if followed(r) {
		s.followRuns(w, r)
		return
	}
	tenant := tenantOf(r)
	limit, ok := queryInt(w, r, "limit", 0, 1, MaxRunPage, fmt.Sprintf("a number of runs from 1 to %d", MaxRunPage))
	if !ok {
		return
	}
	// Without limit (a client from before pages), the whole list when it
	// fits in a page of MaxRunPage and a 400 naming limit when it does not:
	// never its first page passed off as the whole.
	paged := limit > 0
	if !paged {
		limit = MaxRunPage
	}
	after, ok := queryName(w, r, "after", "a run's id")
	if !ok {
		return
	}
	if after != "" {
		if _, err := s.c.Brief(r.Context(), tenant, after); errors.Is(err, run.ErrNotFound) {
			writeErr(w, http.StatusBadRequest, "invalid", "after", fmt.Sprintf("%q: no run of yours has that id", after))
			return
		} else if err != nil {
			fail(w, err)
			return
		}
	}
	runs, raw, more, err := s.runPage(r.Context(), tenant, after, int(limit))
	if err != nil {
		fail(w, err)
		return
	}
	next := ""
	if more {
		if !paged {
			writeErr(w, http.StatusBadRequest, "invalid", "limit", fmt.Sprintf(
				"the tenant has more runs than an answer without limit holds (%d, or %d bytes of them): read them in pages with limit (at most %d) and after", MaxRunPage, MaxRunPageBytes, MaxRunPage))
			return
		}
		next = runs[len(runs)-1].ID
	}
	// RunList, from the runs' JSON as runPage measured it.
	writePage(w, "runs", raw.items, pageField{"next", next})
}

// runPage reads tenant's runs after run after, up to limit of them and
// MaxRunPageBytes of their JSON (at least one), from the controller
// RunPage at a time and one more than the page can hold, to know whether
// more follow. A run carries what sites said of it (a reason of up to
// 8 KiB, each attempt's, the sites it lost and why): a page of MaxRunPage
// of them read at once could run to a hundred megabytes. raw holds each
// run's JSON, without its documents, as measured: the page is written
// from it, not encoded again.
func (s *Server) runPage(ctx context.Context, tenant, after string, limit int) (page []*run.Run, raw rawPage, more bool, err error) {
	page = []*run.Run{}
	for {
		ask := min(limit+1-len(page), RunPage)
		rs, err := s.c.ListPage(ctx, tenant, after, ask)
		if err != nil {
			return nil, rawPage{}, false, err
		}
		for _, x := range rs {
			if len(page) == limit {
				return page, raw, true, nil
			}
			x.Documents = nil // the list stays small; GET /v1/runs/{id} has them
			if ok, err := raw.add(s.shown(ctx, x, false), MaxRunPageBytes); err != nil {
				return nil, rawPage{}, false, err
			} else if !ok {
				return page, raw, true, nil
			}
			page = append(page, x)
			after = x.ID
		}
		if len(rs) < ask || len(rs) == 0 {
			return page, raw, false, nil
		}
	}
}

// RunPage is how many runs the client asks GET /v1/runs for at a time, and
// MaxRunPage the most one answer holds: a request reads at most a page of
// the tenant's runs, however many it has made.
const (
	RunPage    = 1000
	MaxRunPage = 5000
	// MaxRunPageBytes bounds the runs' JSON in one answer of GET
	// /v1/runs: a page that would pass it ends before, naming next (it
	// holds at least one run).
	MaxRunPageBytes = 8 << 20
)

func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryInt(w, r, "limit", 0, 1, MaxRunPage, fmt.Sprintf("a number of held runs from 1 to %d", MaxRunPage))
	if !ok {
		return
	}
	after, ok := queryInt(w, r, "after", 0, 0, math.MaxInt32, "a position in the queue (a number from 0), the next of the page before")
	if !ok {
		return
	}
	// As GET /v1/runs: without limit (a client from before pages), the
	// whole queue when it fits in MaxRunPage and a 400 naming limit when it
	// does not, never its first page passed off as the whole.
	paged := limit > 0
	if !paged {
		limit = MaxRunPage
	}
	key, ok := queueCursor(w, r)
	switch {
	case !ok:
		return
	case key != nil && after > 0:
		writeErr(w, http.StatusBadRequest, "invalid", "cursor", "give cursor or after, not both")
		return
	}
	q, last, more, err := s.queuePage(r.Context(), tenantOf(r), key, int(after), int(limit))
	if err != nil {
		fail(w, err)
		return
	}
	if more && !paged {
		writeErr(w, http.StatusBadRequest, "invalid", "limit", fmt.Sprintf(
			"more runs of yours are held than an answer without limit holds (%d, or %d bytes of them): read them in pages with limit (at most %d) and after", MaxRunPage, MaxQueuePageBytes, MaxRunPage))
		return
	}
	out := QueueList{Queue: q}
	if out.Queue == nil {
		out.Queue = []run.QueueEntry{}
	}
	if more {
		out.Next = strconv.Itoa(q[len(q)-1].Position)
		if last.Run != "" {
			b, err := json.Marshal(last)
			if err != nil {
				fail(w, err)
				return
			}
			out.Cursor = base64.RawURLEncoding.EncodeToString(b)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// queuePage reads the tenant's held runs after position after (a client
// from before cursors) or else after key, up to limit of them and
// MaxQueuePageBytes of their JSON (at least one); last is the key of the
// page's last entry when the page was read by key. An entry carries the
// hold's reason and the pools it waits for, one per lawful pool of the
// catalog, and a reason that names each of them: with a large catalog an
// entry runs to tens of kilobytes, and a page of MaxRunPage of them to
// hundreds of megabytes.
func (s *Server) queuePage(ctx context.Context, tenant string, key *run.QueueKey, after, limit int) (q []run.QueueEntry, last run.QueueKey, more bool, err error) {
	byPosition := key == nil && after > 0
	if byPosition {
		q, more, err = s.c.QueuePage(ctx, tenant, after, limit)
	} else {
		q, last, more, err = s.c.QueueAfter(ctx, tenant, key, limit)
	}
	if err != nil {
		return nil, run.QueueKey{}, false, err
	}
	n := queueFits(q)
	if n == len(q) {
		return q, last, more, nil
	}
	if byPosition {
		// Positions: the next page starts after the last one kept.
		return q[:n], run.QueueKey{}, true, nil
	}
	// The cursor names the place of the page's own last entry, which
	// the entry carries: the page is not read again, shorter, to learn
	// it. An entry without one (a controller that does not give it)
	// leaves the page without a cursor, and next goes on by position.
	return q[:n], q[n-1].Key, true, nil
}

// queueFits is how many of q's first entries fit in MaxQueuePageBytes of
// JSON (at least one, when q has any), each counted at queueEntryBytes,
// which is never less than its JSON.
func queueFits(q []run.QueueEntry) int {
	size := 0
	for i := range q {
		n := queueEntryBytes(&q[i]) + 1
		if i > 0 && size+n > MaxQueuePageBytes {
			return i
		}
		size += n
	}
	return len(q)
}

// queueEntryBytes is at least the length of e's JSON, without encoding
// it (that doubled the cost of a page): the names, punctuation, numbers
// and times of its fields at their longest, and its strings at jsonBytes.
func queueEntryBytes(e *run.QueueEntry) int {
	const (
		entry = 192 // {"run":"","tenant":"","job":"","priority":,"wait":"","reason":"","since":"","position":,"wants":[]}, with the numbers and the time at their longest
		want  = 96  // {"site":"","pool":,"accelerator":"","free":}, with the numbers at their longest
	)
	n := entry + jsonBytes(e.Run) + jsonBytes(e.Tenant) + jsonBytes(e.Job) + jsonBytes(e.Wait) + jsonBytes(e.Reason)
	for _, w := range e.Wants {
		n += want + jsonBytes(w.Site) + jsonBytes(w.Accelerator)
	}
	return n
}

// jsonBytes is at least the length of s as a JSON string's contents: a
// byte of printable ASCII that needs no escape is one, any other byte six
// (the most an escape takes: \u003c for <, \ufffd for a byte that is not
// UTF-8; a character of several bytes, or a line separator, takes no more
// than six a byte).
func jsonBytes(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&':
			n++
		default:
			n += 6
		}
	}
	return n
}

// MaxQueuePageBytes bounds the held runs' JSON in one answer of GET
// /v1/queue: a page that would pass it ends before, naming next and
// cursor (it holds at least one entry).
const MaxQueuePageBytes = 8 << 20

// maxQueueCursor bounds the cursor= of GET /v1/queue.
const maxQueueCursor = 1024

// queueCursor reads GET /v1/queue's cursor= (nil when absent): the
// QueueKey of the page before's last entry. A key names a place in the
// tenant's own order only, so a made-up one shows the tenant nothing but
// its own runs. A bad one is answered 400 and ok is false.
func queueCursor(w http.ResponseWriter, r *http.Request) (*run.QueueKey, bool) {
	v := r.URL.Query().Get("cursor")
	if v == "" {
		return nil, true
	}
	var k run.QueueKey
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err == nil && len(v) <= maxQueueCursor {
		err = decodeCursor(b, &k)
	}
	if err != nil || len(v) > maxQueueCursor || k.Run == "" {
		writeErr(w, http.StatusBadRequest, "invalid", "cursor", "not a cursor of this queue: give the cursor of the page before")
		return nil, false
	}
	return &k, true
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	got, err := s.c.Get(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.shown(r.Context(), got, true))
}

// RunChecker is a Controller that says whether a run was changed outside
// Meridian (*run.Controller is one): why its stored row is not what
// Meridian wrote, "" when it is or that is not known. With read, it may
// read the audit log (one run's GET); without, it reads nothing (each
// row of a list).
type RunChecker interface {
	ChangedOutsideMeridian(ctx context.Context, r *run.Run, read bool) string
}

// RunShown is a run as GET /v1/runs/{id} and GET /v1/runs show it: one
// whose row was changed outside Meridian is the run as stored, marked,
// with why; the fields are absent on a run as written.
type RunShown struct {
	*run.Run
	ChangedOutsideMeridian       bool   `json:"changedOutsideMeridian,omitempty"`
	ChangedOutsideMeridianReason string `json:"changedOutsideMeridianReason,omitempty"`
}

// shown is r as the API shows it: marked when the controller finds it
// changed outside Meridian, r itself otherwise.
func (s *Server) shown(ctx context.Context, r *run.Run, read bool) any {
	rc, ok := s.c.(RunChecker)
	if !ok {
		return r
	}
	why := rc.ChangedOutsideMeridian(ctx, r, read)
	if why == "" {
		return r
	}
	return RunShown{Run: r, ChangedOutsideMeridian: true, ChangedOutsideMeridianReason: why}
}

// followPoll is how often a followed log is read again.
const followPoll = 500 * time.Millisecond

// maxFollowRestarts is how many times one followed log is sent again from
// a replaced output's start before the stream ends, saying so: a job that
// writes its output file anew at every poll made the server send up to the
// log limit (16 MiB by default) every half second for as long as its
// client followed. The client may follow again from the offset it has.
const maxFollowRestarts = 8

// MaxLogPage is the most one answer of GET /v1/runs/{id}/logs carries: the
// limit a page may ask for, and what an answer without limit may hold.
const MaxLogPage = 64 << 20

// followChunk is the most the logs route reads and writes at a time, a
// page or a followed log: what it holds of the output besides what the
// run's reader holds (run.OpenLogs).
const followChunk = 1 << 20

// logs answers a run's output from ?offset= on, at most ?limit= bytes of
// it; without limit, all of it when that fits in MaxLogPage, and a 400
// naming limit when not. With ?follow=1 it streams what arrives until the
// run is final (and its output read to the end), the client goes, the
// server shuts down or MaxStream passes; each write has Streams.WriteWait,
// not the server's write timeout.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	if _, ok := queryFlag(w, r, "follow"); !ok {
		return
	}
	off, ok := queryInt(w, r, "offset", 0, 0, math.MaxInt64, "a byte offset of 0 or more")
	if !ok {
		return
	}
	limit, ok := queryInt(w, r, "limit", 0, 1, MaxLogPage, fmt.Sprintf("a page of 1 to %d bytes", MaxLogPage))
	if !ok {
		return
	}
	follow := followed(r) // as ServeHTTP decided: a stream, or a read within the route's deadline
	tenant, id := tenantOf(r), r.PathValue("id")
	if !follow {
		paged := limit > 0
		if !paged {
			limit = MaxLogPage
		}
		// The run is read once, and the page written as it is read, a
		// followChunk at a time: a page read whole held up to MaxLogPage
		// in memory for as long as its client took to read it, for each
		// of a tenant's requests, and one read in pieces read the run
		// (and the site's scheduler's output of it) again for each.
		rc, size, err := s.c.OpenLogs(r.Context(), tenant, id, off, limit)
		if err != nil {
			fail(w, err)
			return
		}
		defer rc.Close()
		rest := size - min(off, size)
		if !paged && rest > MaxLogPage {
			writeErr(w, http.StatusBadRequest, "invalid", "limit", fmt.Sprintf(
				"the output from offset %d is %d bytes, more than an answer without limit holds (%d MiB): read it in pages of at most %d bytes with limit",
				off, rest, MaxLogPage>>20, MaxLogPage))
			return
		}
		want := min(limit, rest) // what the answer carries
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Log-Size", strconv.FormatInt(size, 10))
		// Output that cannot be read after the headers leaves the answer
		// short of its length, which its client sees as an error.
		w.Header().Set("Content-Length", strconv.FormatInt(want, 10))
		w.WriteHeader(http.StatusOK)
		copyLog(w, rc, want)
		return
	}
	// Each round of a followed log opens the run's output at what was
	// sent and writes what arrived since the last, all of it. A site's
	// output of an attempt that was replaced since the last round (a file
	// written anew, a pod's container started again), not grown, is
	// followed again from its start, after a line that says so: its new
	// bytes are not spliced on at the old one's length. So is output that
	// moved (LogMarks.Replaced). An attempt's output that could not be
	// read this round (a note of another length would stand in its place,
	// and move what follows it) is not gone past: the round sends what
	// comes before it, and the next reads it again, a few rounds at most
	// before the note is taken as the output. A round whose read fails
	// sends what was read and goes on at the next. Each write moves the
	// write deadline on (a followed log outlives the server's write
	// timeout) and is flushed.
	sw := s.streamWriter(w)
	var marks run.LogMarks
	restarts, held, failed := 0, 0, 0
	var rc io.ReadCloser
	var size, stop int64 // stop: where a round's sending stops, size or before
	var err error
	open := func() error {
		if rc, size, err = s.c.OpenLogs(r.Context(), tenant, id, off, math.MaxInt64); err != nil {
			return err
		}
		stop = size
		m, ok := rc.(interface{ Marks() run.LogMarks })
		if !ok {
			return nil
		}
		cur := m.Marks()
		at, replaced, next := cur.Replaced(marks)
		if u, unread := cur.Unread(marks); unread && (!replaced || u <= at) && held < maxFollowHeld {
			held++
			stop = min(stop, u)
			return nil
		}
		held = 0
		once := cur.AgentOutputAt(marks, at)
		marks = next
		if !replaced || at >= off {
			return nil
		}
		rc.Close()
		if !once {
			// What a workload can do again and again (write its
			// output anew) is followed again so many times at most;
			// an attempt's output from its agent in place of the
			// site's copy comes once an attempt.
			restarts++
		}
		if restarts > maxFollowRestarts {
			fmt.Fprintf(sw, "\n==> the site's output of the run from byte %d was replaced again: %d times while followed, the most one follow sends again; follow again to read it <==\n", at, maxFollowRestarts)
			return errFollowRestarts
		}
		if _, err = fmt.Fprintf(sw, "\n==> the run's output from byte %d was replaced (a site's output written anew or its container started again, the output the attempt's agent sent read in place of the site's copy, or a note that it could not be read): following it again from there <==\n", at); err != nil {
			return err
		}
		off = at
		rc, size, err = s.c.OpenLogs(r.Context(), tenant, id, off, math.MaxInt64)
		stop = size
		return err
	}
	rc, size, err = s.c.OpenLogs(r.Context(), tenant, id, off, math.MaxInt64)
	if err != nil {
		fail(w, err)
		return
	}
	// The round's reader is closed however the stream ends, a panic in a
	// backend's reader too (which the HTTP server recovers from): it
	// gives back the room of its tenant's that it holds. Each round
	// closes its own as well; a second Close does nothing.
	defer func() {
		if rc != nil {
			rc.Close()
		}
	}()
	stop = size
	if m, ok := rc.(interface{ Marks() run.LogMarks }); ok {
		marks = m.Marks()
	}
	off = min(off, size)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	sw.extend()
	if sw.rc.Flush() != nil { // the headers, before any output
		rc.Close()
		return
	}
	final := false
	for {
		n, err := copyLog(sw, rc, stop-off)
		rc.Close()
		off += n
		if errors.Is(err, errLogWrite) {
			return
		}
		if err != nil {
			// Output that ended short of its size (it shrank), or was
			// found replaced while read, or a read that failed: what was
			// read was sent, and the next round reads on from there.
			if failed++; failed > maxFollowHeld {
				fmt.Fprintf(sw, "\n==> the run's output from byte %d could not be read %d times in a row; follow again to read it <==\n", off, failed)
				return
			}
		} else {
			failed = 0
		}
		short := err != nil || stop < size
		if final && !short && n == 0 {
			return
		}
		if !final {
			// Once final, the output that arrived with the end, to its
			// last byte, with no wait between rounds that read some.
			got, err := s.c.Brief(r.Context(), tenant, id)
			final = err != nil || got.State.Final()
		}
		if !final || short {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(followPoll):
			}
		}
		if open() != nil {
			return
		}
	}
}

// errFollowRestarts ends a followed log replaced more than
// maxFollowRestarts times.
var errFollowRestarts = errors.New("the followed output was replaced too many times")

// maxFollowHeld is how many rounds in a row a followed log may stop short
// of an attempt's output that could not be read, or have its read fail,
// before it takes the note that stands in for the output as the output,
// or ends, saying so.
const maxFollowHeld = 10

// errLogWrite is what copyLog returns when a write failed.
var errLogWrite = errors.New("the answer could not be written")

// copyLog writes at most n bytes of rc to w, followChunk bytes at a time,
// each write with its own deadline; it returns what it wrote, and the
// error that stopped it short of n: errLogWrite when a write failed, else
// the read's (io.ErrUnexpectedEOF or io.EOF when the output ended first).
// An n of 0 or less writes nothing: a followed log's output can get
// shorter than what was sent (a scheduler's copy of a cancelled run's
// output, a rotated pod log), and what was sent stays sent.
func copyLog(w io.Writer, rc io.Reader, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	buf := make([]byte, min(n, followChunk))
	var done int64
	for done < n {
		k, err := io.ReadFull(rc, buf[:min(n-done, int64(len(buf)))])
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return done, errLogWrite
			}
			done += int64(k)
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	got, err := s.c.Cancel(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, got)
}

// ApplyRequest registers or updates a tenant's Organization and Dataset
// documents.
type ApplyRequest struct {
	Documents []run.Document `json:"documents"`
	Update    bool           `json:"update,omitempty"`
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	var req ApplyRequest
	if !decodeDocuments(w, r, &req, "apply request") || !documentsValid(w, req.Documents) {
		return
	}
	// Each resource registered, or changed, appends a record to the audit
	// log. A new one is bounded by what a tenant may register
	// (run.MaxResources), but an update may change the same ones back and
	// forth for ever, up to 64 records a call: an update takes one from
	// the tenant's bucket a document.
	cost := 1
	if req.Update {
		cost = max(len(req.Documents), 1)
	}
	if !s.allowAudited(w, tenantOf(r), r.Pattern, cost) {
		return
	}
	got, err := s.c.Apply(r.Context(), tenantOf(r), req.Documents, req.Update)
	if err != nil {
		fail(w, err)
		return
	}
	if got == nil {
		got = []run.Resource{}
	}
	writeJSON(w, http.StatusOK, ResourceList{Resources: got})
}

func (s *Server) resources(w http.ResponseWriter, r *http.Request) {
	got, err := s.c.Resources(r.Context(), tenantOf(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ResourceList{Resources: got})
}

// KeyRequest hands the server the key of a dataset the tenant registered.
type KeyRequest struct {
	Key string `json:"key"`
}

func (s *Server) putKey(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if !decodeBody(w, r, &req, "key request") {
		return
	}
	if err := s.c.PutKey(r.Context(), tenantOf(r), r.PathValue("name"), req.Key); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, KeyStored{Dataset: r.PathValue("name"), Status: "key stored"})
}

// AuditPage is how many entries GET /v1/audit answers unless asked for
// another number up to MaxAuditPage: a request reads at most a page of
// the log, however long the log has grown.
const (
	AuditPage    = 1000
	MaxAuditPage = 5000
	// MaxAuditPageBytes cuts a page short once its payloads reach it (a
	// transfer intent lists every chunk of its dataset, so a page of
	// intents could otherwise hold gigabytes); next then names the rest.
	MaxAuditPageBytes = 16 << 20
	// MaxAuditEntryBytes bounds one entry a page reads: a page holds at
	// least one entry, so a row of gigabytes written to the database by
	// hand was read whole. The largest entries Meridian writes (a plan,
	// a transfer intent of a batch of chunks) are kilobytes to hundreds of
	// kilobytes; a longer one is refused, naming its seq, not read and not
	// left out (a page that passed it by would hide it from whoever checks
	// the chain from the pages). It is the bound every append keeps to,
	// so no entry Meridian writes is refused here.
	MaxAuditEntryBytes = store.MaxAuditPayloadBytes
)

// auditLog returns a page of the tenant's entries (of one run with
// ?run=ID), from ?after= on. With ?all=1 it returns the whole chain, other
// tenants' entries as hashes only, so that a tenant can check the chain it
// is part of.
func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	tenant := tenantOf(r)
	id, ok := queryName(w, r, "run", "a run's id")
	if !ok {
		return
	}
	all, ok := queryFlag(w, r, "all")
	if !ok {
		return
	}
	all = all && id == ""
	after, limit, ok := seqPage(w, r)
	if !ok {
		return
	}
	q := store.AuditQuery{After: after, Limit: limit, MaxBytes: MaxAuditPageBytes, RefuseEntryBytes: MaxAuditEntryBytes, AllTenants: all}
	if id != "" {
		if _, err := s.c.Brief(r.Context(), tenant, id); errors.Is(err, run.ErrNotFound) {
			writeErr(w, http.StatusNotFound, "not_found", "run", fmt.Sprintf("%q: no run of yours has that id", id))
			return
		} else if err != nil {
			fail(w, err)
			return
		}
		q.RunID = id
	}
	if tenant == "" { // no principal names none; an empty one would select, or read the payloads of, every tenant's
		writeErr(w, http.StatusForbidden, "forbidden", "", "this token names no tenant")
		return
	}
	if !all {
		// The tenant's own entries, and those its runs have from before
		// entries named their tenant.
		q.Tenant, q.Untenanted = tenant, store.UntenantedOfRuns
	} else {
		// Only the payloads this page shows are read: the tenant's, its
		// runs' without a tenant, and the server's own for the admin.
		// Others' entries come back as hashes, their payloads left in the
		// database (they were read, up to MaxAuditPageBytes a page, and
		// dropped here).
		q.PayloadsOf, q.PayloadsUntenanted, q.PayloadsOfServer = tenant, store.UntenantedOfRuns, isAdmin(r)
	}
	// A tenant's page looks at a bounded number of the entries without a
	// tenant (store.AuditUntenantedWindow), and may end before the limit
	// with a next page.
	entries, next, err := s.opts.Audit.AuditSelectPage(r.Context(), q)
	if err != nil {
		failAudit(w, err)
		return
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	out := AuditList{Entries: entries, Next: next}
	if !all {
		writeJSON(w, http.StatusOK, out)
		return
	}
	// The whole chain: others' entries as hashes. An entry of one of the
	// tenant's runs without a tenant is the tenant's; the server's own
	// entries (rules revisions, law checks) belong to no tenant and name
	// other tenants' runs: the admin reads them in full.
	// Which of the page's entries are the tenant's is the store's rule
	// (its runs' entries without a tenant included), asked once for the
	// page's range of seqs, and only that range (Through): the entries
	// without a tenant after it are not looked at (on a log from before
	// entries named their tenant, all the rest of the log). That read has
	// the page's byte bound too: the tenant's entries up to the page's
	// last are among the page's, which that bound did not cut short. It
	// is also the read that checks the tenant's entries up to the page's
	// last for deleted ones (the store's gap check), which the page of
	// the whole chain does not.
	mine := map[int64]bool{}
	if len(entries) > 0 {
		last := entries[len(entries)-1].Seq
		own, err := s.opts.Audit.AuditSelect(r.Context(), store.AuditQuery{Tenant: tenant, Untenanted: store.UntenantedOfRuns, After: after, Through: last, Limit: len(entries), MaxBytes: MaxAuditPageBytes, RefuseEntryBytes: MaxAuditEntryBytes})
		if err != nil {
			failAudit(w, err)
			return
		}
		for _, e := range own {
			if e.Seq <= last {
				mine[e.Seq] = true
			}
		}
	}
	for i, e := range entries {
		system := e.Tenant == "" && e.RunID == "" && isAdmin(r)
		// An entry the store redacted (its payload not read) stays so.
		if !mine[e.Seq] && !system || e.Redacted {
			entries[i] = e.Redact()
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// failAudit answers a read of the log that failed: an entry over
// MaxAuditEntryBytes is the log's state, not a passing fault of the
// server's, and its error (naming the entry's seq) is the reader's to know
// and the operator's to mend. A page after it is read as ever.
func failAudit(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrAuditEntryTooLarge) {
		writeErr(w, http.StatusConflict, "conflict", "", err.Error())
		return
	}
	fail(w, err)
}

// seqPage reads a page of the log by seq: ?after= (0 or more) and ?limit=
// (AuditPage unless given, at most MaxAuditPage); a bad one is answered
// 400 and ok is false.
func seqPage(w http.ResponseWriter, r *http.Request) (after int64, limit int, ok bool) {
	if after, ok = queryInt(w, r, "after", 0, 0, math.MaxInt64, "a seq of 0 or more"); !ok {
		return 0, 0, false
	}
	l, ok := queryInt(w, r, "limit", AuditPage, 1, MaxAuditPage, fmt.Sprintf("a number of entries from 1 to %d", MaxAuditPage))
	return after, int(l), ok
}

// queryInt reads query parameter name as an integer from lo to hi (def
// when absent); a bad value is answered 400 naming the parameter and what
// it wants, and ok is false.
func queryInt(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int64, want string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		writeErr(w, http.StatusBadRequest, "invalid", name, fmt.Sprintf("%s: want %s", clip(v), want))
		return 0, false
	}
	return n, true
}

// queryName reads query parameter name, which names a run or a dataset of
// the tenant's ("" when absent). A value that is no name is answered 400
// naming the parameter, quoting at most 64 bytes of it, before the store
// is asked, as a path's value is (pathValid), and ok is false. Before, it
// was looked up as it came: GET /v1/runs?after= and /v1/audit?run= echoed
// it whole (up to the request's header bound, 32 KiB) in their refusal,
// /v1/audit?run= answered a NUL or a space 404 as for another tenant's
// run, and GET /v1/ledger?dataset= took any text as a filter.
func queryName(w http.ResponseWriter, r *http.Request, name, what string) (string, bool) {
	v := r.URL.Query().Get(name)
	if v == "" || catalog.ValidName(v) {
		return v, true
	}
	writeErr(w, http.StatusBadRequest, "invalid", name, fmt.Sprintf("%s is not %s: lowercase letters, digits, '-' and '.', at most 253", clip(v), what))
	return "", false
}

// queryFlag reads switch name of the query: on for 1, off for 0 or when
// absent. Any other value is answered 400 naming the parameter, and ok is
// false: a switch mistyped (follow=true, all=yes) was taken as off without
// a word, and its client took what it got for what it asked.
func queryFlag(w http.ResponseWriter, r *http.Request, name string) (on, ok bool) {
	v := r.URL.Query().Get(name)
	if on, ok = flagValue(v); !ok {
		writeErr(w, http.StatusBadRequest, "invalid", name, fmt.Sprintf("%s: want 1 (on) or 0 (off)", clip(v)))
	}
	return on, ok
}

// flagValue is what queryFlag makes of a switch's value v; ok is false
// for a value it refuses.
func flagValue(v string) (on, ok bool) {
	switch strings.ToLower(v) {
	case "", "0", "false":
		return false, true
	case "1", "true":
		return true, true
	}
	return false, false
}

// verifyCall is a verification of the whole audit chain under way; done
// is closed once res and err are set.
type verifyCall struct {
	done chan struct{}
	res  audit.Result
	err  error
}

// verifyTimeout bounds one verification of the chain (the route's).
const verifyTimeout = 2 * time.Minute

// A tenant whose verification ended may start its next one verifyRest
// later, or verifyRestFactor times as long as that one took when that is
// longer. One verification at a time keeps the log read once however many
// ask, but without a rest one tenant could start the next the moment the
// last ended and keep the store reading the whole log without pause: with
// it, the verifications each tenant starts keep the store reading the log
// at most a fifth of the time, and start a minute apart at the most often.
const (
	verifyRest       = time.Minute
	verifyRestFactor = 4
)

// verifyRestFor is how long a tenant rests after a verification it
// started that took took.
func verifyRestFor(took time.Duration) time.Duration {
	return max(verifyRest, verifyRestFactor*took)
}

// verify answers whether the whole chain verifies. A verification reads
// the whole log (a page at a time) and hashes every entry, so one runs at
// a time: a request that comes
// while one is under way (from any tenant) waits for it and shares its
// answer, which covers the chain as it was when that one began, instead of
// reading another copy of the log. The verification is not bound to the
// request that started it, whose client may go. A tenant that would start
// one before its rest after its last one is over (verifyRest) is answered
// 429 with the seconds left in Retry-After; joining one under way costs
// nothing and is never refused.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	tenant := tenantOf(r)
	s.verifyMu.Lock()
	call := s.verifying
	if call == nil {
		now := s.now()
		if next, ok := s.verifyNext[tenant]; ok && now.Before(next) {
			s.verifyMu.Unlock()
			wait := next.Sub(now)
			secs := int64(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			writeErr(w, http.StatusTooManyRequests, "verify_too_soon", "",
				fmt.Sprintf("tenant %s verified the whole audit chain lately; a verification reads the whole log, so the next may start in %ds", tenant, secs))
			return
		}
		call = &verifyCall{done: make(chan struct{})}
		s.verifying = call
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), verifyTimeout)
		go func() {
			defer cancel()
			call.res, call.err = s.opts.Audit.VerifyAudit(ctx)
			end := s.now()
			s.verifyMu.Lock()
			s.verifying = nil
			s.restVerify(tenant, now, end)
			s.verifyMu.Unlock()
			close(call.done)
		}()
	}
	s.verifyMu.Unlock()
	select {
	case <-call.done:
	case <-r.Context().Done():
		fail(w, r.Context().Err())
		return
	}
	if call.err != nil {
		fail(w, call.err)
		return
	}
	res := call.res
	if !isAdmin(r) {
		// The answer is every tenant's: a broken entry of another
		// tenant's is shown by position and keyed hash only.
		res = res.ForTenant(tenant)
	}
	writeJSON(w, http.StatusOK, res)
}

// restVerify records when tenant, whose verification ran from start to
// end, may start its next one, and forgets the tenants whose rest is over
// (the map holds only tenants resting now). s.verifyMu is held.
func (s *Server) restVerify(tenant string, start, end time.Time) {
	for t, next := range s.verifyNext {
		if !end.Before(next) {
			delete(s.verifyNext, t)
		}
	}
	if s.verifyNext == nil {
		s.verifyNext = map[string]time.Time{}
	}
	rest := verifyRestFor
	if s.verifyRestFor != nil {
		rest = s.verifyRestFor
	}
	s.verifyNext[tenant] = end.Add(rest(max(end.Sub(start), 0)))
}
