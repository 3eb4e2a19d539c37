package run

import (
	"container/list"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/faillimit"
	"meridian.dev/meridian/internal/faultid"
	"meridian.dev/meridian/internal/jsondup"
	"meridian.dev/meridian/internal/textfit"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// maxReport bounds a JSON report from an agent; maxLogPost one log post
// (the agent sends its output in posts of at most that).
const (
	maxReport  = 64 << 10
	maxLogPost = agent.MaxLogPost
)

// logGrace is how long after its attempt ended an agent may still send its
// last output and exit code.
const logGrace = 2 * time.Minute

// AgentHandler serves the agent API (the routes in package agent). Every
// request must carry its attempt's credential; a credential works only while
// its attempt is the run's current, unfinished one.
func (c *Controller) AgentHandler() http.Handler {
	mux := http.NewServeMux()
	// Only the manifest needs the run's documents (its job): the other
	// routes, which an agent calls several times a second, read the run
	// without them, and not at all while it has not changed.
	// Only the logs route takes a query parameter (offset).
	// Each route that reads a body takes one media type: a report is
	// JSON, a post of output the workload's raw bytes.
	mux.HandleFunc("GET "+agent.RouteManifest, c.agentRoute(false, true, nil, "", c.agentManifest))
	mux.HandleFunc("POST "+agent.RouteHeartbeat, c.agentRoute(false, false, nil, reportType, c.agentHeartbeat))
	mux.HandleFunc("POST "+agent.RouteCheckpoint, c.agentRoute(false, false, nil, reportType, c.agentCheckpoint))
	mux.HandleFunc("POST "+agent.RouteLogs, c.agentRoute(true, false, []string{"offset"}, logType, c.agentLogs))
	mux.HandleFunc("POST "+agent.RouteExit, c.agentRoute(true, false, nil, reportType, c.agentExit))
	return mux
}

// reportType and logType are the media types of an agent's request bodies:
// a report (heartbeat, checkpoint, exit) and a post of output.
const (
	reportType = "application/json"
	logType    = "application/octet-stream"
)

// agentBodyTypeInvalid says why the body of an agent's request is refused
// for its media type ("" when it is not): a route that reads a body
// (bodyType not "") takes only that type, a report with at most
// charset=utf-8 and output with no parameter, and Content-Type given
// once. Without it a report was decoded as JSON, and any body kept as
// output, whatever the request said it was, past a proxy or filter in
// front of the server that inspects bodies by their type. A request
// without a body (the manifest's GET) is not held to it.
func agentBodyTypeInvalid(req *http.Request, bodyType string) (int, string) {
	cts := req.Header.Values("Content-Type")
	if n := len(cts); n > 1 {
		return http.StatusBadRequest, fmt.Sprintf("the Content-Type header given %d times: give it once", n)
	}
	if bodyType == "" || req.ContentLength == 0 || req.Body == nil || req.Body == http.NoBody {
		return 0, ""
	}
	if len(cts) == 0 || cts[0] == "" {
		return http.StatusUnsupportedMediaType, fmt.Sprintf("the request has a body but no Content-Type header: send Content-Type: %s", bodyType)
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	if err != nil {
		return http.StatusUnsupportedMediaType, fmt.Sprintf("the Content-Type header %q does not parse: send Content-Type: %s", truncate(cts[0], 64), bodyType)
	}
	if mt != bodyType {
		return http.StatusUnsupportedMediaType, fmt.Sprintf("the Content-Type header is %q: this route takes only %s", truncate(mt, 64), bodyType)
	}
	for k, v := range params {
		if bodyType != reportType || k != "charset" || !strings.EqualFold(v, "utf-8") {
			return http.StatusUnsupportedMediaType, fmt.Sprintf("the Content-Type header's parameter %q is not taken: send Content-Type: %s", truncate(k+"="+v, 64), bodyType)
		}
	}
	return 0, ""
}

type agentHandler func(w http.ResponseWriter, r *http.Request, run *Run, a Attempt)

// agentFault answers an agent's request that met a fault of the server's
// own (its store, its disk) with status and a fault id, and logs the
// error under that id. The error's text stays out of the answer: the
// agent writes what it is answered into the run's output, which the
// tenant reads, and a store's error names the database's host, user and
// name, a disk's the server's paths.
func (c *Controller) agentFault(w http.ResponseWriter, req *http.Request, status int, what string, err error) {
	id := faultid.New()
	c.cfg.Logger.Error("agent request", "what", what, "path", req.URL.Path, "remote", req.RemoteAddr, "fault", id, "err", err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	agentErr(w, status, fmt.Sprintf("%s: the server could not do it now (fault %s in its log); try again", what, id))
}

func agentErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"message": msg}})
}

