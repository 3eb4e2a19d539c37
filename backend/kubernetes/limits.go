package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	sigsjson "sigs.k8s.io/json"
)

// Bounds on what the backend reads from the site's API server. The site is
// not trusted: a broken or hostile API server could answer a get, a list, a
// log or a watch with any number of bytes, and client-go reads a whole
// answer (or a whole watch event) into memory before decoding it. Every
// answer therefore passes through boundResponses (the transport of every
// request the backend makes), which refuses the bytes past its bound with a
// tooLargeError naming the request. The bounds count the bytes after
// the transport has undone any compression, so a compressed answer that
// would expand past them is refused too.
const (
	// maxObjectBytes bounds the answer to a request for one object (get,
	// create, patch, delete, an access review, /version) and one event of a
	// watch. The API server keeps no object over about 1.5 MiB (etcd's
	// default request limit) and takes no request body over 3 MiB; its JSON
	// may be somewhat larger than what etcd stores (byte fields become
	// base64), so 4 MiB holds any real object.
	maxObjectBytes = 4 << 20
	// maxWatchEventBytes bounds one event of a watch stream: an object
	// (maxObjectBytes) and the few bytes of its envelope
	// ({"type":...,"object":...}), rounded up. A watch lives for minutes and
	// carries any number of events, so its stream as a whole is not
	// bounded, each event is.
	maxWatchEventBytes = 5 << 20
	// listPageSize is how many objects one page of a list asks for
	// (client-go's pager asks for 500; smaller pages keep each answer a
	// fraction of maxListPageBytes).
	listPageSize = 250
	// maxListPageBytes bounds one page of a list: listPageSize objects of up
	// to 64 KiB each. A Node with its status (images, conditions) and
	// managedFields is typically 10–40 KiB and a Pod 5–20 KiB, so a real
	// page is a few MiB; a single page of listPageSize objects each near
	// maxObjectBytes would be no real cluster's.
	maxListPageBytes = 16 << 20
	// maxListPages bounds the pages of one list, and with listPageSize the
	// objects it returns (50,000): more than the nodes a site may select for
	// capacity (maxCapacityNodes) or the Jobs, Pods and Secrets Meridian
	// keeps in one namespace. It also ends a list whose API server answers
	// each page with another continue token.
	maxListPages = 200
	// maxCachedObjects bounds the objects each of the backend's watch
	// caches (Jobs, Pods, Nodes) holds: what maxListPages pages list.
	maxCachedObjects = maxListPages * listPageSize
	// maxPodLogBytes is how much of one Pod's log the backend reads: the
	// limitBytes it asks of the API server, which is also the run
	// controller's default bound on the output it keeps of an attempt.
	maxPodLogBytes = 16 << 20
	// podLogSlack is what the API server may send past limitBytes (its
	// documentation says the answer "may return slightly more"; the kubelet
	// cuts at a line's end); an answer longer than maxPodLogBytes plus this
	// is refused.
	podLogSlack = 1 << 20
)

// answerWait bounds how long the backend's watch caches wait on the API
// server: for a watch to start (the API server sends a watch's header at
// once, before any event) and for each page of a list. The API server ends
// a request it has not answered within its own request timeout (60 s by
// default); one that neither answers nor ends it (a stuck server, a
// connection gone dead) would otherwise leave a cache waiting for ever,
// reporting what it last held as if the site were quiet. A variable, so
// that tests can shorten it.
var answerWait = 2 * time.Minute

// podLogWait bounds how long the logs of one attempt (all its Pods, one
// after the other) take to read, from the call of Logs: limitBytes bounds
// what a log holds, not how slowly it comes, and a kubelet that sends a
// byte at a time would otherwise hold the caller (a user's request for a
// run's output) for as long as the caller waits. An honest API server
// sends maxPodLogBytes in seconds. A variable, so that tests can shorten it.
var podLogWait = time.Minute

