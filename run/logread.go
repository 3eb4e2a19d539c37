package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sync"

	"meridian.dev/meridian/backend"
)

// logHold is the most of the site's scheduler's output (an attempt whose
// agent sent none) a reader of a run's output holds from its opening to
// its reading. What a read asks for past it is read from the scheduler
// again when reached, streamed, not held.
const logHold = 16 << 20

// logTenantHold is the most of the sites' schedulers' output that the
// readers of one tenant's runs hold together. logHold bounded a reader,
// not a tenant: a tenant's requests in parallel for output of unknown size
// (a running pod's log) each held up to 16 MiB, some 32 GiB for two
// thousand slow readers. A reader that finds no room left reads what it
// wants from the scheduler again when reached, streamed, as one past
// logHold does.
const logTenantHold = 2 * logHold

// outputHolds counts, by tenant, the bytes of the sites' schedulers'
// output that open readers of runs' output hold (logTenantHold).
type outputHolds struct {
	mu   sync.Mutex
	held map[string]int
}

// take reserves up to want bytes of tenant's room and returns how many it
// got (none when full).
func (h *outputHolds) take(tenant string, want int) int {
	if want <= 0 {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := min(want, logTenantHold-h.held[tenant])
	if n <= 0 {
		return 0
	}
	if h.held == nil {
		h.held = map[string]int{}
	}
	h.held[tenant] += n
	return n
}

// give hands back n bytes that tenant's readers reserved; a tenant that
// holds none is not kept in the map.
func (h *outputHolds) give(tenant string, n int) {
	if n <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held[tenant] -= n; h.held[tenant] <= 0 {
		delete(h.held, tenant)
	}
}

// of returns the bytes tenant's readers hold.
func (h *outputHolds) of(tenant string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[tenant]
}

// OpenLogs opens at most limit bytes of a run's output (as Logs gives it)
// from byte off on, and returns the size of the whole output as it was
// when opened. The run is read once, here: its reader reads the output
// the server keeps from the attempts' files as it is asked for, no
// further than each file's size when opened, and holds little of it, so
// that an answer of a long page is written as it is read, not held whole,
// without reading the run again for each piece. The output the site's
// scheduler keeps is read once here to find its size (and held, up to
// logHold, where the read wants it). ctx bounds the reads.
func (c *Controller) OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error) {
	if off < 0 {
		return nil, 0, fmt.Errorf("log offset %d: want 0 or more", off)
	}
	if limit <= 0 {
		return nil, 0, fmt.Errorf("log limit %d: want 1 or more", limit)
	}
	r, err := c.Brief(ctx, tenant, id)
	if err != nil {
		return nil, 0, err
	}
	lr := &logReader{ctx: ctx, pos: off, end: off + min(limit, math.MaxInt64-off), holds: &c.logHolds, tenant: tenant}
	// A panic in a backend's reader gives back the room of the tenant's
	// that the reader booked: the HTTP server recovers it and goes on, and
	// the room taken would stay taken until restart.
	opened := false
	defer func() {
		if !opened {
			lr.Close()
		}
	}()
	var at int64 // where the next part starts in the whole output
	note := func(b []byte) {
		lr.parts = append(lr.parts, logPart{at: at, n: int64(len(b)), b: b, bAt: at})
		at += int64(len(b))
	}
	for _, a := range r.Attempts {
		note(fmt.Appendf(nil, "=== attempt %d at %s ===\n", a.N, a.Site))
		// Every attempt's output is marked, read or not, so that a
		// follower can tell where the parts of the run's output it went
		// by moved (LogMarks.Replaced).
		unread := func(err error) {
			from := at
			note(fmt.Appendf(nil, "(logs unavailable: %s)\n", c.logsFault(r, a.Site, err)))
			lr.marks = append(lr.marks, LogMark{Attempt: a.N, At: from, Len: at - from, From: LogUnread})
		}
		path := c.logPath(r.ID, a.N)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			lr.parts = append(lr.parts, logPart{at: at, n: fi.Size(), path: path})
			lr.marks = append(lr.marks, LogMark{Attempt: a.N, At: at, Len: fi.Size(), From: LogFromServer,
				Info: backend.LogInfo{Size: fi.Size(), Head: fileHead(path)}})
			at += fi.Size()
			continue
		}
		if a.Handle == "" {
			lr.marks = append(lr.marks, LogMark{Attempt: a.N, At: at, From: LogNone})
			continue
		}
		be, err := c.backendFor(r, a.Site)
		if err != nil {
			unread(err)
			continue
		}
		rc, info, err := backend.LogsAt(ctx, be, a.Handle, 0)
		if err != nil {
			unread(err)
			continue
		}
		if info.Size >= 0 {
			// A backend that tells the output's size without reading
			// it: nothing is read now, and a read reads from where it
			// starts, not from the output's start (a followed log's
			// poll reads what arrived, not the whole output again).
			rc.Close()
			n := min(info.Size, c.cfg.LogLimit)
			lr.parts = append(lr.parts, logPart{at: at, n: n, be: be, handle: a.Handle, sized: true, info: info})
			lr.marks = append(lr.marks, LogMark{Attempt: a.N, At: at, Info: info, Len: n})
			at += n
			continue
		}
		// Its size, and what of it the read wants while that fits in
		// what may be held: by this reader (logHold) and by its
		// tenant's readers together (logTenantHold), booked as it is
		// kept (logWindow.keep).
		win := &logWindow{pos: at, from: max(lr.pos, at), to: lr.end, room: logHold - lr.held, lr: lr}
		if err = win.read(rc, c.cfg.LogLimit); err != nil {
			unread(err)
			continue
		}
		info.Size, info.Head = win.pos-at, win.head
		p := logPart{at: at, n: win.pos - at, be: be, handle: a.Handle, info: info}
		if !win.over {
			p.b, p.bAt = win.kept, win.from
		}
		lr.parts = append(lr.parts, p)
		lr.marks = append(lr.marks, LogMark{Attempt: a.N, At: at, Info: info, Len: p.n})
		at = win.pos
	}
	lr.end = min(lr.end, at)
	opened = true
	return lr, at, nil
}

