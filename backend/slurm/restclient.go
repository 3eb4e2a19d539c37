package slurm

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"meridian.dev/meridian/internal/textsafe"
)

// apiVersion is the slurmrestd API this backend speaks: openapi/v0.0.38,
// which Slurm 22.05 serves (with v0.0.36 and v0.0.37).
const apiVersion = "v0.0.38"

// Bounds on what one answer of slurmrestd may cost.
const (
	// maxBody bounds the body of an answer about one thing (a job, a
	// partition, a submit); a job is about 4 KB of JSON.
	maxBody = 8 << 20
	// maxListBody bounds the body of a list (all jobs, all nodes). Lists are
	// decoded one element at a time, each element (and each other field of
	// the answer) bounded by maxBody, so memory stays small whatever the
	// size.
	maxListBody = 1 << 30
	// maxErrorBody bounds what is read of an error answer.
	maxErrorBody = 64 << 10
	// maxErrorBodyText bounds what a restError keeps of an error answer
	// that is not Slurm's JSON.
	maxErrorBodyText = 200
	// maxTokenFile bounds the token file; a JWT is well under 8 KiB.
	maxTokenFile = 64 << 10
)

// ErrAuth is returned (wrapped) when slurmrestd refuses the credentials: the
// token (restURL https) or the connecting user (restURL unix).
var ErrAuth = errors.New("slurmrestd refused the credentials")

// restClient talks to one slurmrestd.
type restClient struct {
	restURL string   // as configured, for messages
	base    *url.URL // where requests go: the https URL, or http://slurmrestd over the socket
	hc      *http.Client
	token   *tokenFile // nil over a unix socket
	user    string
	// timeout bounds each request, retries bounds extra tries of a GET or
	// DELETE that failed on the way (never a POST: a submit whose answer
	// was lost may have gone through).
	timeout time.Duration
	retries int
	backoff time.Duration
	// peerUID is the uid of the process at the other end of the unix
	// socket (SO_PEERCRED), as last dialled; -1 until then, and over
	// https. With rest_auth/local, jobs run as that user.
	peerUID atomic.Int64
}

func newRESTClient(restURL, tokenPath, user string, wrap func(http.RoundTripper) http.RoundTripper) (*restClient, error) {
	u, err := url.Parse(restURL)
	if err != nil {
		return nil, fmt.Errorf("backend.restURL: %q is not a URL: %v", restURL, err)
	}
	c := &restClient{restURL: restURL, user: user, timeout: 30 * time.Second, retries: 2, backoff: 100 * time.Millisecond}
	c.peerUID.Store(-1)
	tr := &http.Transport{
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  30 * time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConnsPerHost:    8,
		MaxResponseHeaderBytes: 64 << 10,
	}
	switch u.Scheme {
	case "unix":
		sock := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", sock)
			if err != nil {
				return nil, err
			}
			uid, err := peerUID(conn)
			if err != nil {
				conn.Close()
				return nil, fmt.Errorf("backend.restURL %s: cannot tell which user slurmrestd runs as: %w", restURL, err)
			}
			c.peerUID.Store(uid)
			return conn, nil
		}
		c.base = &url.URL{Scheme: "http", Host: "slurmrestd"}
	case "https", "http":
		tr.Proxy = http.ProxyFromEnvironment
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.ForceAttemptHTTP2 = true
		c.base = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}
		path, err := expandHome(tokenPath)
		if err != nil {
			return nil, fmt.Errorf("backend.tokenFile %s: %w", tokenPath, err)
		}
		c.token = &tokenFile{path: path, configured: tokenPath}
	default:
		return nil, fmt.Errorf("backend.restURL: scheme %q: want unix:// or https://", u.Scheme)
	}
	var rt http.RoundTripper = tr
	if wrap != nil {
		rt = wrap(tr)
	}
	// Redirects are not followed: a redirect would carry the token to
	// wherever the answer points.
	c.hc = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

func expandHome(p string) (string, error) {
	if !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, p[2:]), nil
}

// tokenFile reads the JWT from its file, again whenever the file changes,
// and refuses a file that others may read.
type tokenFile struct {
	path, configured string

	mu    sync.Mutex
	stamp string // size, mtime and inode of the file the token came from
	token string
}