// tooLargeError says which answer of the API server was larger than the
// backend accepts.
type tooLargeError struct{ msg string }

func (e *tooLargeError) Error() string { return e.msg }

// errTooLarge is the error for an answer to what (a request, "list of
// pods", "watch of jobs") whose unit ("answer", "event", "page") is larger
// than limit bytes.
func errTooLarge(what, unit string, limit int64) *tooLargeError {
	return &tooLargeError{fmt.Sprintf("kubernetes API server: %s: %s larger than %s, the most the backend reads; refused",
		what, unit, sizeString(limit))}
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// tooLarge returns the tooLargeError that err carries, or err itself:
// client-go wraps a failed read of an answer in "unexpected error when
// reading response body. Please retry", which retrying does not cure.
func tooLarge(err error) error {
	var tl *tooLargeError
	if errors.As(err, &tl) {
		return tl
	}
	return err
}

// responseLimit is the bound a caller sets, through the request's context,
// on the answer to one request that is not a watch.
type responseLimit struct {
	max  int64
	what string
	unit string
}

type responseLimitKey struct{}

// withResponseLimit has the requests made with ctx accept answers of up to
// max bytes (in place of maxObjectBytes), described as what in errors.
func withResponseLimit(ctx context.Context, max int64, what, unit string) context.Context {
	return context.WithValue(ctx, responseLimitKey{}, responseLimit{max: max, what: what, unit: unit})
}

// maxResponseHeaderBytes bounds the headers of one answer of the API
// server, which the transport reads whole into memory before the answer's
// body is looked at (Go's default is defaultResponseHeaderBytes). An API
// server's headers are a few hundred bytes and its warnings, which it cuts
// at 4 KiB in all; 1 MiB, the bound Go's server puts on a request's headers,
// leaves room for what proxies in front of it add, and is a tenth of the
// default.
const maxResponseHeaderBytes = 1 << 20

// defaultResponseHeaderBytes is net/http's bound on an answer's headers
// when a Transport's MaxResponseHeaderBytes is 0.
const defaultResponseHeaderBytes = 10 << 20

// boundHeaders has the HTTP transport that client-go makes from rc read
// each answer's headers within maxResponseHeaderBytes, keeping how it
// makes it (TLS, authentication, proxy, HTTP/2) as it is. The returned
// flag is set once a transport is so bounded; a transport of the caller's
// own (rc.Transport) is the caller's, and counts only if it is already an
// http.Transport bound as tightly.
//
// client-go shares one transport among the configurations of the same TLS
// settings, process-wide; a configuration with a proxy function is never
// shared, so rc gets one (http.ProxyFromEnvironment, what client-go uses
// when none is set) and the transport made for it is the backend's own to
// bound. Its HTTP/2 half reads the bound from it when it reads headers.
func boundHeaders(rc *rest.Config) *atomic.Bool {
	bounded := new(atomic.Bool)
	if rc.Transport != nil {
		t, ok := rc.Transport.(*http.Transport)
		bounded.Store(ok && t.MaxResponseHeaderBytes > 0 && t.MaxResponseHeaderBytes <= maxResponseHeaderBytes)
		return bounded
	}
	if rc.Proxy == nil {
		rc.Proxy = http.ProxyFromEnvironment
	}
	bound := func(rt http.RoundTripper) http.RoundTripper {
		for inner := rt; inner != nil; {
			switch t := inner.(type) {
			case *http.Transport:
				if t == http.DefaultTransport {
					// Shared by the whole process: not the backend's to change.
					return rt
				}
				if t.MaxResponseHeaderBytes <= 0 || t.MaxResponseHeaderBytes > maxResponseHeaderBytes {
					t.MaxResponseHeaderBytes = maxResponseHeaderBytes
				}
				bounded.Store(true)
				return rt
			case utilnet.RoundTripperWrapper:
				inner = t.WrappedRoundTripper()
			default:
				return rt
			}
		}
		return rt
	}
	// First, on the transport as client-go made it, before any wrapper.
	rc.WrapTransport = transport.Wrappers(bound, rc.WrapTransport)
	return bounded
}

// boundResponses wraps the transport of the backend's REST clients so that
// no answer is read past its bound: a watch (watch=true) event by event,
// up to maxWatchEventBytes each; any other answer whole, up to the bound
// its context sets (withResponseLimit) or maxObjectBytes.
func boundResponses(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.Body == nil {
			return resp, err
		}
		if w := req.URL.Query().Get("watch"); w == "true" || w == "1" {
			what := "watch " + req.URL.Path
			if lim, ok := req.Context().Value(responseLimitKey{}).(responseLimit); ok {
				what = lim.what
			}
			refused, _ := req.Context().Value(watchRefusedKey{}).(func(error))
			resp.Body = &eventLimit{rc: resp.Body, max: maxWatchEventBytes, what: what, refused: refused}
			return resp, nil
		}
		lim, ok := req.Context().Value(responseLimitKey{}).(responseLimit)
		if !ok {
			lim = responseLimit{max: maxObjectBytes, what: req.Method + " " + req.URL.Path, unit: "answer"}
		}
		resp.Body = &sizeLimit{rc: resp.Body, left: lim.max, limit: lim.max, declared: resp.ContentLength,
			err: errTooLarge(lim.what, lim.unit, lim.max)}
		return resp, nil
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// sizeLimit reads an answer up to left bytes; a byte more is an error. An
// answer whose Content-Length is already over is refused before any of it
// is read.
type sizeLimit struct {
	rc       io.ReadCloser
	left     int64
	declared int64
	limit    int64
	err      *tooLargeError
	failed   bool
}

func (s *sizeLimit) Read(p []byte) (int, error) {
	if s.failed || s.declared > s.limit {
		s.failed = true
		return 0, s.err
	}
	// Ask for one byte past the bound, to tell an answer that ends there
	// from one that goes on.
	if int64(len(p)) > s.left+1 {
		p = p[:s.left+1]
	}
	n, err := s.rc.Read(p)
	if int64(n) > s.left {
		s.failed = true
		n = int(s.left)
		s.left = 0
		return n, s.err
	}
	s.left -= int64(n)
	return n, err
}

func (s *sizeLimit) Close() error { return s.rc.Close() }

// eventLimit reads a watch stream (a sequence of JSON objects, one per
// event), refusing one event of more than max bytes. It follows the JSON
// structure (strings, escapes, nesting) just enough to see where each
// top-level value ends; bytes between events count towards the next, so
// that an endless run of whitespace or of anything that is not a JSON
// object is refused too.
type eventLimit struct {
	rc   io.ReadCloser
	max  int64
	what string
	// refused, when set, is told of the event refused.
	refused func(error)
	n       int64 // bytes since the end of the last event
	depth   int
	inStr   bool
	esc     bool
	err     error
}

func (e *eventLimit) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.rc.Read(p)
	for i, c := range p[:n] {
		if e.n++; e.n > e.max {
			e.err = errTooLarge(e.what, "event", e.max)
			if e.refused != nil {
				e.refused(e.err)
			}
			return i, e.err
		}
		switch {
		case e.inStr:
			switch {
			case e.esc:
				e.esc = false
			case c == '\\':
				e.esc = true
			case c == '"':
				e.inStr = false
			}
		case c == '"':
			e.inStr = true
		case c == '{' || c == '[':
			e.depth++
		case c == '}' || c == ']':
			if e.depth--; e.depth <= 0 {
				e.depth = 0
				e.n = 0
			}
		}
	}
	return n, err
}

func (e *eventLimit) Close() error { return e.rc.Close() }

// listPages lists resource (in namespace ns, or cluster wide with ns "")
// with opts' selectors, page by page: listPageSize objects and at most
// maxListPageBytes a page, at most maxListPages pages. each is called
// with every page.
//
// A list read in pages is read at the first page's version, which each
// continue token carries; once the API server has compacted that version
// (etcd's compaction, every five minutes by default) it refuses the next
// page with 410 Gone (reason Expired). Its answer offers a token to go on
// at the newest version, but the pages so read would mix two versions of
// the namespace: an object moved from a later page to an earlier one
// between them is missed, or one seen twice, and a count or a verdict
// made of them would be wrong. The list starts over instead, once:
// reset is called (the caller drops what it gathered of the pages so
// far) and the pages are read again from the first. A second expiry
// ends the list with an error saying so (errListExpired). With reset nil
// (a caller whose pages have had effects that cannot be undone) the
// first expiry ends it. A list thus costs at most twice maxListPages
// requests.
func listPages[L any, PL interface {
	*L
	runtime.Object
	GetContinue() string
}](ctx context.Context, c *rest.RESTClient, resource, ns string, opts metav1.ListOptions, reset func(), each func(PL) error) error {
	what := "list of " + resource
	ctx = withResponseLimit(ctx, maxListPageBytes, what, fmt.Sprintf("a page (of %d objects)", listPageSize))
	opts.Limit = listPageSize
	opts.Continue = ""
	err := listPagesOnce(ctx, c, resource, ns, opts, each)
	if !errors.Is(err, errListExpired) || reset == nil {
		return err
	}
	reset()
	err = listPagesOnce(ctx, c, resource, ns, opts, each)
	if errors.Is(err, errListExpired) {
		return fmt.Errorf("%w, twice: the list was started over once and its version was compacted again before its last page; refused (the next list tries again)", err)
	}
	return err
}

// errListExpired is listPagesOnce's error for a continued page the API
// server refused as expired (410 Gone).
var errListExpired = errors.New("the API server no longer holds the version its pages are read at (410 Gone: continue token expired)")

// listPagesOnce is one reading of listPages' pages, from the first.
func listPagesOnce[L any, PL interface {
	*L
	runtime.Object
	GetContinue() string
}](ctx context.Context, c *rest.RESTClient, resource, ns string, opts metav1.ListOptions, each func(PL) error) error {
	what := "list of " + resource
	for page := 1; ; page++ {
		if page > maxListPages {
			return &tooLargeError{fmt.Sprintf("kubernetes API server: %s: more than %d pages of %d objects, the most the backend reads; refused",
				what, maxListPages, listPageSize)}
		}
		pctx, cancel := context.WithTimeout(ctx, answerWait)
		res := c.Get().NamespaceIfScoped(ns, ns != "").Resource(resource).
			VersionedParams(&opts, metav1.ParameterCodec).Do(pctx)
		cancel()
		raw, err := res.Raw()
		if err != nil {
			if ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("kubernetes API server: %s: no answer within %s", what, answerWait)
			}
			if opts.Continue != "" && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) {
				// Only a continued page: a first page refused so
				// (a version the caller asked for, compacted) is the
				// caller's to handle, and reading it again from the
				// first page would be refused again.
				return fmt.Errorf("kubernetes API server: %s: page %d: %w", what, page, errListExpired)
			}
			// The API server's words: every caller's error repeats them.
			return siteError(tooLarge(err))
		}
		list := PL(new(L))
		if err := decodePage(raw, list, listPageSize); err != nil {
			if errors.Is(err, errTooManyItems) {
				return &tooLargeError{fmt.Sprintf("kubernetes API server: %s: a page of more than %d objects, the most asked for; refused",
					what, listPageSize)}
			}
			return fmt.Errorf("kubernetes API server: %s: %w", what, siteError(err))
		}
		if err := each(list); err != nil {
			return err
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			return nil
		}
		// A continued list is read at the first page's version, which the
		// token carries; the API server refuses one that names it too.
		opts.ResourceVersion = ""
		opts.ResourceVersionMatch = ""
	}
}