// agentRoute authenticates the attempt credential. ended allows an attempt
// that ended within logGrace (its last output and exit code). docs says
// the handler needs the run's documents: without, it is given the run as
// Brief reads it, the store asked for the run's version alone while this
// server has read that version (a run with a long history of attempts is
// otherwise decoded whole for each heartbeat and post of output). The
// credential is checked against the run as the store has it now either
// way: its current version. params are the query parameters the route
// takes; any other is refused.
func (c *Controller) agentRoute(ended, docs bool, params []string, bodyType string, h agentHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		// The credential given twice is refused before either is read,
		// as the API refuses a tenant's token given twice: the server
		// read the first, where a proxy in front of it that checked or
		// logged the request may have read the last.
		if n := len(req.Header.Values("Authorization")); n > 1 {
			agentErr(w, http.StatusBadRequest, fmt.Sprintf("the Authorization header given %d times: give it once", n))
			return
		}
		if msg := agentQueryInvalid(req.URL.RawQuery, params); msg != "" {
			agentErr(w, http.StatusBadRequest, msg)
			return
		}
		// Refused before the credential is read, as the query is: it
		// costs no read of the run.
		if code, msg := agentBodyTypeInvalid(req, bodyType); msg != "" {
			agentErr(w, code, msg)
			return
		}
		tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			agentErr(w, http.StatusUnauthorized, "missing attempt credential")
			return
		}
		// A run id no run can have (every run's is a job's name:
		// backend.ValidRunID) is refused before its credential's MAC is
		// computed over it and before the store is asked for it: a path
		// of a megabyte of id, or one carrying a terminal escape, cost a
		// read keyed by it, and went into the server's log whole when
		// that read failed.
		id := req.PathValue("run")
		n, err := strconv.Atoi(req.PathValue("attempt"))
		if err != nil || n < 1 || backend.ValidRunID(id) != nil {
			agentErr(w, http.StatusUnauthorized, "credential not recognised")
			return
		}
		// The credential is checked against the run, read from the
		// store. One this server's key made for the attempt (its MAC
		// checks), or one it has seen work, takes from the attempt's
		// bucket before that read (an ended attempt's, once found
		// ended, is refused before either: agentEnded); it is not held
		// back by its address's failures, so an agent is heard
		// beside a workload that floods the server with bad credentials
		// from the same address (a node's or a cluster's egress address),
		// on any replica and after a restart. Any other credential costs
		// the read before any attempt's limit applies, so an address whose
		// credentials keep failing waits (faillimit).
		key := attemptKey(id, n)
		src, now := faillimit.Source(req.RemoteAddr), time.Now()
		// A credential this server has seen work for the attempt is
		// vouched for by that alone: its MAC was checked then, and is not
		// computed again on each of the agent's requests (twice, before:
		// here and against the run).
		knownNonce, known := c.agentKnown(key, tok)
		made := !known && c.credentialMade(id, n, tok)
		// A credential this server's key made for an attempt already
		// found ended for good is refused with no read at all: a
		// tenant keeps every credential its workloads ever got, and
		// each would otherwise cost agentRate reads of its run a
		// second, for ever.
		if made {
			if state, gone := c.agentEnded(id, n, ended); gone {
				agentErr(w, http.StatusGone, endedMessage(n, id, state))
				return
			}
		}
		vouched := made || known
		if !vouched && c.agentFails.Blocked(src, now) {
			w.Header().Set("Retry-After", "1")
			agentErr(w, http.StatusTooManyRequests, "too many requests with attempt credentials that are not recognised from this address")
			return
		}
		overLimit := func() {
			w.Header().Set("Retry-After", "1")
			agentErr(w, http.StatusTooManyRequests, fmt.Sprintf("attempt %d of %s: over %d requests a second to the agent API", n, id, agentRate))
		}
		if vouched && !c.agentAllow(key) {
			overLimit()
			return
		}
		refuse := func() {
			if !vouched {
				c.agentFails.Failed(src, now)
			}
			agentErr(w, http.StatusUnauthorized, "credential not recognised")
		}
		r, err := c.agentRun(req.Context(), id, docs)
		if errors.Is(err, ErrNotFound) {
			refuse()
			return
		}
		var bad *badRow
		if errors.As(err, &bad) {
			c.agentFault(w, req, http.StatusInternalServerError, "reading the run", bad.err)
			return
		}
		if err != nil {
			// The caller has shown no valid credential yet: the store's
			// error (on PostgreSQL it names the database's host, user and
			// database) goes to the server's log, not to it.
			c.cfg.Logger.Error("agent credential check", "run", id, "remote", req.RemoteAddr, "err", err)
			w.Header().Set("Retry-After", "5")
			agentErr(w, http.StatusServiceUnavailable, "cannot check the credential now (the server's store did not answer); try again")
			return
		}
		var a Attempt
		found := false
		for _, x := range r.Attempts {
			if x.N == n {
				a, found = x, true
			}
		}
		// made and known were found for the run named id, which r must be.
		if !found || a.Nonce == "" || r.ID != id || !c.credentialOf(tok, r.ID, a, known, knownNonce, made) {
			refuse()
			return
		}
		live := attemptLive(r, n)
		recent := c.lastWords(r, n)
		if live {
			c.agentRemember(key, tok, a.Nonce)
		} else {
			c.agentForget(key)
		}
		if !live && !(ended && recent) {
			// An attempt the run has moved past, or of a run that has
			// finished, never works again: remembered, so that its
			// credential's next requests are refused before the read.
			// The last output and exit code of a finished run's
			// attempt are still read until logGrace has passed.
			if r.Attempt > n || r.State.Final() {
				c.agentEnd(r, n)
			}
			if !vouched {
				// A credential in the older form (the MAC alone, before
				// credentials carried their nonce) cannot be told ended
				// without the read: it counts against its address as a
				// failure does, or each request would cost a read, bounded
				// by nothing.
				c.agentFails.Failed(src, now)
			}
			agentErr(w, http.StatusGone, endedMessage(n, r.ID, string(r.State)))
			return
		}
		if !vouched && !c.agentAllow(key) {
			overLimit()
			return
		}
		if err := c.heard(req.Context(), r.ID, r.Tenant, n); err != nil {
			// The manifest route, which starts the workload, asks the
			// store again (agentManifest); the others go on.
			req = req.WithContext(context.WithValue(req.Context(), heardFailedKey{}, err))
		}
		h(w, req, r, a)
	}
}

// heardFailedKey is, in an agent request's context, the store's error
// where it did not take the request's contact (heard).
type heardFailedKey struct{}

// attemptLive says whether attempt n is run r's current one and still
// under way: its agent's credential works, and its reports are taken.
func attemptLive(r *Run, n int) bool {
	draining := r.State == Migrating && r.Migration != nil && r.Migration.Drain
	return r.Attempt == n && (r.State == Staging && r.Staged == n || r.State == Queued || r.State == Running || r.State == Checkpointed || draining)
}

// lastWords says whether attempt n of run r, ended, may still send its
// last output and exit code: it is the run's last attempt, and it ended
// within logGrace. The window runs from the attempt's end (overAt), not
// from the run's last write: a later write to the ended run (a sweep's,
// say) would otherwise open it again, and the attempt's credential could
// go on posting for as long as the run is written to.
func (c *Controller) lastWords(r *Run, n int) bool {
	over, ok := overAt(r, n)
	return ok && r.Attempt == n && c.cfg.Now().Sub(over) < logGrace
}

// overAt is when attempt n of run r ended: when the controller saw it stop
// being live (Attempt.Over), or, for an attempt that ended before that was
// recorded, when it stopped holding its pool (Attempt.Ended). ok is false
// when neither is known: such an attempt has no last words.
func overAt(r *Run, n int) (time.Time, bool) {
	for _, a := range r.Attempts {
		if a.N != n {
			continue
		}
		if !a.Over.IsZero() {
			return a.Over, true
		}
		if !a.Ended.IsZero() {
			return a.Ended, true
		}
		return time.Time{}, false
	}
	return time.Time{}, false
}

// markOver stamps attempt n of r as over at now, once.
func markOver(r *Run, n int, now time.Time) {
	for i := range r.Attempts {
		if a := &r.Attempts[i]; a.N == n && a.Over.IsZero() {
			a.Over = now
		}
	}
}

// badRow is a run the store gave that could not be decoded: the server's
// fault, not the caller's.
type badRow struct{ err error }

func (e *badRow) Error() string { return e.err.Error() }