func (f *tokenFile) get() (string, error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("backend.tokenFile %s: %s", f.configured, fmt.Sprintf(format, args...))
	}
	// One open, and every check and the read on what it opened: checked
	// with one call and read with another, the file could be replaced
	// between the two (by a file others may read, or one with no end).
	// A link is followed (a Kubernetes secret's files are links), the
	// checks then holding for the file it leads to; a FIFO does not block
	// the open, as it is refused once open.
	file, err := os.OpenFile(f.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fail("%v", errors.Unwrap(err))
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fail("%v", errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return fail("not a regular file")
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fail("mode %04o lets others read the token; make it readable by its owner only (chmod 600)", perm)
	}
	if fi.Size() > maxTokenFile {
		return fail("%d bytes; a token is a few KiB at most", fi.Size())
	}
	stamp := fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		stamp += fmt.Sprintf("/%d", st.Ino)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if stamp == f.stamp && f.token != "" {
		return f.token, nil
	}
	// Bounded: the file may grow after its size was read.
	data, err := io.ReadAll(io.LimitReader(file, maxTokenFile+1))
	if err != nil {
		return fail("%v", errors.Unwrap(err))
	}
	if len(data) > maxTokenFile {
		return fail("more than %d bytes; a token is a few KiB at most", maxTokenFile)
	}
	tok := strings.TrimSpace(string(data))
	// `scontrol token` prints SLURM_JWT=<token>; accept its output as is.
	tok = strings.TrimPrefix(tok, "SLURM_JWT=")
	if tok == "" {
		return fail("empty")
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return fail("holds a character that cannot be in a token (byte %d); want the token alone", i)
		}
	}
	f.stamp, f.token = stamp, tok
	return tok, nil
}

// jobUser says who the jobs submitted through slurmrestd run as, so that
// a job of another user is never taken for one of this backend's: over
// the unix socket (rest_auth/local) the user slurmrestd runs as, known once
// a request has dialled it; over https the user the requests name
// (backend.user), else the one the token names (its "sun" claim, which
// `scontrol token` writes). It fails when it cannot tell.
func (c *restClient) jobUser() (jobOwner, error) {
	if c.token == nil {
		uid := c.peerUID.Load()
		if uid < 0 {
			return jobOwner{}, fmt.Errorf("backend.restURL %s: the user slurmrestd runs as is not known (no connection made yet, or a system where a unix socket's peer cannot be read)", c.restURL)
		}
		// With rest_auth/local slurmrestd takes connections from the user
		// it runs as, and jobs run as that user; one started by root
		// (socket activation, become_user) runs them as the connecting
		// user, this process's. Either is this backend's.
		return jobOwner{uid: uid, alsoUID: int64(os.Geteuid())}, nil
	}
	if c.user != "" {
		return jobOwner{uid: -1, name: c.user}, nil
	}
	tok, err := c.token.get()
	if err != nil {
		return jobOwner{}, err
	}
	if name := tokenUser(tok); name != "" {
		return jobOwner{uid: -1, name: name}, nil
	}
	return jobOwner{}, fmt.Errorf("backend.tokenFile %s: the token names no user (no \"sun\" claim); set backend.user to the user it authenticates", c.token.configured)
}

// jobOwner is a user by uid (uid >= 0, or alsoUID when set) or by name.
type jobOwner struct {
	uid, alsoUID int64
	name         string
}

// owns says whether a job of the given uid (nil: not given) and user name
// is this user's.
func (o jobOwner) owns(uid *int64, name string) bool {
	if o.uid >= 0 {
		return uid != nil && (*uid == o.uid || o.alsoUID > 0 && *uid == o.alsoUID)
	}
	return name != "" && name == o.name
}

// tokenUser is the user name a Slurm JWT names (its "sun" claim), or "".
// The token is not verified here: slurmrestd does that; this only tells
// whose jobs the token's requests make.
func tokenUser(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	data, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Sun string `json:"sun"`
	}
	if json.Unmarshal(data, &claims) != nil {
		return ""
	}
	return claims.Sun
}

// current returns the token last read, or "".
func (f *tokenFile) current() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token
}

// apiError is one entry of the errors list of a slurmrestd answer. Its
// number is in error_number, error_code or errno depending on the endpoint.
type apiError struct {
	Error       string `json:"error"`
	Description string `json:"description"`
	Number      int    `json:"error_number"`
	Code        int    `json:"error_code"`
	Errno       int    `json:"errno"`
	Source      string `json:"source"`
}