// logPart is one piece of a run's output: from at, n bytes. b holds the
// part's bytes from bAt on (a header line, a note, or what a read wants of
// the scheduler's output); otherwise they are read from path, the output
// the server keeps, or from the site's scheduler (be, handle) again.
type logPart struct {
	at, n  int64
	b      []byte
	bAt    int64
	path   string
	be     backend.Backend
	handle string
	// sized: the backend told the output's size without reading it, and
	// opens it at an offset (backend.LogsAt). info is the output the
	// opening found: a read finds the same, or reads none of it.
	sized bool
	info  backend.LogInfo
}

// LogMark is what an opening of a run's output found of one attempt's
// output: where it starts in the run's output (At), how long it is there
// (Len), where it was read from, and, of the output at the site's
// scheduler, its size and identity.
type LogMark struct {
	Attempt int
	At      int64
	Info    backend.LogInfo
	Len     int64
	From    LogSource
}

// LogSource is where an opening of a run's output read an attempt's
// output from.
type LogSource int

const (
	// LogFromSite: the output the site's scheduler keeps.
	LogFromSite LogSource = iota
	// LogFromServer: the output the attempt's agent sent, kept by the
	// server (it only grows).
	LogFromServer
	// LogUnread: it could not be read; a note of Len bytes saying so
	// stands in its place.
	LogUnread
	// LogNone: there is none yet.
	LogNone
)

// LogMarks is what an opening of a run's output found of the outputs of
// its attempts, to tell a later opening's output grown from output
// replaced or moved. A reader OpenLogs returns has a Marks method that
// returns them.
type LogMarks []LogMark

func (m LogMarks) find(attempt int) *LogMark {
	for i := range m {
		if m[i].Attempt == attempt {
			return &m[i]
		}
	}
	return nil
}

// Replaced compares m, a later opening's marks, with prev, an earlier's:
// at is the first byte of the run's output from which what prev's
// opening read is not what m's reads (ok says there is one): an
// attempt's output at the site replaced (a site's file written anew, a
// pod's container started again), read from another source (the note
// that it could not be read, or the site's copy, giving way to the
// output itself), or moved, because an earlier attempt's output before
// it got longer or shorter. next is what a follower compares its next
// opening with: m, keeping of each attempt's output whose head only got
// shorter (emptied, not replaced) the head prev saw, so that output
// written anew after it was emptied still shows as replaced.
func (m LogMarks) Replaced(prev LogMarks) (at int64, ok bool, next LogMarks) {
	next = append(LogMarks(nil), m...)
	found := func(a int64) {
		if !ok || a < at {
			at, ok = a, true
		}
	}
	for i := range next {
		cur := &next[i]
		p := prev.find(cur.Attempt)
		if p == nil {
			continue
		}
		if p.At != cur.At {
			// What comes before the attempt's header got longer or
			// shorter: the outputs agree up to the end of what the
			// attempt before it had in both, or, not knowing it, from
			// the start.
			moved := int64(0)
			if i > 0 {
				if q := prev.find(next[i-1].Attempt); q != nil && q.At == next[i-1].At {
					moved = q.At + min(q.Len, next[i-1].Len)
				}
			}
			found(moved)
		}
		switch {
		case p.From != cur.From && copies(p.From) && copies(cur.From):
			// The site's copy of the attempt's output and the
			// output its agent sent are alike where the workload's
			// output is all there is: the one that starts as the
			// other did is that output grown (the site's copy tells
			// the agent's own lines from it).
			n := min(len(p.Info.Head), len(cur.Info.Head))
			if p.Len > 0 && string(p.Info.Head[:n]) != string(cur.Info.Head[:n]) {
				found(cur.At)
			}
			continue
		case p.From != cur.From:
			// Of an output prev had none of, nothing was read; one
			// now gone is only shorter.
			if p.Len > 0 && cur.From != LogNone {
				found(cur.At)
			}
			continue
		case cur.From == LogUnread:
			if p.Len != cur.Len {
				found(cur.At)
			}
			continue
		case cur.From != LogFromSite:
			continue
		}
		if p.Info.Replaced(cur.Info) {
			found(cur.At)
			continue
		}
		if len(p.Info.Head) > len(cur.Info.Head) && (p.Info.ID == "" || p.Info.ID == cur.Info.ID) {
			cur.Info.Head = p.Info.Head
		}
	}
	return at, ok, next
}