// listWhole is listPages for a watch cache: the pages in one list object,
// as client-go's reflector wants it. Each object is cut as its page
// arrives (keep, which returns what the object holds then), so that the
// pages together hold no more than the cache will; the list is refused
// once they hold more than maxCachedBytes.
func listWhole[L any, PL interface {
	*L
	runtime.Object
	GetContinue() string
}](ctx context.Context, c *rest.RESTClient, resource, ns string, opts metav1.ListOptions, keep func(runtime.Object) int64) (runtime.Object, error) {
	var (
		last  PL
		items []runtime.Object
		held  int64
	)
	err := listPages(ctx, c, resource, ns, opts, func() {
		last, items, held = nil, nil, 0
	}, func(page PL) error {
		objs, err := apimeta.ExtractList(page)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if held += keep(o); held > maxCachedBytes {
				return errCacheFull("list of "+resource, maxCachedBytes)
			}
		}
		items = append(items, objs...)
		last = page
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := apimeta.SetList(last, items); err != nil {
		return nil, err
	}
	lm, err := apimeta.ListAccessor(last)
	if err != nil {
		return nil, err
	}
	lm.SetContinue("")
	return last, nil
}

// errTooManyItems is decodePage's error for a page of more items than
// asked for.
var errTooManyItems = errors.New("more items than asked for")

// decodePage decodes a list answer (raw) into list (a pointer to one of
// api.go's list types: TypeMeta, ListMeta and Items) in one pass, item by
// item, as client-go's JSON decoder would (case-sensitive field names).
// The byte bound of a page does not bound its objects: a page of empty
// ones ("{},") holds millions, each decoded into a struct hundreds of
// times its size. The API server never sends more than the limit asked
// for, so the item past limit is refused (errTooManyItems) as it begins,
// before it is decoded. Decoding the page whole first (or
// counting its items in a pass of their own) read every byte twice.
func decodePage(raw []byte, list runtime.Object, limit int) error {
	v := reflect.ValueOf(list).Elem()
	items := v.FieldByName("Items")
	listMeta := v.FieldByName("ListMeta")
	if !items.IsValid() || items.Kind() != reflect.Slice || !listMeta.IsValid() {
		return fmt.Errorf("%T is no list type", list)
	}
	wantKind := ""
	if gvks, _, err := scheme.ObjectKinds(list); err == nil && len(gvks) > 0 {
		wantKind = gvks[0].Kind
	}
	dec := sigsjson.NewDecoderCaseSensitivePreserveInts(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("the answer is not a JSON object")
	}
	sawItems := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		switch key {
		case "metadata":
			if err := dec.Decode(listMeta.Addr().Interface()); err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
		case "kind":
			var kind string
			if err := dec.Decode(&kind); err != nil {
				return fmt.Errorf("kind: %w", err)
			}
			if wantKind != "" && kind != "" && kind != wantKind {
				return fmt.Errorf("kind %.80q, want %s", kind, wantKind)
			}
		case "items":
			if sawItems {
				return errors.New("items given twice")
			}
			sawItems = true
			t, err := dec.Token()
			if err != nil {
				return fmt.Errorf("items: %w", err)
			}
			if t == nil {
				continue // null: no items
			}
			if t != json.Delim('[') {
				return errors.New("items is not an array")
			}
			n := 0
			for dec.More() {
				if n == limit {
					return errTooManyItems
				}
				if n == items.Cap() {
					items.Grow(min(limit, max(16, 2*n)) - n)
				}
				items.SetLen(n + 1)
				if err := dec.Decode(items.Index(n).Addr().Interface()); err != nil {
					return fmt.Errorf("items[%d]: %w", n, err)
				}
				n++
			}
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("items: %w", err)
			}
		default:
			// apiVersion (the client's, which it does not keep), and what
			// the backend does not read.
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("%.80q: %w", key, err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more after the list object")
	}
	return nil
}