func (e apiError) num() int {
	switch {
	case e.Number != 0:
		return e.Number
	case e.Code != 0:
		return e.Code
	}
	return e.Errno
}

func (e apiError) String() string {
	s := e.Error
	if e.Description != "" && e.Description != e.Error {
		s += " (" + e.Description + ")"
	}
	if n := e.num(); n != 0 {
		s += fmt.Sprintf(" [%d]", n)
	}
	return s
}

// Slurm error numbers (slurm/slurm_errno.h) that this backend acts on.
const (
	errProtocolAuth        = 1007 // SLURM_PROTOCOL_AUTHENTICATION_ERROR
	errInvalidPartition    = 2000 // ESLURM_INVALID_PARTITION_NAME
	errAccessDenied        = 2002 // ESLURM_ACCESS_DENIED
	errUserIDMissing       = 2010 // ESLURM_USER_ID_MISSING
	errNodeConfigUnavail   = 2014 // ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE
	errInvalidJobID        = 2017 // ESLURM_INVALID_JOB_ID
	errAlreadyDone         = 2021 // ESLURM_ALREADY_DONE
	errPartitionNotAvail   = 2070 // ESLURM_PARTITION_NOT_AVAIL
	errInvalidGres         = 2072 // ESLURM_INVALID_GRES
	errPartitionDown       = 2101 // ESLURM_PARTITION_DOWN
	errAuthFirst           = 6000 // ESLURM_AUTH_CRED_INVALID …
	errAuthLast            = 6099 // … the slurm_auth errors
	errInvalidGresType     = 2119 // ESLURM_INVALID_GRES_TYPE
	errUnsupportedGres     = 2122 // ESLURM_UNSUPPORTED_GRES
	errInsufficientGres    = 2134 // ESLURM_INSUFFICIENT_GRES
	errSubmissionsDisabled = 2105 // ESLURM_SUBMISSIONS_DISABLED
)

// restError is an answer of slurmrestd that is not a success: an HTTP
// status other than 200, or errors in the body.
type restError struct {
	method, path string
	status       int
	// errs is the start of the answer's errors list, at most
	// maxListedErrors entries, their words cut to what Error can say; more
	// is how many entries followed. An answer may list a hundred thousand
	// errors in its maxBody, and this error is kept as long as a run's
	// reason or a poll's failure is: it keeps no more than it says.
	errs []apiError
	more int
	// nums are the distinct error numbers of the whole list, in the order
	// met, at most maxErrorNums; numsOver says there were more.
	nums     []int
	numsOver bool
	text     string // the start of a body that is not Slurm's JSON, as sent (Error escapes it)
}

// Bounds on what a restError keeps of an answer's errors list.
const (
	maxListedErrors = 16
	maxErrorNums    = 64
)

// newRESTError is the error of an answer that lists errs.
func newRESTError(method, path string, status int, errs []apiError, redact func(string) string) *restError {
	var l errorList
	for _, a := range errs {
		l.add(a)
	}
	return l.restError(method, path, status, redact)
}

// errorList is an answer's errors list as read: its first
// maxListedErrors entries as sent, how many there were, and their
// distinct numbers in the order met (at most maxErrorNums; numsOver says
// there were more). It is read one entry at a time, keeping no more than
// that: an answer's maxBody of errors, decoded whole, was millions of
// entries and hundreds of megabytes.
type errorList struct {
	first    []apiError
	n        int
	nums     []int
	numsOver bool
}

func (l *errorList) add(a apiError) {
	if len(l.first) < maxListedErrors {
		l.first = append(l.first, a)
	}
	l.n++
	n := a.num()
	switch {
	case slices.Contains(l.nums, n):
	case len(l.nums) >= maxErrorNums:
		l.numsOver = true
	default:
		l.nums = append(l.nums, n)
	}
}

func (l *errorList) UnmarshalJSON(data []byte) error {
	return l.read(json.NewDecoder(bytes.NewReader(data)))
}