// copies: the output the attempt's workload wrote, read from the site's
// copy or from what its agent sent.
func copies(s LogSource) bool { return s == LogFromSite || s == LogFromServer }

// fileHead is the first bytes of the file at path, up to
// backend.LogHeadSize (none when it cannot be read).
func fileHead(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, backend.LogHeadSize)
	n, _ := f.ReadAt(b, 0)
	return b[:n]
}

// AgentOutputAt says whether the output at at, in m, is an attempt's
// output as its agent sent it, in place of the site's copy prev read: a
// change each attempt's output makes once, not one its workload can make
// again and again, as it can write its output anew.
func (m LogMarks) AgentOutputAt(prev LogMarks, at int64) bool {
	for _, cur := range m {
		if cur.At == at && cur.From == LogFromServer {
			p := prev.find(cur.Attempt)
			return p != nil && p.From == LogFromSite && p.At == at
		}
	}
	return false
}

// Unread compares m, a later opening's marks, with prev, an earlier's:
// at is where the output of the first attempt that this opening could
// not read starts, of those prev read or had no mark of (ok says there is
// one). The run's output from there on is not where it was (a note of
// another length stands in for the attempt's output): a follower that
// waits a poll or two for the output to be read again goes on from where
// it was, rather than from a note it would have to take back.
func (m LogMarks) Unread(prev LogMarks) (at int64, ok bool) {
	for _, cur := range m {
		if cur.From != LogUnread {
			continue
		}
		if p := prev.find(cur.Attempt); p == nil || p.From != LogUnread {
			return cur.At, true
		}
	}
	return 0, false
}

// logWindow counts the bytes written to it from pos on and keeps those
// from from to to while they fit in room, and in the room lr's tenant has
// left (lr.book); over says they did not.
type logWindow struct {
	pos, from, to int64
	room          int
	lr            *logReader
	kept          []byte
	over          bool
	head          []byte // the first bytes, up to backend.LogHeadSize
}

// read writes at most limit bytes of rc to the window, and closes rc
// (also when a backend's reader panics). What it kept stays booked in
// lr.held; what it did not, and all of it when the read fails, is given
// back.
func (w *logWindow) read(rc io.ReadCloser, limit int64) error {
	defer rc.Close()
	_, err := io.Copy(w, io.LimitReader(rc, limit))
	if err != nil {
		w.drop()
		return err
	}
	w.fit()
	return nil
}

func (w *logWindow) Write(b []byte) (int, error) {
	if room := backend.LogHeadSize - len(w.head); room > 0 {
		w.head = append(w.head, b[:min(room, len(b))]...)
	}
	if lo, hi := max(w.from-w.pos, 0), min(w.to-w.pos, int64(len(b))); lo < hi && !w.over {
		w.keep(b[lo:hi])
	}
	w.pos += int64(len(b))
	return len(b), nil
}

// keep appends b to what the window keeps. The room the kept bytes'
// buffer takes (its capacity, not its length) is booked in the tenant's
// count as it grows, not the most a read might keep before it starts:
// booked so, each follow's round (which asks for all there is) took up to
// logHold of the tenant's room while it read, and the readers beside it
// found none and read the site's output again. With no room left the
// window keeps none, and gives back what it booked.
func (w *logWindow) keep(b []byte) {
	need := len(w.kept) + len(b)
	if need > w.room {
		w.drop()
		return
	}
	if c := cap(w.kept); need > c {
		grow := min(max(need, 2*c), w.room) - c
		got := w.lr.book(grow)
		if c+got < need {
			w.lr.unbook(got)
			w.drop()
			return
		}
		k := make([]byte, len(w.kept), c+got)
		copy(k, w.kept)
		w.kept = k
	}
	w.kept = append(w.kept, b...)
}