// agentRun reads run id for the agent API: whole when docs is set, else
// without its documents, by its version (briefAt). ErrNotFound when there
// is none; a *badRow when it cannot be decoded.
func (c *Controller) agentRun(ctx context.Context, id string, docs bool) (*Run, error) {
	if docs {
		row, err := c.cfg.Store.GetRun(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		r, err := fromRow(row)
		if err != nil {
			return nil, &badRow{err}
		}
		return r, nil
	}
	_, version, err := c.cfg.Store.RunVersionOf(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return c.briefAt(ctx, id, version)
}

// agentRate and agentBurst bound the requests of each attempt's
// credential: an agent sends a heartbeat every Config.Heartbeat, at most
// four checkpoint reports and four posts of output a second (its poll),
// and retries of those, far below this; each request it makes is a write
// to the store. Past them the answer is 429 with Retry-After, which the
// agent retries, backing off. Anyone holding a credential (the site that
// runs the attempt) can cost the server no more than this, plus the read
// that checks the credential.
const (
	agentRate  = 20
	agentBurst = 60
)

// agentFailRate and agentFailBurst bound the attempt credentials that fail
// from one address (faillimit): each costs a read of a run, documents and
// all, before it fails.
const (
	agentFailRate  = 20
	agentFailBurst = 60
)

// agentMemo is what the controller keeps in memory of an attempt's agent
// between its requests: its request bucket (agentAllow), and when the
// timeline last listed one of its checkpoints (agentCheckpoint). After a
// restart, or on another replica, a bucket starts full and the attempt's
// next checkpoint is listed.
type agentMemo struct {
	lim      *rate.Limiter
	used     time.Time // the agent's last request
	listedAt time.Time // by Config.Now
	unlisted int       // checkpoints recorded since listedAt and not listed
	// savedAt is when this server last saved the attempt's progress (by
	// Config.Now), and finishing whether it saved its finishing progress:
	// progress is saved at most once a second, and the last report before
	// the workload ends once more.
	savedAt   time.Time
	finishing bool
	// stopAsked is when this server first answered the attempt's agent
	// to stop its workload for a cancel, or a drain with no deadline
	// (time.Now): past DrainGrace the answer says to kill it (stopReply).
	stopAsked time.Time
	// outputCut says the attempt's timeline was told its output is no
	// longer kept (noteOutputCut).
	outputCut bool
	// outSynced is what this server's last sync that succeeded of the
	// attempt's output file covered, as its record beside the file says
	// (outputSynced): a post that finds the file at that length reads no
	// record and syncs nothing before it adds to it (outputFloor).
	outSynced syncedOutput
	// floorFault says a failure to read or write the record of what was
	// synced of the attempt's output was logged (floorFault).
	floorFault bool
	// cred is the credential last seen to work for the attempt while it
	// was live, and nonce the attempt's nonce it was checked against: a
	// request that presents it is not held back by its address's
	// failures, and its MAC is not computed again while the attempt's
	// nonce is the same. Credentials this server's key made carry their
	// proof (credentialMade); this serves those of attempts begun before
	// they did too.
	cred  string
	nonce string
	// key and elem place the memo in Controller.agentOrder.
	key  string
	elem *list.Element
}

// maxRemembered bounds Controller.agents: past it, the memos of agents
// not heard for a minute are dropped (their bucket is full again, and
// their next checkpoint would be listed).
const maxRemembered = 4096

// maxEnded bounds Controller.endedAgents, the runs with attempts found
// ended for good: past it the run found longest ago is forgotten, and the
// next request of one of its ended attempts' credentials reads it once
// more, unless that attempt is held in Controller.endedKeys (endedSet). One entry stands for every ended attempt of its run, so a tenant
// cycling the credentials of many attempts of its runs (each retry, move
// and preemption makes one) costs one entry a run, not one an attempt.
const maxEnded = 1 << 16

// endedAttempts is what the agent API knows of run id's attempts ended for
// good (Controller.endedAgents), as it was last found: every attempt
// numbered below below, and, once the run is final, its last attempt
// last too (0: not final), whose agent may still send its last output and
// exit code until grace (Unix nanoseconds by Config.Now; 0: never). state
// is the run's state then. It is kept small (one a run, up to maxEnded):
// the state is one of the package's constants, not the decoded string.
type endedAttempts struct {
	id    string
	state string
	grace int64
	below int32
	last  int32
}

// memo is attempt key's memo, made when new; c.mu is held.
func (c *Controller) memo(key string, now time.Time) *agentMemo {
	if c.agents == nil {
		c.agents = map[string]*agentMemo{}
		c.agentOrder = list.New()
	}
	m := c.agents[key]
	if m == nil {
		// c.agentOrder holds the memos in the order of their last use,
		// the least recent last: past the bound, those not used for a
		// minute are dropped from that end, looking at no other.
		for len(c.agents) >= maxRemembered {
			last := c.agentOrder.Back()
			old := last.Value.(*agentMemo)
			if now.Sub(old.used) <= time.Minute {
				break
			}
			c.dropMemo(old.key)
		}
		m = &agentMemo{lim: rate.NewLimiter(agentRate, agentBurst), used: now, key: key}
		m.elem = c.agentOrder.PushFront(m)
		c.agents[key] = m
	}
	return m
}

// dropMemo forgets attempt key's memo; c.mu is held.
func (c *Controller) dropMemo(key string) {
	if m := c.agents[key]; m != nil {
		c.agentOrder.Remove(m.elem)
		delete(c.agents, key)
	}
}

// agentEnd remembers which attempts of run r, as just read, have ended
// for good: those the run has moved past, and, once it is final, its last
// too, with that attempt's last output and exit code taken for logGrace
// after it ended (lastWords). What was known of the run before is kept
// where r says less (an attempt ended for good never works again). The
// memo of attempt n, found ended, is dropped, as its agent is heard no
// more.
func (c *Controller) agentEnd(r *Run, n int) {
	below, last := r.Attempt, 0
	var grace int64
	if r.State.Final() {
		below, last = r.Attempt, r.Attempt
		if over, ok := overAt(r, r.Attempt); ok {
			grace = over.Add(logGrace).UnixNano()
		}
	}
	if below < 1 && last < 1 {
		return
	}
	below, last = min(below, math.MaxInt32), min(last, math.MaxInt32)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropMemo(attemptKey(r.ID, n))
	// Attempt n itself, ended for every route (its last words' grace
	// past, or none to take), is held past the runs remembered here.
	if n < below || n == last && (grace == 0 || c.cfg.Now().UnixNano() >= grace) {
		c.endedKeys.add(r.ID, n, r.State)
	}
	if c.endedAgents == nil {
		c.endedAgents = map[string]*list.Element{}
		c.endedOrder = list.New()
	}
	if e := c.endedAgents[r.ID]; e != nil {
		er := e.Value.(*endedAttempts)
		if int32(below) > er.below && er.last == 0 {
			er.below, er.state = int32(below), stateName(r.State)
		}
		if last > 0 {
			// A final run gets no further attempt: what it says is
			// the last word.
			er.below, er.last, er.grace, er.state = int32(below), int32(last), grace, stateName(r.State)
		}
		c.endedOrder.MoveToFront(e)
		return
	}
	if len(c.endedAgents) >= maxEnded {
		old := c.endedOrder.Back()
		delete(c.endedAgents, old.Value.(*endedAttempts).id)
		c.endedOrder.Remove(old)
	}
	// The id is kept alone, not the request path it was cut from.
	id := strings.Clone(r.ID)
	c.endedAgents[id] = c.endedOrder.PushFront(&endedAttempts{id: id, state: stateName(r.State), grace: grace, below: int32(below), last: int32(last)})
}

// stateName is s as one of the package's constants when it is one, so
// that what is kept of an ended run shares it; any other, copied.
func stateName(s State) string {
	for _, k := range [...]State{Planned, Staging, Queued, Running, Checkpointed, Migrating, Held, Succeeded, Failed, Cancelled} {
		if s == k {
			return string(k)
		}
	}
	return strings.Clone(string(s))
}

// agentEnded says whether attempt n of run id is known to have ended for
// good, and the run's state when found so; for a route that takes an ended
// attempt's last words (ended), only once its grace has passed.
func (c *Controller) agentEnded(id string, n int, ended bool) (string, bool) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.endedAgents[id]; e != nil {
		er := e.Value.(*endedAttempts)
		switch {
		case n < int(er.below):
			return er.state, true
		case n == int(er.last):
			if ended && now.UnixNano() < er.grace {
				return "", false
			}
			return er.state, true
		}
	}
	// A run forgotten here (past maxEnded) may have this attempt held
	// as ended for good (endedSet): a definite answer, never another's.
	return c.endedKeys.has(id, n)
}

func endedMessage(n int, runID, state string) string {
	return fmt.Sprintf("attempt %d of %s has ended (%s); its credential no longer works", n, runID, state)
}

// agentKnown says whether tok is the credential this server last saw work
// for attempt key, and returns the attempt's nonce it was checked against.
func (c *Controller) agentKnown(key, tok string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.agents[key]
	if m != nil && m.cred != "" && subtle.ConstantTimeCompare([]byte(m.cred), []byte(tok)) == 1 {
		return m.nonce, true
	}
	return "", false
}

// agentRemember records that tok worked for attempt key, whose nonce is
// nonce.
func (c *Controller) agentRemember(key, tok, nonce string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.memo(key, time.Now())
	m.cred, m.nonce = tok, nonce
}

// agentForget drops the credential remembered for attempt key, which has
// ended: it is held to its address's failures again.
func (c *Controller) agentForget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.agents[key]; m != nil {
		m.cred = ""
	}
}

// agentAllow takes one request from attempt key's bucket.
func (c *Controller) agentAllow(key string) bool {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.memo(key, now)
	m.used = now
	c.agentOrder.MoveToFront(m.elem)
	return m.lim.AllowN(now, 1)
}

func writeAgentJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// decodeReport reads an agent's report into v. The agent runs beside the
// workload, which may write the report for it: a key given twice (which
// encoding/json reads as the last, where a log or a proxy may read the
// first) and data after the report are refused, as the API refuses them.
func decodeReport(w http.ResponseWriter, req *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxReport))
	if err != nil {
		agentErr(w, http.StatusBadRequest, "report: "+err.Error())
		return false
	}
	// Keys are read as v's type reads them, with their case: the decoder
	// fills a field with a key in any case ({"Code": 3} fills "code").
	switch p := jsondup.Check(body, reflect.TypeOf(v)); p.Kind {
	case jsondup.Twice:
		agentErr(w, http.StatusBadRequest, fmt.Sprintf("report: key %q given twice in one object (keys differing only in case are one field)", p.Path))
		return false
	case jsondup.Case:
		agentErr(w, http.StatusBadRequest, fmt.Sprintf("report: key %q: the field is spelled %q (keys are case-sensitive)", p.Path, p.Want))
		return false
	case jsondup.Unknown:
		agentErr(w, http.StatusBadRequest, fmt.Sprintf("report: unknown field %q", p.Path))
		return false
	}
	// Unmarshal refuses data after the report.
	if err := json.Unmarshal(body, v); err != nil {
		agentErr(w, http.StatusBadRequest, "report: "+err.Error())
		return false
	}
	return true
}

// agentManifest answers an attempt's agent with what it needs: the
// workload, the site's store and the tenant's prefixes in it, the keys of
// the staged datasets and of the run's checkpoints, the checkpoint to
// resume from, and the sandbox.
func (c *Controller) agentManifest(w http.ResponseWriter, req *http.Request, r *Run, a Attempt) {
	if why := manifestWithheld(r); why != "" {
		// Gone, as an ended attempt's route is answered: the agent takes
		// it as final and exits before its workload starts, and the run's
		// drain or cancel goes on as it would have.
		agentErr(w, http.StatusGone, fmt.Sprintf("attempt %d of %s is not to start: %s; no manifest and no dataset key is sent to it", a.N, r.ID, why))
		return
	}
	// The agent's first contact is on record before it is given what
	// starts its workload: a site that says a job succeeded whose agent
	// was never heard is lost for it (monitor), and a heard that was only
	// logged as failed let a workload run whose contact the store never
	// kept, its success then taken for the site's lie. Its request was
	// recorded as every agent request is (heard); where the store did
	// not take that, the manifest asks it again, and answers 503 (the
	// server unavailable, which the agent waits out and asks again) where
	// it does not take it either. A contact on record is not written
	// twice.
	if req.Context().Value(heardFailedKey{}) != nil {
		if err := c.cfg.Store.Heard(req.Context(), r.ID, a.N); err != nil {
			c.cfg.Logger.Warn("agent manifest withheld: its contact is not recorded", "run", r.ID, "tenant", r.Tenant, "attempt", a.N, "err", err)
			w.Header().Set("Retry-After", "5")
			agentErr(w, http.StatusServiceUnavailable, fmt.Sprintf("attempt %d of %s: the server could not record the agent's contact now; try again", a.N, r.ID))
			return
		}
	}
	m, err := c.manifest(req.Context(), r, a)
	if errors.As(err, new(*unpinnedError)) || errors.As(err, new(*unpinnedResumeError)) {
		// The attempt's own record, and no detail of the server's: the
		// agent is told why, and gives up (a conflict no retry mends).
		c.cfg.Logger.Warn("agent manifest refused", "run", r.ID, "tenant", r.Tenant, "attempt", a.N, "err", err)
		agentErr(w, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		// A store the server cannot read now is the server unavailable,
		// which the agent waits out (and, past its patience, takes for the
		// site cut off); any other fault is this attempt's, which the
		// agent reports as its setup failing.
		code := http.StatusInternalServerError
		if errors.As(err, new(*storeReadError)) {
			code = http.StatusServiceUnavailable
		}
		c.agentFault(w, req, code, "the attempt's manifest", err)
		return
	}
	if manifestBuilt != nil {
		manifestBuilt(r)
	}
	// The run was read before the keys: a cancel or a law's drain written
	// while they were read would otherwise still let them go.
	why, err := c.manifestStillWithheld(req.Context(), r, a.N)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.As(err, new(*badRow)) {
			code = http.StatusInternalServerError
		}
		c.agentFault(w, req, code, "the attempt's manifest", err)
		return
	}
	if why != "" {
		agentErr(w, http.StatusGone, fmt.Sprintf("attempt %d of %s is not to start: %s; no manifest and no dataset key is sent to it", a.N, r.ID, why))
		return
	}
	writeAgentJSON(w, m)
}

// manifestBuilt, when set (by tests), runs between the manifest's build
// (its keys read) and the check that the run still wants it sent: a write
// to the run there is one that lands while the keys are read.
var manifestBuilt func(r *Run)

// manifestStillWithheld says why attempt n of run r, read before its
// manifest was built, is now given none ("" when it is still to have it):
// the run is read again only if its version moved (a cheap read of the
// version alone otherwise, once an attempt), and withheld as
// manifestWithheld says, or when the attempt is no longer the run's live
// one (the cancel carried out, the move done). An error reading the run
// is returned, and the manifest is not sent: it fails closed, and the
// agent asks again.
func (c *Controller) manifestStillWithheld(ctx context.Context, r *Run, n int) (string, error) {
	_, version, err := c.cfg.Store.RunVersionOf(ctx, r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "the run is no longer stored", nil
	}
	if err != nil {
		return "", err
	}
	if version == r.version {
		return "", nil
	}
	now, err := c.agentRun(ctx, r.ID, false)
	if errors.Is(err, ErrNotFound) {
		return "the run is no longer stored", nil
	}
	if err != nil {
		return "", err
	}
	if why := manifestWithheld(now); why != "" {
		return why, nil
	}
	if !attemptLive(now, n) {
		return fmt.Sprintf("the run is %s and its current attempt is %d", now.State, now.Attempt), nil
	}
	return "", nil
}

// manifestWithheld says why run r's current attempt is given no manifest
// ("" when it is given one): the run is to stop there, its cancel
// requested or a move off the site under way (stopWanted; the law's moves
// drain Queued runs too, leaveForLawOn). The credential still works, for
// its heartbeats, output and exit, while the attempt drains; but a job
// that starts in that window would otherwise be sent every dataset's key
// and unseal the data at a site the law may now forbid, only to be told
// to stop. An agent fetches its manifest once, before its workload starts
// (agent.Run), so a workload already running keeps the keys it has and
// writes its checkpoint with the run key it was given.
func manifestWithheld(r *Run) string {
	switch {
	case r.CancelRequested:
		return "the run's cancel was requested"
	case r.State == Migrating && r.Migration != nil && r.Migration.Rule != "":
		return fmt.Sprintf("the law (rule %s, revision %d) moves the run off %s", r.Migration.Rule, r.Migration.Revision, r.Migration.From)
	case r.State == Migrating:
		return "the run is moving off its site"
	}
	return ""
}