// read reads the list (or null) from dec.
func (l *errorList) read(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("errors: want a list, got %v", tok)
	}
	// Entries past the first few are read for their numbers alone:
	// their words are skipped, not kept.
	var nums struct {
		Number int `json:"error_number"`
		Code   int `json:"error_code"`
		Errno  int `json:"errno"`
	}
	var a apiError // one for all: declared in the loop, it escaped, one allocation an entry
	for dec.More() {
		a = apiError{}
		if len(l.first) < maxListedErrors {
			if err := dec.Decode(&a); err != nil {
				return fmt.Errorf("errors: %w", err)
			}
		} else {
			nums.Number, nums.Code, nums.Errno = 0, 0, 0
			if err := dec.Decode(&nums); err != nil {
				return fmt.Errorf("errors: %w", err)
			}
			a = apiError{Number: nums.Number, Code: nums.Code, Errno: nums.Errno}
		}
		l.add(a)
	}
	_, err = dec.Token()
	return err
}

// restError is the error of an answer that lists l. redact, if not nil,
// is applied to the words kept, before they are cut, so that no part of
// what it removes survives the cut.
func (l *errorList) restError(method, path string, status int, redact func(string) string) *restError {
	re := &restError{method: method, path: path, status: status, nums: slices.Clone(l.nums), numsOver: l.numsOver}
	if redact == nil {
		redact = func(s string) string { return s }
	}
	keep := func(s string) string { return strings.Clone(cut(redact(s))) }
	re.errs = make([]apiError, 0, len(l.first))
	for _, a := range l.first {
		re.errs = append(re.errs, apiError{Error: keep(a.Error), Description: keep(a.Description), Source: keep(a.Source), Number: a.Number, Code: a.Code, Errno: a.Errno})
	}
	re.more = l.n - len(re.errs)
	return re
}

func (e *restError) Error() string {
	// The site's words, which may run to megabytes in an answer of status
	// 200 (maxBody): this error is logged at every poll and may become a
	// run's reason, so no more of them is built than is said.
	var b strings.Builder
	for i, a := range e.errs {
		if b.Len() > maxErrorText {
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		a = apiError{Error: shownText(a.Error), Description: shownText(a.Description), Number: a.Number, Code: a.Code, Errno: a.Errno}
		b.WriteString(a.String())
	}
	if len(e.errs) == 0 {
		b.WriteString(textsafe.Escape(e.text))
	}
	msg := b.String()
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	if len(msg) > maxErrorText {
		msg = strings.ToValidUTF8(msg[:maxErrorText], "") + "…"
	}
	if e.more > 0 {
		msg += fmt.Sprintf(" (and %d more errors)", e.more)
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.path, e.status, msg)
}

// cut returns s, or its first maxErrorText+1 bytes, enough for
// restError.Error to see that it says more than it repeats.
func cut(s string) string {
	if len(s) > maxErrorText {
		return s[:maxErrorText+1]
	}
	return s
}

// shownText is what restError.Error says of the site's words s: their
// start (cut), each character textsafe flags (a terminal escape, a line
// break, a bidirectional override, a byte that is not UTF-8) escaped, as
// every other place that shows a site's text writes it.
func shownText(s string) string { return textsafe.Escape(cut(s)) }

// maxErrorText bounds what a restError says of slurmrestd's answer.
const maxErrorText = 2 << 10

// has reports whether slurmrestd answered with one of the Slurm errors nums.
func (e *restError) has(nums ...int) bool {
	for _, n := range nums {
		if slices.Contains(e.nums, n) {
			return true
		}
	}
	return false
}

// refusalsOnly reports whether every error listed is one of the given
// ranges [lo, hi) of numbers; false if the list was too varied to tell.
func (e *restError) refusalsOnly(ranges ...[2]int) bool {
	if len(e.nums) == 0 || e.numsOver {
		return false
	}
	for _, n := range e.nums {
		in := false
		for _, r := range ranges {
			in = in || n >= r[0] && n < r[1]
		}
		if !in {
			return false
		}
	}
	return true
}

func (e *restError) auth() bool {
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden {
		return true
	}
	for _, n := range e.nums {
		if n == errProtocolAuth || n == errAccessDenied || n == errUserIDMissing || n >= errAuthFirst && n <= errAuthLast {
			return true
		}
	}
	return false
}

func asRESTError(err error) (*restError, bool) {
	var re *restError
	ok := errors.As(err, &re)
	return re, ok
}

// hasSlurmError reports whether err is an answer carrying one of nums.
func hasSlurmError(err error, nums ...int) bool {
	re, ok := asRESTError(err)
	return ok && re.has(nums...)
}

// request sends one request and hands a successful answer's body, bounded
// by limit, to read. body is JSON to send (nil for none). GET and DELETE
// are tried again after a failure on the way or a 502/503/504, at most
// c.retries times; each try has its own c.timeout.
func (c *restClient) request(ctx context.Context, method, path string, body []byte, limit int64, read func(io.Reader) error) error {
	idempotent := method == http.MethodGet || method == http.MethodDelete
	var err error
	for try := 0; ; try++ {
		var retry bool
		retry, err = c.once(ctx, method, path, body, limit, read)
		if err == nil || !retry || !idempotent || try >= c.retries || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
			return c.wrap(err)
		case <-time.After(c.backoff << try):
		}
	}
	return c.wrap(err)
}