// fit trims the kept bytes' buffer to their length, giving back the room
// its growth booked past them.
func (w *logWindow) fit() {
	if c := cap(w.kept); c > len(w.kept) {
		k := make([]byte, len(w.kept)) // of this capacity, not rounded up
		copy(k, w.kept)
		w.kept = k
		w.lr.unbook(c - len(k))
	}
}

// drop keeps none of the window's bytes and gives back the room they
// took.
func (w *logWindow) drop() {
	w.lr.unbook(cap(w.kept))
	w.kept, w.over = nil, true
}

// logReader reads a run's output from pos to end, a part at a time.
type logReader struct {
	ctx      context.Context
	parts    []logPart
	marks    LogMarks
	pos, end int64
	cur      int           // the part pos is in, or past
	f        *os.File      // the current part's file, open
	rc       io.ReadCloser // the current part's scheduler output, at pos
	// held is what the reader holds of the schedulers' output, counted
	// in holds against tenant until it is closed.
	held   int
	holds  *outputHolds
	tenant string
}

func (lr *logReader) Read(b []byte) (int, error) {
	for lr.pos < lr.end {
		if lr.cur >= len(lr.parts) {
			break
		}
		p := &lr.parts[lr.cur]
		if lr.pos >= p.at+p.n {
			lr.closePart()
			lr.cur++
			continue
		}
		if len(b) == 0 {
			return 0, nil
		}
		want := min(int64(len(b)), lr.end-lr.pos, p.at+p.n-lr.pos)
		rel := lr.pos - p.at
		var n int
		var err error
		switch {
		case p.b != nil || (p.path == "" && p.be == nil):
			n = copy(b[:want], p.b[lr.pos-p.bAt:])
		case p.path != "":
			if lr.f == nil {
				if lr.f, err = os.Open(p.path); err != nil {
					if !errors.Is(err, fs.ErrNotExist) {
						return 0, err
					}
					// Removed since the opening (to make room under
					// its tenant's bound): the output ends here.
					err = io.EOF
					break
				}
			}
			n, err = lr.f.ReadAt(b[:want], rel)
		case p.sized:
			if lr.rc == nil {
				rc, info, err := backend.LogsAt(lr.ctx, p.be, p.handle, rel)
				if err != nil {
					return 0, err
				}
				// Another output than the opening found (another
				// file, or the file truncated in place and written
				// again: its head differs, or it is shorter and has
				// bytes where the read starts, perhaps new ones) is
				// not read at the old one's offsets.
				if p.info.Replaced(info) || (info.Size >= 0 && info.Size < p.n && info.Size > rel) {
					rc.Close()
					return 0, fmt.Errorf("the site's output of the run: %w", backend.ErrLogReplaced)
				}
				lr.rc = rc
			}
			n, err = lr.rc.Read(b[:want])
		default:
			if lr.rc == nil {
				// Read again from its start, as the opening read it:
				// another output than the opening found (a pod's
				// container started again) is not read at the old
				// one's offsets. Read no further than the part.
				rc, info, err := backend.LogsAt(lr.ctx, p.be, p.handle, rel)
				if err != nil {
					return 0, err
				}
				if p.info.Replaced(info) {
					rc.Close()
					return 0, fmt.Errorf("the site's output of the run: %w", backend.ErrLogReplaced)
				}
				lr.rc = rc
			}
			n, err = lr.rc.Read(b[:want])
		}
		lr.pos += int64(n)
		if n > 0 {
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			// Shorter than it was when opened: the output ends here.
			lr.end = lr.pos
			break
		}
		if err != nil {
			return 0, err
		}
	}
	lr.closePart()
	return 0, io.EOF
}

func (lr *logReader) closePart() {
	if lr.f != nil {
		lr.f.Close()
		lr.f = nil
	}
	if lr.rc != nil {
		lr.rc.Close()
		lr.rc = nil
	}
}

// book takes up to n bytes of the tenant's room for the reader to hold,
// and returns how many it got.
func (lr *logReader) book(n int) int {
	got := lr.holds.take(lr.tenant, n)
	lr.held += got
	return got
}

// unbook gives back n bytes of what the reader booked.
func (lr *logReader) unbook(n int) {
	n = min(n, lr.held)
	lr.holds.give(lr.tenant, n)
	lr.held -= n
}

// Marks returns what the opening found of the outputs the sites'
// schedulers keep of the run's attempts.
func (lr *logReader) Marks() LogMarks { return lr.marks }

// Close gives back what the reader held of its tenant's room (once,
// however often it is called).
func (lr *logReader) Close() error {
	lr.closePart()
	if lr.held > 0 {
		lr.holds.give(lr.tenant, lr.held)
		lr.held = 0
		for i := range lr.parts {
			if lr.parts[i].be != nil {
				lr.parts[i].b = nil
			}
		}
	}
	return nil
}