func (c *Controller) manifest(ctx context.Context, r *Run, a Attempt) (*agent.Manifest, error) {
	wld, job, err := c.worldJob(r)
	if err != nil {
		return nil, err
	}
	site := wld.Site(a.Site)
	if site == nil {
		return nil, fmt.Errorf("site %s is no longer in the catalog", a.Site)
	}
	stored, _, err := storedDatasets(wld, job)
	if err != nil {
		return nil, err
	}
	m := &agent.Manifest{Run: r.ID, Attempt: a.N, Site: a.Site, Tenant: r.Tenant,
		Command: job.Spec.Workload.Command, Env: job.Spec.Workload.Env,
		Store: c.SiteStore(site), DataPrefix: dataPrefix(r.Tenant), CheckpointPrefix: checkpointPrefix(r.Tenant),
		CheckpointName: checkpointPattern(r.ID, a), Heartbeat: c.cfg.Heartbeat, LogLimit: c.cfg.LogLimit,
		Lease: c.agentLease()}
	if ck := r.Checkpoint; ck != nil && ck.Site == a.Site && ck.Name != "" {
		// A checkpoint recorded without its digest (reported to a
		// server from before checkpoint digests), or with one that is
		// not a SHA-256 (its record edited by hand): the agent refuses
		// to resume from it (it restores only the checkpoint recorded,
		// by its digest), after it was sent the keys. Refused before any
		// key is read, as a dataset without its pin is.
		if _, perr := seal.ParseID(ck.SHA256); perr != nil {
			return nil, &unpinnedResumeError{run: r.ID, attempt: a.N, name: ck.Name, step: ck.Step, sum: ck.SHA256}
		}
		m.Resume = &agent.CheckpointRef{Step: ck.Step, Name: ck.Name, Path: ck.Path, Bytes: ck.Bytes, SHA256: ck.SHA256}
	}
	keys := c.keyrings()
	for _, name := range stored {
		k, err := keys.Get(r.Tenant, name)
		if errors.Is(err, dataset.ErrKeyLogUnread) {
			// Neither confirmed nor refused: the server unavailable a
			// moment, not the attempt's setup failing.
			return nil, &storeReadError{err}
		}
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", name, err)
		}
		// The key goes out only with the pin: without it the agent
		// (before it refused one) unsealed whatever genuine version the
		// site served under the name.
		pin := a.Manifests[name]
		if pin == "" {
			return nil, &unpinnedError{dataset: name, attempt: a.N}
		}
		m.Datasets = append(m.Datasets, agent.DatasetKey{Name: name, Key: k.String(), ManifestSHA256: pin})
	}
	rk, err := c.runKeys().GetOrCreate(r.ID)
	if err != nil {
		return nil, fmt.Errorf("run key: %w", err)
	}
	m.RunKey = rk.String()
	if m.Sandbox, err = c.agentSandbox(ctx, r.Tenant, site); err != nil {
		return nil, err
	}
	return m, nil
}

// unpinnedError refuses a manifest for an attempt that records no digest
// of the manifest staged for one of its stored datasets. Every staging
// records one (stageData); an attempt staged by a server from before
// manifest pins has none, and is failed closed rather than sent the key
// unpinned: its run is submitted again, which stages and pins it.
type unpinnedError struct {
	dataset string
	attempt int
}

func (e *unpinnedError) Error() string {
	return fmt.Sprintf("dataset %s: attempt %d records no SHA-256 of the manifest staged for it (it was staged by a server from before manifest pins): "+
		"its key is not sent without one, or the site could serve another version of the dataset; cancel the run and submit it again, which stages and pins it",
		e.dataset, e.attempt)
}

// unpinnedResumeError refuses a manifest for an attempt that is to resume
// from a checkpoint whose record holds no SHA-256 (64 lower-case hex
// digits): the agent restores only the checkpoint whose digest the server
// sends, and the site's store could otherwise serve another in its place.
type unpinnedResumeError struct {
	run     string
	attempt int
	name    string
	step    int64
	sum     string
}

func (e *unpinnedResumeError) Error() string {
	what := "which records no SHA-256"
	if e.sum != "" {
		what = fmt.Sprintf("whose SHA-256 %.80q is not one (want 64 lower-case hex digits)", e.sum)
	}
	return fmt.Sprintf("attempt %d of %s is to resume from checkpoint %q (step %d), %s: the agent restores only a checkpoint whose digest the server sends, or the site's store could serve another in its place; cancel the run and submit it again, which starts it without that checkpoint",
		e.attempt, e.run, e.name, e.step, what)
}

// agentSandbox is how the agent is to confine the tenant's workload at
// site. A Kubernetes site's scratch is the attempt's own emptyDir, mounted
// at its working directory for the pod alone (backend/kubernetes): the
// agent is told so (ScratchVolume), and takes that volume, root's and
// 0777, as the scratch even when the image's user is not root. No other
// backend mounts a volume per attempt, so none is told.
func (c *Controller) agentSandbox(ctx context.Context, tenant string, site *catalog.Site) (agent.Sandbox, error) {
	sb := agent.Sandbox{Mode: c.siteSandbox(site), ReadOnly: c.cfg.Sandbox.ReadOnly,
		ScratchVolume: site.Spec.Backend.Type == catalog.BackendKubernetes}
	if sb.Mode == agent.SandboxUID {
		uid, err := c.cfg.Store.TenantUID(ctx, tenant, c.cfg.Sandbox.UIDBase)
		if err != nil {
			return sb, &storeReadError{fmt.Errorf("the tenant's user id: %w", err)}
		}
		sb.UID, sb.GID = uid, uid
	}
	return sb, nil
}

// agentHeartbeat keeps the attempt's progress (saved at most once a second,
// and once more when its workload is finishing) and answers whether the
// agent should stop.
func (c *Controller) agentHeartbeat(w http.ResponseWriter, req *http.Request, r *Run, a Attempt) {
	var hb agent.Heartbeat
	if !decodeReport(w, req, &hb) {
		return
	}
	// Progress with a negative field is none the agent parses from its
	// workload's output (backend.ParseProgress): it is not kept.
	if p := hb.Progress; p != nil && p.Step >= 0 && p.Steps >= 0 && p.Loss >= 0 && p.TokensPerS >= 0 &&
		(r.Progress == nil || p.Step != r.Progress.Step) {
		now := c.cfg.Now()
		c.mu.Lock()
		m := c.memo(attemptKey(r.ID, a.N), time.Now())
		last := hb.Phase == "finishing" && !m.finishing
		due := now.Sub(m.savedAt) > time.Second || last
		if due {
			m.savedAt, m.finishing = now, m.finishing || last
		}
		c.mu.Unlock()
		if due {
			_, err := c.update(req.Context(), r.ID, func(r *Run, ch *store.Change) error {
				// As the credential was checked: the run may have
				// moved on since.
				if !attemptLive(r, a.N) {
					return store.ErrNoChange
				}
				r.Progress = &Progress{Step: p.Step, Steps: p.Steps, Loss: p.Loss, TokensPerS: p.TokensPerS}
				return nil
			})
			if err != nil {
				c.agentFault(w, req, http.StatusServiceUnavailable, "recording the heartbeat", err)
				return
			}
		}
	}
	writeAgentJSON(w, c.stopReplyOnRecord(req.Context(), r, a))
}

// stopReplyOnRecord is stopReply, but for a cancel that only the run's
// row says was asked (cancelOnRecord): the controller's step takes no
// cancel from a row changed outside Meridian unless the cancel is sealed
// (cancelChanged), while the agents' reports were told to stop by the
// row's flag alone, so a database writer could stop any workload.
func (c *Controller) stopReplyOnRecord(ctx context.Context, r *Run, a Attempt) agent.Reply {
	if r.CancelRequested && !c.cancelOnRecord(ctx, r) {
		kept := *r
		kept.CancelRequested = false
		return c.stopReply(&kept, a)
	}
	return c.stopReply(r, a)
}

// cancelOnRecord says whether r's cancel is Meridian's: its row is as
// Meridian wrote it (its placement the sealed one, as a step confirms
// it), or, where the row was changed outside Meridian, the run's sealed
// decision records hold the cancel. Where that cannot be read, the cancel
// is taken, as before: the agent is told to stop.
func (c *Controller) cancelOnRecord(ctx context.Context, r *Run) bool {
	err := c.runWitness.confirmSite(ctx, c.cfg.Store, r)
	if !errors.Is(err, ErrRunChanged) {
		return true
	}
	job, err := c.runWitness.sealedJobOf(ctx, c.cfg.Store, r)
	return err != nil || job.cancelled
}

// stopWanted says whether an attempt's agent should stop its workload: the
// run was cancelled, or must leave its site (the workload checkpoints on
// SIGTERM before it exits).
func stopWanted(r *Run) bool {
	return r.CancelRequested || r.State == Migrating && r.Migration != nil && r.Migration.Drain
}