// wrap names the setting to look at in an error that is about the
// connection or the credentials.
func (c *restClient) wrap(err error) error {
	if err == nil {
		return nil
	}
	if re, ok := asRESTError(err); ok {
		if !re.auth() {
			return err
		}
		if c.token != nil {
			return fmt.Errorf("backend.tokenFile %s: slurmrestd at %s (backend.restURL) refused the token: %w; %w (write a fresh token from `scontrol token` there, and set backend.user if the token does not name its user)",
				c.token.configured, c.restURL, err, ErrAuth)
		}
		return fmt.Errorf("backend.restURL %s: slurmrestd refused this process's user: %w; %w (over a unix socket slurmrestd must run with -a rest_auth/local)",
			c.restURL, err, ErrAuth)
	}
	return err
}

// once sends one try; retry says whether another try may help.
func (c *restClient) once(ctx context.Context, method, path string, body []byte, limit int64, read func(io.Reader) error) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path = c.base.Path + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return false, notSentError{fmt.Errorf("%s %s: %w", method, path, err)}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != nil {
		tok, err := c.token.get()
		if err != nil {
			return false, notSentError{err}
		}
		req.Header.Set("X-SLURM-USER-TOKEN", tok)
		if c.user != "" {
			req.Header.Set("X-SLURM-USER-NAME", c.user)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error names the URL, never the headers, so no token leaks.
		err = fmt.Errorf("backend.restURL %s: %s %s: %w", c.restURL, method, path, unwrapURLError(err))
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			// No connection was made: nothing of the request left.
			err = notSentError{err}
		}
		return true, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		var env envelope
		var re *restError
		if json.Unmarshal(data, &env) == nil && env.Errors.n > 0 {
			re = c.restError(method, path, resp.StatusCode, &env.Errors)
		} else {
			// The token removed before the cut, so that no part of it
			// survives; the text is escaped when it is said.
			text := strings.TrimSpace(c.redact(string(data)))
			if len(text) > maxErrorBodyText {
				text = text[:maxErrorBodyText]
			}
			re = &restError{method: method, path: path, status: resp.StatusCode, text: strings.Clone(text)}
		}
		retry := resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout
		return retry, re
	}
	lr := &limitedReader{r: resp.Body, left: limit}
	if err := read(lr); err != nil {
		_, listed := asRESTError(err)
		if lr.over {
			return false, fmt.Errorf("%s %s: answer larger than %d bytes", method, path, limit)
		}
		if ctx.Err() != nil {
			return true, fmt.Errorf("backend.restURL %s: %s %s: %w", c.restURL, method, path, ctx.Err())
		}
		if listed {
			return false, err // it names the method and path itself
		}
		return false, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return false, nil
}

// redact removes the token from what an error repeats of slurmrestd's
// answer: never repeat the token, even where a server echoes it, in an
// answer of any status.
func (c *restClient) redact(s string) string {
	if c.token == nil {
		return s
	}
	tok := c.token.current()
	if tok == "" {
		return s
	}
	return strings.ReplaceAll(s, tok, "[token]")
}

// restError is the error of an answer that lists l, the token removed
// from what it keeps.
func (c *restClient) restError(method, path string, status int, l *errorList) *restError {
	return l.restError(method, path, status, c.redact)
}

// notSentError is an error that stopped a request before any of it left
// this process (a token that could not be read, a connection that could
// not be made): the request cannot have had an effect.
type notSentError struct{ err error }