// stopReply is the answer to a report of attempt a's agent: stop while
// stopWanted, and kill once the time the workload had to stop has passed:
// a move's drain deadline, or DrainGrace after this server first asked a
// cancelled run's agent to stop (a cancel records no deadline; a server
// that restarts counts afresh, later, never sooner). The site's scheduler
// kills a job that ignores SIGTERM when the server cancels it there, but a
// scheduler the server cannot reach does not, and the agent, told only to
// stop, sent SIGTERM again and again while the workload ran on.
func (c *Controller) stopReply(r *Run, a Attempt) agent.Reply {
	if !stopWanted(r) {
		return agent.Reply{}
	}
	now := time.Now() // elapsed time, on the machine's clock, as DrainBy
	var by time.Time
	if r.State == Migrating && r.Migration != nil && r.Migration.Drain && !r.Migration.DrainBy.IsZero() {
		by = r.Migration.DrainBy
	}
	if r.CancelRequested || by.IsZero() {
		c.mu.Lock()
		m := c.memo(attemptKey(r.ID, a.N), now)
		if m.stopAsked.IsZero() {
			m.stopAsked = now
		}
		if asked := m.stopAsked.Add(c.cfg.DrainGrace); by.IsZero() || asked.Before(by) {
			by = asked
		}
		c.mu.Unlock()
	}
	return agent.Reply{Stop: true, Kill: !now.Before(by)}
}

// agentCheckpoint records a checkpoint the agent sealed into the site's
// store. The name must be the run's own for that step, so an agent cannot
// point the run at another object.
func (c *Controller) agentCheckpoint(w http.ResponseWriter, req *http.Request, r *Run, a Attempt) {
	var ref agent.CheckpointRef
	if !decodeReport(w, req, &ref) {
		return
	}
	if ref.Step < 0 || ref.Name != fmt.Sprintf(checkpointPattern(r.ID, a), ref.Step) {
		// The report's text is quoted cut, as its digest is: the agent
		// writes the answer into the run's output, and a report of 64 KiB
		// of name was answered whole.
		agentErr(w, http.StatusBadRequest, fmt.Sprintf("checkpoint name %q is not this run's name for step %d", truncate(ref.Name, 80), ref.Step))
		return
	}
	if err := dataset.CheckPath(ref.Path); err != nil || strings.Contains(ref.Path, "/") {
		agentErr(w, http.StatusBadRequest, fmt.Sprintf("checkpoint path %q: want one file or directory name", truncate(ref.Path, 80)))
		return
	}
	// The digest and size go into the run record, its events and the audit
	// record of a move, and the digest is what the next attempt's agent
	// checks the sealed checkpoint against: only a real digest and a
	// possible size are kept.
	// A SHA-256 in hex has a chunk id's form (32 bytes, lower-case hex).
	if _, err := seal.ParseID(ref.SHA256); err != nil {
		agentErr(w, http.StatusBadRequest, fmt.Sprintf("checkpoint sha256 %q: want 64 lower-case hex digits", truncate(ref.SHA256, 80)))
		return
	}
	if ref.Bytes < 0 || ref.Bytes > agent.MaxCheckpointBytes {
		agentErr(w, http.StatusBadRequest, fmt.Sprintf("checkpoint bytes %d: want 0 to %d", ref.Bytes, agent.MaxCheckpointBytes))
		return
	}
	now, key := c.cfg.Now(), attemptKey(r.ID, a.N)
	listedAt, unlisted := c.lastListed(key)
	var changed, listed bool
	var ended string
	_, err := c.update(req.Context(), r.ID, func(r *Run, ch *store.Change) error {
		changed, listed, ended = false, false, ""
		// Checked again on the run as it is written: it may have moved
		// on (held, cancelled, moved) since its credential was checked,
		// and an attempt no longer live records nothing in it.
		if !attemptLive(r, a.N) {
			ended = string(r.State)
			return store.ErrNoChange
		}
		if r.Checkpoint != nil && r.Checkpoint.Site == a.Site && ref.Step <= r.Checkpoint.Step {
			return store.ErrNoChange
		}
		first := r.State == Queued || r.State == Running
		// The run's length is recorded with the checkpoint: what the
		// workload says of it later (a heartbeat's) does not change the
		// share of the job this checkpoint holds.
		var steps int64
		if r.Progress != nil {
			steps = r.Progress.Steps
		}
		r.setCheckpoint(&Checkpoint{Step: ref.Step, Name: ref.Name, Path: ref.Path, Site: a.Site, SHA256: ref.SHA256, Bytes: ref.Bytes, Steps: &steps})
		changed = true
		if listed = first || now.Sub(listedAt) >= checkpointListEvery; listed {
			why := fmt.Sprintf("checkpoint at step %d sealed into %s's store", ref.Step, a.Site)
			if unlisted > 0 {
				why += fmt.Sprintf(" (%d more since the last listed, not listed: at most one a minute is)", unlisted)
			}
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint", Reason: why})
		}
		if first {
			if err := transition(ch, r, Checkpointed, fmt.Sprintf("first checkpoint of attempt %d (step %d)", r.Attempt, ref.Step)); err != nil {
				return err
			}
			recovered(ch, r, c.cfg.Now())
		}
		return nil
	})
	if err != nil {
		c.agentFault(w, req, http.StatusServiceUnavailable, "recording the checkpoint", err)
		return
	}
	if ended != "" {
		agentErr(w, http.StatusGone, endedMessage(a.N, r.ID, ended))
		return
	}
	if changed {
		c.noteListing(key, now, listed)
	}
	writeAgentJSON(w, c.stopReplyOnRecord(req.Context(), r, a))
}

// checkpointListEvery bounds how often a run's timeline lists the
// checkpoints of an attempt: a workload that writes one every second would
// otherwise add 86,400 events a day to its run, each a row to store and to
// send to every reader of the timeline. The run's record always holds the
// newest checkpoint; the next one listed says how many were not. An
// attempt's first checkpoint is always listed.
const checkpointListEvery = time.Minute

// lastListed is when the timeline last listed a checkpoint of attempt
// key (zero: never, here), and how many it recorded since without listing.
func (c *Controller) lastListed(key string) (time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.agents[key]; m != nil {
		return m.listedAt, m.unlisted
	}
	return time.Time{}, 0
}

// noteListing records that a checkpoint of attempt key was recorded at
// now, listed in the timeline or not.
func (c *Controller) noteListing(key string, now time.Time, listed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.memo(key, time.Now())
	if listed {
		m.listedAt, m.unlisted = now, 0
	} else {
		m.unlisted++
	}
}

// maxAgentQueryParams bounds the parameters of an agent's request's
// query, as the API's are (the logs route takes one).
const maxAgentQueryParams = 64

// agentQueryInvalid says why the query of an agent's request would be
// misread ("" when it would not): one that does not parse, that gives
// a parameter twice, or that gives one the route does not take (not one of
// params), which was ignored without a word. Read with url.Values.Get,
// `offset` given twice was taken from its first, where a proxy in front
// may have read the last, and a pair after a ';' was dropped without a
// word. Its refusal names the parameter, quoted and cut to 64 bytes.
func agentQueryInvalid(raw string, params []string) string {
	if raw == "" {
		return ""
	}
	if n := strings.Count(raw, "&") + 1; n > maxAgentQueryParams {
		return fmt.Sprintf("query: %d parameters, more than the %d a request may have", n, maxAgentQueryParams)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "query: it does not parse: separate parameters with '&' and escape the rest"
	}
	var unknown []string
	names := make([]string, 0, len(q))
	for k, v := range q {
		if !slices.Contains(params, k) {
			unknown = append(unknown, k)
		} else if len(v) > 1 {
			names = append(names, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		takes := "no query parameters"
		if len(params) > 0 {
			takes = "only " + strings.Join(params, ", ")
		}
		return fmt.Sprintf("query parameter %q: unknown, this route takes %s", truncate(unknown[0], 64), takes)
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return fmt.Sprintf("query parameter %q given %d times: give it once", truncate(names[0], 64), len(q[names[0]]))
}

// agentLogs appends the agent's output from offset on, keeping at most
// LogLimit bytes per attempt and TenantLogLimit across a tenant's
// attempts. A repeated post appends nothing twice.
func (c *Controller) agentLogs(w http.ResponseWriter, req *http.Request, r *Run, a Attempt) {
	off, err := strconv.ParseInt(req.URL.Query().Get("offset"), 10, 64)
	if err != nil || off < 0 {
		agentErr(w, http.StatusBadRequest, "offset: want a byte offset of 0 or more")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxLogPost))
	if err != nil {
		agentErr(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	path := c.logPath(r.ID, a.N)
	// Made durable, as the file's bytes are before they are acknowledged.
	// No lock of the server's is held here or below: one attempt's posts
	// wait only for each other (the file lock), never another attempt's.
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
		return
	}
	defer f.Close()
	// The tenant's count is had before the file lock is taken: its first
	// count may take up to outputCountWait, and the lock held through it
	// would hold this attempt's other posts as long.
	var t *tenantOutput // nil: no bound on the tenant's output
	var hold *outputHold
	if c.cfg.TenantLogLimit > 0 {
		if t, hold, err = c.heldTenantOutputs(req.Context(), r.Tenant); err != nil {
			c.outputBusy(w, req, a, err)
			return
		}
		// Held until this post is answered: a recount of the tenant
		// counts its files once this post's bytes are in them, or cut,
		// or counts the bytes it took besides them (waitPosts).
		defer hold.release()
	}
	// Two posts of one attempt's output may come at once (an agent's
	// retry while its first post is still kept, reaching this server or
	// another sharing the state directory): the file lock makes their
	// check-and-append one step. The one that waits does so for a bounded
	// time (the other holds the lock through its sync), then is told to
	// come back.
	if err := lockLog(req.Context(), f); err != nil {
		if errors.Is(err, errLogBusy) {
			logBusy(w, a, "another post of it is being kept")
			return
		}
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
		return
	}
	fi, err := f.Stat()
	if err != nil {
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
		return
	}
	have := fi.Size()
	// Every byte the file holds is on disk, and recorded as such, before
	// this post adds to it (outputFloor): a failure of this post cuts the
	// file back to have, never below, whatever its offset. Where they
	// could not be made so, bytes a post cut off before its sync left are
	// cut, down to the floor of what was acknowledged.
	if keep, err := c.outputFloor(req.Context(), f, path, r, a, fi, off); err != nil {
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", takeBack(f, path, have, keep, 0, t, err))
		return
	}
	// cut: this post is past the tenant's bound; marked: the attempt's
	// cut is marked on disk already (read only past the file's end).
	cut, marked := false, false
	// wrote is what this post appended: taken back if it cannot be kept.
	var wrote int64
	switch {
	case off > have:
		// Past a cut for the tenant's limit the agent's offsets run on
		// past what was kept: answered as a post past LogLimit is. The
		// cut's mark says so whatever this server's count now says (a
		// server sharing the state directory, a restart with a higher
		// limit, output removed since): a 409 here made the agent drop
		// the rest of the attempt's output.
		marked, err = cutMarked(path)
		if err != nil {
			c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
			return
		}
		if !marked && !t.full(c.cfg.TenantLogLimit) {
			agentErr(w, http.StatusConflict, fmt.Sprintf("offset %d is past the %d bytes kept", off, have))
			return
		}
		// Told again (once an attempt on each server, noteOutputCut)
		// even where the mark is there: a crash between the mark and the
		// event, or an event whose write failed, would otherwise leave
		// the cut untold for good.
		cut = t != nil
	case off+int64(len(data)) > have:
		data = data[have-off:]
		if room := c.cfg.LogLimit - have; int64(len(data)) > room {
			data = data[:max(room, 0)]
		}
		if len(data) == 0 {
			break
		}
		got, err := c.takeOutput(req.Context(), r, t, int64(len(data)))
		if err != nil {
			logBusy(w, a, errMakingRoom.Error())
			return
		}
		if !hold.take(got) {
			// A recount stopped waiting for this post, and counted
			// what it had taken then: bytes written now it would miss.
			t.give(got)
			logBusy(w, a, "its tenant's output is being counted")
			return
		}
		if outputTaken != nil {
			outputTaken(r)
		}
		if got < int64(len(data)) {
			data, cut = data[:got], true
		}
		wrote = int64(len(data))
		if _, err := f.Write(data); err != nil {
			c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", takeBack(f, path, have, have, wrote, t, err))
			return
		}
	}
	// What is acknowledged is on disk: the agent drops the bytes it was
	// told were kept, and a power loss that took them back left the file
	// shorter than the agent's next offset, refused (409) at every post
	// after, and the rest of the attempt's output lost.
	if err := syncLog(f); err != nil {
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", takeBack(f, path, have, have, wrote, t, err))
		return
	}
	// And recorded as on disk, before it is acknowledged: the floor no
	// later failure cuts below (outputFloor), on this server or another.
	if err := c.recordOutputSynced(f, path, r, a, fi, have, have+wrote); err != nil {
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
		return
	}
	// The cut is marked on disk before it is acknowledged: the agent's
	// offsets run on past the file from this answer on.
	if cut && !marked {
		if err := markCut(path); err != nil {
			c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
			return
		}
	}
	if err := syncLogEntry(path, have); err != nil {
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
		return
	}
	// The file lock is let go before the cut is recorded: the store's
	// write may wait, and the attempt's next post must not wait for it.
	if err := f.Close(); err != nil {
		c.agentFault(w, req, http.StatusInternalServerError, "keeping the output", err)
		return
	}
	if cut {
		c.noteOutputCut(req.Context(), r, a)
	}
	if have == 0 && r.State.Final() {
		// Output first kept for a run already ended (its agent's last
		// post, within logGrace): its output may be removed to make room.
		c.outputEnded(r, runEnd(r))
	}
	writeAgentJSON(w, c.stopReplyOnRecord(req.Context(), r, a))
}

// takeBack undoes a post's append of n bytes to f (at path, found
// holding have bytes) that could not be written or synced (err), cutting
// f back to keep bytes (outputFloor) before the post is answered 500,
// and returns the error to log. Left there, the agent's repeat of the
// post found its bytes in the file and wrote nothing, and its sync, after
// a failed one, may succeed without writing them (Linux reports a
// writeback error once, and marks the pages clean): the bytes were
// acknowledged and lost at the next eviction from the page cache or
// power loss, and the file short of the agent's offset refused every post
// after (409). Cut back, the repeat writes them again. The tenant's count
// is lowered by the n bytes this post took for them, unless the file was
// moved from path meanwhile (its output removed to make room, which
// lowered the count by what the moved file held): the count errs high,
// never low. Bytes found there and cut with them may be in the count (it
// was taken from the files, or a post here counted them) or not (another
// server wrote them): the tenant is counted again from its files at its
// next post (tenantOutput.recount). Left counted, a repeat that wrote them
// again counted them twice until a restart, and enough such repeats made
// the tenant full: its later attempts' output was cut for good.
func takeBack(f *os.File, path string, have, keep, n int64, t *tenantOutput, err error) error {
	fi, serr := f.Stat()
	if serr == nil && fi.Size() <= keep {
		return err
	}
	if terr := f.Truncate(keep); terr != nil {
		return errors.Join(err, fmt.Errorf("cutting the output back to the %d bytes that may be acknowledged: %w", keep, terr))
	}
	if t != nil && n > 0 && stillAt(f, path) {
		t.give(n)
	}
	if t != nil && keep < have {
		t.recount.Store(true)
	}
	return err
}

// stillAt says whether f is the file at path.
func stillAt(f *os.File, path string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	at, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, at)
}

// syncLogEntry makes the output file at path, which held have bytes when
// this post found it, durable in its directory before a post of it is
// acknowledged. One found empty (this post may have made it) has its
// directory synced; one found holding output may have been made by a post
// cut off between its write and this sync (killed, or answered 500 when
// the sync failed), whose repeat finds it there: synced once per process
// for each file (atomicfile.SyncEntry), so a post that adds to a file
// this process made durable costs no sync of the directory. Synced only
// when it was found empty, such a file was acknowledged and a power loss
// took it whole.
func syncLogEntry(path string, have int64) error {
	if have == 0 {
		// Not taken as known by the memo: a file made again where one was
		// removed (output removed to make room) may have its inode number.
		return atomicfile.SyncDir(filepath.Dir(path))
	}
	return atomicfile.SyncEntry(path)
}

// cutPath is the mark beside an attempt's output file (at logPath) that
// says its output was cut for its tenant's bound.
func cutPath(logPath string) string { return strings.TrimSuffix(logPath, ".log") + ".cut" }

// markCut writes the cut's mark beside the output file at logPath,
// atomically and durably.
func markCut(logPath string) error {
	if marked, err := cutMarked(logPath); err != nil || marked {
		return err
	}
	return atomicfile.WriteFile(cutPath(logPath), []byte("cut: the tenant's kept-output bound was reached\n"), 0o600)
}

// cutMarked says whether the output file at logPath was cut.
func cutMarked(logPath string) (bool, error) {
	_, err := os.Lstat(cutPath(logPath))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// outputBusy answers a post of attempt a's output whose tenant's count of
// output kept could not be had: 503, to be posted again.
func (c *Controller) outputBusy(w http.ResponseWriter, req *http.Request, a Attempt, err error) {
	if errors.Is(err, errLogBusy) {
		logBusy(w, a, "the output its tenant's runs keep is being counted")
		return
	}
	c.agentFault(w, req, http.StatusServiceUnavailable, "keeping the output", err)
}

// logBusy answers a post of attempt a's output that waited its bound for
// what, 503 with Retry-After: the agent posts it again.
func logBusy(w http.ResponseWriter, a Attempt, what string) {
	w.Header().Set("Retry-After", "1")
	agentErr(w, http.StatusServiceUnavailable, fmt.Sprintf("attempt %d's output: %s; try again", a.N, what))
}

// syncLog makes an attempt's output durable before it is acknowledged;
// tests stand in another.
var syncLog = (*os.File).Sync

// outputTaken, where tests set it, is called once a post of run r's
// output has taken its bytes from its tenant's count, before it writes
// them.
var outputTaken func(r *Run)

// logLockWait bounds how long a post of an attempt's output waits for
// another post of the same attempt's to be kept: that one holds the file
// lock through its sync, which a slow disk may hold up for long, and a
// wait without bound kept the request, its goroutine and its descriptor
// past the agent's own patience. Tests set it.
var logLockWait = 2 * time.Second

// logLockBusy, when set, is called each time a post finds its attempt's
// output file locked by another; tests set it.
var logLockBusy func()

// errLogBusy says another post held an attempt's output file past
// logLockWait, or past the request's end.
var errLogBusy = errors.New("the attempt's output file is locked by another post")

// lockLog takes the exclusive file lock on f, an attempt's output file,
// waiting for it at most logLockWait and no longer than ctx; it returns
// errLogBusy when the wait ran out. A blocking flock cannot be
// interrupted: the lock is tried without blocking, and tried again after
// a short pause.
func lockLog(ctx context.Context, f *os.File) error {
	deadline := time.NewTimer(logLockWait)
	defer deadline.Stop()
	pause := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		if logLockBusy != nil {
			logLockBusy()
		}
		select {
		case <-ctx.Done():
			return errLogBusy
		case <-deadline.C:
			return errLogBusy
		case <-time.After(pause):
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// agentExit records the workload's exit code as the agent saw it; the
// attempt's state still comes from the site's scheduler. The exit of a
// workload its agent stopped for the lease (Fenced), or one whose
// processes the agent could not end (Lost), is told, but not recorded as
// the workload's own end: the run moves on from that site. Such a report
// replaces a plain exit reported before it (exitTaken).
func (c *Controller) agentExit(w http.ResponseWriter, req *http.Request, r *Run, a Attempt) {
	var ex agent.Exit
	if !decodeReport(w, req, &ex) {
		return
	}
	recorded, ended := false, ""
	_, err := c.update(req.Context(), r.ID, func(r *Run, ch *store.Change) error {
		recorded, ended = false, ""
		// Checked again on the run as it is written, as its credential
		// was: an attempt the run has moved past since (or one ended for
		// longer than logGrace) records nothing in it.
		if !attemptLive(r, a.N) && !c.lastWords(r, a.N) {
			ended = string(r.State)
			return store.ErrNoChange
		}
		for i := range r.Attempts {
			if r.Attempts[i].N != a.N || !exitTaken(r.Attempts[i], ex, attemptLive(r, a.N)) {
				continue
			}
			ch.Events = append(ch.Events, store.Event{Kind: "agent-exit", Reason: recordExit(&r.Attempts[i], ex)})
			recorded = true
			return nil
		}
		return store.ErrNoChange
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		c.agentFault(w, req, http.StatusServiceUnavailable, "recording the exit", err)
		return
	}
	if ended != "" {
		agentErr(w, http.StatusGone, endedMessage(a.N, r.ID, ended))
		return
	}
	// Only an exit recorded wakes the loop, which then steps every active
	// run: a report repeated (a retry, or a credential's holder posting
	// it over and over) would otherwise keep it stepping them back to back.
	if recorded {
		c.Nudge()
	}
	writeAgentJSON(w, agent.Reply{})
}

// exitTaken says whether exit report ex is recorded in attempt at: the
// first report is, and no report after a stop for the lease or a loss
// (Fenced) is. A report of either that comes after a plain exit, while the
// attempt is live, is taken too, over it: a plain exit whose code is the
// agent's own (ExitLost, ExitLease) would otherwise stand as the
// workload's end, and the site's scheduler's failure with that code be
// read as the run's failure, not the site's loss. The holder of the
// attempt's credential could post one before the agent's report of
// processes it could not end, and have the run fail and its pool freed
// while they still held it.
func exitTaken(at Attempt, ex agent.Exit, live bool) bool {
	if at.Fenced {
		return false
	}
	return at.Exit == nil || live && (ex.Fenced || ex.Lost)
}

// recordExit records exit report ex in attempt at and returns the
// timeline's reason for it.
func recordExit(at *Attempt, ex agent.Exit) string {
	code := ex.Code
	reason := fmt.Sprintf("attempt %d's workload exited with code %d", at.N, code)
	switch {
	case ex.Fenced:
		reason = fmt.Sprintf("attempt %d's agent stopped its workload (exit code %d): it had no answer from the server for its lease", at.N, code)
	case ex.Lost:
		reason = fmt.Sprintf("attempt %d's workload exited with code %d, but its agent could not end every process it started: the attempt did not end", at.N, code)
	}
	if at.Exit != nil {
		// Only a stop or a loss comes after a plain exit (exitTaken).
		reason += fmt.Sprintf(" (this replaces the exit code %d reported before, no longer taken as the workload's end)", *at.Exit)
	}
	if ex.Fenced || ex.Lost {
		at.Fenced, at.Exit = true, nil
	} else {
		at.Exit = &code
	}
	if ex.Detail != "" {
		reason += ": " + truncate(ex.Detail, 500)
	}
	return reason
}

// truncate cuts s to at most n bytes, at a character's start.
func truncate(s string, n int) string {
	if p := textfit.Prefix(s, n); len(p) < len(s) {
		return p + "…"
	}
	return s
}