func (e notSentError) Error() string { return e.err.Error() }
func (e notSentError) Unwrap() error { return e.err }

// notSent says whether err stopped its request before any of it left.
func notSent(err error) bool {
	var ns notSentError
	return errors.As(err, &ns)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// limitedReader fails once more than left bytes are read, and says so.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.over = true
		return 0, errors.New("answer too large")
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// printable returns at most n bytes of b, trimmed, with each character
// textsafe flags (a control, a bidirectional override, a line separator)
// a space and each byte that is not UTF-8 U+FFFD.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.Map(func(r rune) rune {
		if textsafe.Unsafe(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(string(b)))
}

// envelope is what every answer carries besides its payload.
type envelope struct {
	Errors errorList `json:"errors"`
}

// call sends in (nil for no body) and decodes one answer of at most maxBody bytes into out; errors in
// the answer's body make an error even with HTTP 200.
func (c *restClient) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return notSentError{err}
		}
	}
	return c.request(ctx, method, path, body, maxBody, func(r io.Reader) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		var env envelope
		if err := json.Unmarshal(data, &env); err != nil {
			return fmt.Errorf("answer is not Slurm's JSON: %v", err)
		}
		if env.Errors.n > 0 {
			return c.restError(method, path, http.StatusOK, &env.Errors)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(data, out)
	})
}

// listOf streams the elements of the array under key in a GET answer to
// each, one at a time, so that a cluster with many jobs costs time, not
// memory. Each element is decoded straight from the answer into one value
// of T, zeroed before each (each must not keep it). Errors listed in the
// answer fail the call.
func listOf[T any](ctx context.Context, c *restClient, path, key string, each func(*T) error) error {
	v := new(T)
	return c.stream(ctx, path, key, maxListBody, func(dec *json.Decoder) error {
		var zero T
		*v = zero
		if err := dec.Decode(v); err != nil {
			return err
		}
		return each(v)
	})
}

// one is listOf for an answer about one thing (a job, a partition, the
// pings), of at most maxBody bytes, handing each element as sent. Such an
// answer is a list too, and decoded whole, a maxBody of empty elements
// cost a hundred times that.
func (c *restClient) one(ctx context.Context, path, key string, each func(json.RawMessage) error) error {
	return c.stream(ctx, path, key, maxBody, func(dec *json.Decoder) error {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		return each(raw)
	})
}

// stream hands the decoder, at each element of the array under key, to
// each, which reads that element and nothing more.
func (c *restClient) stream(ctx context.Context, path, key string, limit int64, each func(*json.Decoder) error) error {
	return c.request(ctx, http.MethodGet, path, nil, limit, func(r io.Reader) error {
		g := &gate{r: r}
		dec := json.NewDecoder(g)
		// Whatever the decoder holds at once (a key, an element, a field
		// skipped) is at most maxBody past what it has consumed.
		next := func() { g.limit = dec.InputOffset() + maxBody }
		err := func() error {
			next()
			if err := expectDelim(dec, '{'); err != nil {
				return err
			}
			for dec.More() {
				next()
				tok, err := dec.Token()
				if err != nil {
					return err
				}
				name, _ := tok.(string)
				next()
				switch name {
				case key:
					if err := expectDelim(dec, '['); err != nil {
						return err
					}
					for dec.More() {
						if err := each(dec); err != nil {
							return err
						}
						next()
					}
					if _, err := dec.Token(); err != nil {
						return err
					}
				case "errors":
					var errs errorList
					if err := errs.read(dec); err != nil {
						return err
					}
					if errs.n > 0 {
						return c.restError(http.MethodGet, path, http.StatusOK, &errs)
					}
				default:
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
				}
			}
			return nil
		}()
		if g.over {
			return fmt.Errorf("an element of the answer is larger than %d bytes", maxBody)
		}
		return err
	})
}

// gate lets a reader be read up to limit bytes from its start, a limit
// its user moves on as it consumes what it read.
type gate struct {
	r           io.Reader
	read, limit int64
	over        bool
}

func (g *gate) Read(p []byte) (int, error) {
	left := g.limit - g.read
	if left <= 0 {
		g.over = true
		return 0, errors.New("element too large")
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("answer is not Slurm's JSON: want %q, got %v", d, tok)
	}
	return nil
}
