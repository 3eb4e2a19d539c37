package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"meridian.dev/meridian/internal/textsafe"
)

// s3Bucket keeps objects in an S3 bucket (AWS or any S3-compatible server).
type s3Bucket struct {
	c      *minio.Client
	tr     *http.Transport // the client's own, closed with the store
	bucket string
	prefix string // the URL's prefix parameter, on every key
	// idle bounds how long an object's read may go without a byte
	// arriving (the read_idle parameter; DefaultReadIdle).
	idle time.Duration
	// minRate is the slowest an object's read may go on average
	// (MinReadRate; a test sets it lower).
	minRate int64
	// partSize is the size of an upload's parts (the part_size
	// parameter; DefaultPartSize): an object larger goes in parts.
	partSize int64
	// noMultiDelete is set once the server answered DeleteObjects as not
	// implemented.
	noMultiDelete atomic.Bool
}

// s3Params are the query parameters an s3:// store URL accepts.
var s3Params = map[string]string{
	"endpoint":       "the server's URL (http://host:port or https://host); default AWS",
	"region":         "the bucket's region; default $AWS_REGION, $AWS_DEFAULT_REGION, or asked of the server",
	"use_path_style": "true: address the bucket as endpoint/bucket (most S3-compatible servers) rather than bucket.endpoint",
	"disable_https":  "true: speak plain HTTP to AWS, or to an endpoint given without a scheme",
	"profile":        "the profile to read from the shared credentials file (~/.aws/credentials)",
	"anonymous":      "true: send unsigned requests (public buckets)",
	"prefix":         "a key prefix under which the store's objects live",
	"read_idle":      "how long reading an object may go without a byte arriving before it fails (a Go duration: 30s, 5m); default 2m",
	"part_size":      "the size of the parts an object larger than it is sent in, at most what a proxy before the server takes in one request (bytes, or with a MiB or GiB suffix: 5MiB to 5GiB); default 16MiB",
}

// openS3 opens s3://bucket?… . Credentials come, first found first, from
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN), the shared
// credentials file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE or the profile
// parameter), then the role of the machine or pod (EC2/ECS metadata, web
// identity).
func openS3(u *url.URL) (*s3Bucket, error) {
	bucket := u.Host
	if bucket == "" {
		return nil, errors.New("s3 URL without a bucket (want s3://bucket?…)")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("s3 URL with a path %q: put a key prefix in the prefix parameter", u.Path)
	}
	q := u.Query()
	for k, v := range q {
		if _, ok := s3Params[k]; !ok {
			known := make([]string, 0, len(s3Params))
			for p := range s3Params {
				known = append(known, p)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("s3 URL parameter %q not supported (accepted: %s)", k, strings.Join(known, ", "))
		}
		if len(v) > 1 {
			return nil, fmt.Errorf("s3 URL parameter %q given %d times", k, len(v))
		}
	}
	flag := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("s3 URL parameter %s=%q: want true or false", name, v)
		}
		return b, nil
	}
	pathStyle, err := flag("use_path_style")
	if err != nil {
		return nil, err
	}
	noHTTPS, err := flag("disable_https")
	if err != nil {
		return nil, err
	}
	anonymous, err := flag("anonymous")
	if err != nil {
		return nil, err
	}
	// An endpoint's scheme says whether to speak TLS; disable_https applies
	// to an endpoint given without one, and to AWS's own.
	host, secure := "s3.amazonaws.com", !noHTTPS
	if ep := q.Get("endpoint"); ep != "" {
		if !strings.Contains(ep, "://") {
			scheme := "https://"
			if noHTTPS {
				scheme = "http://"
			}
			ep = scheme + ep
		}
		e, err := url.Parse(ep)
		if err != nil {
			return nil, fmt.Errorf("s3 URL parameter endpoint=%q: %w", q.Get("endpoint"), err)
		}
		if (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.User != nil {
			return nil, fmt.Errorf("s3 URL parameter endpoint=%q: want http://host[:port] or https://host[:port]", q.Get("endpoint"))
		}
		host, secure = e.Host, e.Scheme == "https"
	}
	idle := DefaultReadIdle
	if v := q.Get("read_idle"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("s3 URL parameter read_idle=%q: want a positive duration (30s, 5m)", v)
		}
		idle = d
	}
	partSize := int64(DefaultPartSize)
	if v := q.Get("part_size"); v != "" {
		n, err := parseSize(v)
		if err != nil || n < minPartSize || n > maxPartSize {
			return nil, fmt.Errorf("s3 URL parameter part_size=%q: want a size from 5MiB to 5GiB (bytes, or with a MiB or GiB suffix)", v)
		}
		partSize = n
	}
	region := q.Get("region")
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	var creds *credentials.Credentials
	if anonymous {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{Profile: q.Get("profile")},
			&credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupDNS
	if pathStyle {
		lookup = minio.BucketLookupPath
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	c, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: region, BucketLookup: lookup, Transport: boundedBodies{tr}})
	if err != nil {
		return nil, err
	}
	return &s3Bucket{c: c, tr: tr, bucket: bucket, prefix: q.Get("prefix"), idle: idle, minRate: MinReadRate, partSize: partSize}, nil
}

// DefaultPartSize is the size of the parts an object larger than it is
// sent in, unless the store's URL says otherwise (part_size): more than a
// sealed chunk, so a chunk goes in one request, and less than the bodies
// proxies before S3 servers are commonly set to take.
const DefaultPartSize = 16 << 20

// minPartSize and maxPartSize are S3's bounds on a part's size (all but
// the last part).
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// parseSize reads a size in bytes, or in MiB or GiB with that suffix.
func parseSize(v string) (int64, error) {
	unit := int64(1)
	if n, ok := strings.CutSuffix(v, "MiB"); ok {
		v, unit = n, 1<<20
	} else if n, ok := strings.CutSuffix(v, "GiB"); ok {
		v, unit = n, 1<<30
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > maxPartSize/unit {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, MiB or GiB", v)
	}
	return n * unit, nil
}

// notFound reports whether an S3 error says the object is not there. Only
// S3's own code counts: a missing bucket, or a server answering 404 to an
// unknown access key (versitygw does), is a fault to report, not an absent
// object that staging would go on to send.
func notFound(err error) bool {
	return minio.ToErrorResponse(err).Code == "NoSuchKey"
}

// get sends one GET; the size comes from its answer and the body is read
// from the same response.
//
// The read fails (ErrReadIdle) once the server has sent nothing for the
// store's idle bound, from the request until the body ends: a server that
// sends an object a byte a minute would otherwise hold a staging, and the
// connection, until the staging's own deadline, an hour on.
func (b *s3Bucket) get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	idleErr := fmt.Errorf("store s3://%s at %s sent nothing of %s for %v: %w", b.bucket, b.c.EndpointURL().Host, clipKey(b.prefix+key), b.idle, ErrReadIdle)
	t := time.AfterFunc(b.idle, func() { cancel(idleErr) })
	body, info, _, err := minio.Core{Client: b.c}.GetObject(ctx, b.bucket, b.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		t.Stop()
		if cause := context.Cause(ctx); cause == idleErr {
			err = cause
		}
		cancel(nil)
		if notFound(err) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, siteErr(err)
	}
	// The whole read has a deadline too, from the object's declared size
	// (or, undeclared, the bytes received so far) at MinReadRate: a server
	// that sends a byte just inside the idle bound, again and again,
	// would otherwise stretch one read, and a reconcile reading many,
	// without limit.
	r := &idleBody{rc: body, ctx: ctx, cancel: cancel, t: t, idle: b.idle, rate: b.minRate, start: time.Now(), size: info.Size}
	r.deadlineErr = fmt.Errorf("store s3://%s at %s sent %s slower than %d bytes a second: %w", b.bucket, b.c.EndpointURL().Host, clipKey(b.prefix+key), b.minRate, ErrReadDeadline)
	r.total = time.AfterFunc(r.allowed(0), func() { cancel(r.deadlineErr) })
	return r, info.Size, nil
}

// MinReadRate is the slowest an S3 object's read may go on average, in
// bytes a second: a read of an object of n bytes fails (ErrReadDeadline)
// once it has taken longer than the store's idle bound (read_idle) plus
// n / MinReadRate, whatever pace its bytes keep. At 64 KiB a second a
// sealed chunk of 4 MiB has a minute beyond the idle bound, far more than
// any working link needs, and a site trickling bytes cannot hold a read
// for longer.
const MinReadRate = 64 << 10

// ErrReadDeadline means a store sent an object more slowly than
// MinReadRate allows, on the whole, and the read was stopped.
var ErrReadDeadline = errors.New("the store sent the object too slowly")

// DefaultReadIdle is how long reading an S3 object may go without a byte
// arriving, unless the store's URL says otherwise (read_idle): far longer
// than any working server pauses, far shorter than a staging's deadline.
const DefaultReadIdle = 2 * time.Minute

// ErrReadIdle means a store stopped sending an object's bytes, for longer
// than its idle bound, before the object ended.
var ErrReadIdle = errors.New("the store stopped sending the object")

// idleBody is an object's content whose request is cancelled (with the
// idle error as the cause) once no byte has arrived for idle.
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	t      *time.Timer
	idle   time.Duration
	// total ends the read (deadlineErr) once it has run past allowed:
	// the idle bound, plus the object's declared size (or, undeclared,
	// the bytes received) at rate.
	total       *time.Timer
	deadlineErr error
	rate        int64
	start       time.Time
	size        int64 // declared, or -1
	received    int64
}

// allowed is how long, from its start, the read may take once received
// bytes have arrived.
func (r *idleBody) allowed(received int64) time.Duration {
	n := max(r.size, received)
	return r.idle + time.Duration(float64(n)/float64(r.rate)*float64(time.Second))
}

func (r *idleBody) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.t.Reset(r.idle)
		r.received += int64(n)
		if r.received > r.size {
			// Undeclared (or longer than declared, which ReadObject
			// refuses): the allowance grows with what arrived.
			r.total.Reset(time.Until(r.start.Add(r.allowed(r.received))))
		}
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(r.ctx); errors.Is(cause, ErrReadIdle) || errors.Is(cause, ErrReadDeadline) {
			err = cause
		}
	}
	return n, err
}

func (r *idleBody) Close() error {
	r.t.Stop()
	r.total.Stop()
	err := r.rc.Close()
	r.cancel(nil)
	return err
}

// put sends data in one PUT up to the store's part size, and in parts of
// that size beyond it: a proxy before the server that takes bodies up to
// some size refused a large manifest sent whole (S3 takes up to 5 GiB in
// one PUT). Either way the parts are signed with their content's SHA-256
// where the connection is not TLS, as a PUT is, and S3 shows the object
// only once it is complete. An upload that fails or is cancelled is
// aborted (putParts), so its parts do not stay at the site; what a writer
// killed mid-upload leaves, abortUploads (RemoveStaleTemps, Remove)
// aborts later. A write that fails says how many bytes of its body the
// client sent, on every try, that no listing will show (*UploadError,
// sentBody): a PUT cut by a dropped connection or a deadline part way
// through its body, or answered 5xx and sent again, crossed as much as one
// the server refused.
func (b *s3Bucket) put(ctx context.Context, key string, data []byte) error {
	_, err := b.putResent(ctx, key, data)
	return err
}

// putResent is put, and returns, of a write that succeeded, the bytes the
// client sent beyond the object's own (tries it sent again).
func (b *s3Bucket) putResent(ctx context.Context, key string, data []byte) (int64, error) {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if int64(len(data)) > b.partSize {
		return b.putParts(ctx, key, data, opts)
	}
	opts.DisableMultipart = true
	body := newSentBody(data)
	_, err := b.c.PutObject(ctx, b.bucket, b.prefix+key, body, int64(len(data)), opts)
	if err != nil {
		err = siteErr(err)
		// Whatever of the body the client read, on every try (it sends
		// it again after a 5xx or a dropped connection), went to the
		// connection: the server may have taken it, and nothing there
		// shows it.
		if n := body.sent(); n > 0 {
			return 0, &UploadError{Crossed: n, Err: err}
		}
		return 0, err
	}
	return max(body.sent()-int64(len(data)), 0), nil
}

// sentBody is an object's (or a part's) content as the client sends it.
// It counts every byte read from it, on every try: the client rewinds it
// (Seek) to send it again after a 5xx or a dropped connection, and each
// resend crosses to the server as the first send did. A byte read is
// taken as sent: the transport may hold the last of what it read in its
// buffer when the connection drops, so the count may exceed what reached
// the server, never fall short of it (a ledger that counts more than
// crossed is on the safe side; one that counts less hides bytes).
type sentBody struct {
	mu sync.Mutex
	r  *bytes.Reader
	n  int64
}

func newSentBody(data []byte) *sentBody {
	return &sentBody{r: bytes.NewReader(data)}
}

// Read and Seek hold the lock: a transport may still be reading a
// try's body, in a goroutine of its own, while the client rewinds it
// for the next.
func (s *sentBody) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

func (s *sentBody) Seek(off int64, whence int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Seek(off, whence)
}

// sent is how many bytes were read from the body, over all tries.
func (s *sentBody) sent() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// abortGrace bounds how long an upload that failed, or whose copy was
// cancelled, goes on aborting its upload.
const abortGrace = 30 * time.Second

// putParts sends data in parts of the store's part size, one after
// another, counting the bytes of the parts the server accepted. An
// upload that fails is aborted, on a context of its own (within
// abortGrace): once the server confirms the abort, those parts crossed to
// the site and are gone, which no listing of objects or uploads will
// show, so the error says how many bytes they held (*UploadError). An
// abort that fails leaves the parts (or an upload that completed after
// all) for a reconcile to find, and the error does not count them. What
// the client sent of a part the server did not keep (refused, cut off by
// a dropped connection or a deadline, or answered 5xx and sent again)
// crossed too, and no listing shows it: the error counts those bytes,
// whether or not the abort is confirmed (sentBody). An upload that
// completes returns the bytes resent of the parts the server kept.
func (b *s3Bucket) putParts(ctx context.Context, key string, data []byte, opts minio.PutObjectOptions) (int64, error) {
	core := minio.Core{Client: b.c}
	full := b.prefix + key
	id, err := core.NewMultipartUpload(ctx, b.bucket, full, opts)
	if err != nil {
		return 0, siteErr(err)
	}
	signed := b.c.EndpointURL().Scheme != "https"
	var parts []minio.CompletePart
	// taken counts the bytes of the parts the server accepted; resent
	// those the client sent beyond each part's own (its tries again).
	var taken, resent int64
	for n, off := 1, int64(0); off < int64(len(data)); n, off = n+1, off+b.partSize {
		part := data[off:min(off+b.partSize, int64(len(data)))]
		popts := minio.PutObjectPartOptions{DisableContentSha256: true}
		if signed {
			sum := sha256.Sum256(part)
			popts.Sha256Hex = hex.EncodeToString(sum[:])
		}
		body := newSentBody(part)
		p, err := core.PutObjectPart(ctx, b.bucket, full, id, n, body, int64(len(part)), popts)
		sent := body.sent()
		if err != nil {
			// What the client read of the part, on every try, crossed
			// (sentBody), and no listing shows it.
			return 0, b.abortPut(ctx, key, id, taken, resent+sent, err)
		}
		// Tries of the part the server did not keep (a 5xx, a dropped
		// connection) crossed all the same, and no listing shows them.
		resent += max(sent-int64(len(part)), 0)
		taken += int64(len(part))
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
	}
	if _, err := core.CompleteMultipartUpload(ctx, b.bucket, full, id, parts, opts); err != nil {
		return 0, b.abortPut(ctx, key, id, taken, resent, err)
	}
	return resent, nil
}

// abortPut aborts the upload id to key that failed (cause) after the
// server accepted taken bytes of its parts, and after lost bytes crossed
// that no listing shows whatever becomes of the upload (the tries of a
// part it did not keep), and returns cause, with the bytes that crossed
// (*UploadError): the lost ones, and the taken ones once the abort is
// confirmed.
func (b *s3Bucket) abortPut(ctx context.Context, key, id string, taken, lost int64, cause error) error {
	cause = siteErr(cause)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortGrace)
	defer cancel()
	if err := (minio.Core{Client: b.c}).AbortMultipartUpload(actx, b.bucket, b.prefix+key, id); err != nil {
		// Not aborted (or no longer there: completed after all): what
		// the parts left is the site's to show a reconcile.
		cause = fmt.Errorf("%w (the upload was not aborted: %v)", cause, siteErr(err))
		taken = 0
	}
	if taken+lost == 0 {
		return cause
	}
	return &UploadError{Crossed: taken + lost, Err: cause}
}

// UploadError is a write that failed after its bytes reached the store
// (the parts of an upload, which was then aborted, or a part or a whole
// object the store refused, cut off mid-body, or was sent again after a
// 5xx): Crossed bytes reached the store and are gone, so nothing there
// will show them. Crossed counts what the client sent, every try of each
// body: it may exceed the object's size, and what the store received (a
// body cut off counts what the client had read of it), never fall short.
type UploadError struct {
	Crossed int64
	Err     error
}

func (e *UploadError) Error() string {
	return fmt.Sprintf("%v (%d bytes of it reached the store before the upload was aborted)", e.Err, e.Crossed)
}

func (e *UploadError) Unwrap() error { return e.Err }

// MaxCrossed is the most a failed Put of size bytes can say crossed
// (Crossed): the client sends each body at most minio.MaxRetry times.
func MaxCrossed(size int) int64 {
	return int64(max(minio.MaxRetry, 1)) * int64(size)
}

// Crossed is how many bytes a failed Put delivered to the store that are
// no longer there (UploadError): bytes that crossed to it, which no
// reading of the store will find. It is 0 for any other error.
func Crossed(err error) int64 {
	var ue *UploadError
	if errors.As(err, &ue) {
		return ue.Crossed
	}
	return 0
}

// cannotListUploads reports whether a server's answer to a listing of
// uploads says it does not list them (S3-compatible servers without the
// call answer 501, 405, 404 or 400) or does not let the store's
// credentials do so (403: a policy without s3:ListBucketMultipartUploads).
func cannotListUploads(err error) bool {
	switch r := minio.ToErrorResponse(err); {
	case r.Code == "NotImplemented" || r.Code == "AccessDenied":
		return true
	default:
		switch r.StatusCode {
		case http.StatusNotImplemented, http.StatusMethodNotAllowed, http.StatusNotFound, http.StatusBadRequest, http.StatusForbidden:
			return true
		}
	}
	return false
}

// cannotAbortUploads reports whether a server's answer to an abort says
// it does not let the store's credentials abort uploads (403: a policy
// without s3:AbortMultipartUpload) or does not implement the call.
func cannotAbortUploads(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == "AccessDenied" || r.Code == "NotImplemented" ||
		r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusNotImplemented
}

// MaxUploads is the most unfinished uploads abortUploads reads under a
// prefix, whatever its caller's bound on a listing of objects: only an
// object larger than the part size (a large manifest) goes in parts, and
// a writer killed mid-way leaves one upload for each it was sending, so a
// dataset has a few; each is aborted with a request of its own, so a
// server listing a million would otherwise have a removal send a million.
// Past it, the call fails with ErrListTooLong, and the next one goes on.
const MaxUploads = 10000

// abortUploads aborts the multipart uploads under prefix begun before
// before, reading at most limit of them (and MaxUploads), and returns how
// many it aborted.
// A server that does not list uploads, or does not let the store's
// credentials do so (cannotListUploads) or abort them (cannotAbortUploads),
// leaves them to the bucket's lifecycle rule: that is not an error, for a staging or a removal there
// worked before uploads went in parts.
func (b *s3Bucket) abortUploads(ctx context.Context, prefix string, before time.Time, limit int) (int, error) {
	core := minio.Core{Client: b.c}
	n := 0
	err := b.eachUpload(ctx, core, b.prefix+prefix, limit, func(u minio.ObjectMultipartInfo) (bool, error) {
		if !u.Initiated.Before(before) {
			return true, nil
		}
		if err := core.AbortMultipartUpload(ctx, b.bucket, u.Key, u.UploadID); err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			if cannotAbortUploads(err) {
				// Credentials that may list uploads but not abort
				// them: the rest are left to the lifecycle rule too,
				// rather than failing every staging and removal for
				// as long as one is there.
				return false, nil
			}
			return false, fmt.Errorf("abort the upload to %q: %w", clipKey(u.Key), siteErr(err))
		}
		n++
		return true, nil
	})
	return n, err
}

// eachUpload calls fn with each multipart upload under full (a key of the
// bucket's), reading at most limit of them (and MaxUploads), until fn
// returns false or an error. A server that does not let the store's
// credentials list uploads (cannotListUploads) lists none. An upload to a
// key outside full fails it with ErrForeignKey: it is not the caller's.
func (b *s3Bucket) eachUpload(ctx context.Context, core minio.Core, full string, limit int, fn func(minio.ObjectMultipartInfo) (bool, error)) error {
	limit = min(limit, MaxUploads)
	keyMarker, idMarker := "", ""
	listed, empty := 0, 0
	for {
		res, err := core.ListMultipartUploads(ctx, b.bucket, full, keyMarker, idMarker, "", 1000)
		if err != nil {
			if keyMarker == "" && idMarker == "" && cannotListUploads(err) {
				return nil
			}
			return fmt.Errorf("list uploads under %s: %w", clipKey(full), siteErr(err))
		}
		for _, u := range res.Uploads {
			if listed++; listed > limit {
				return fmt.Errorf("list uploads under %s: over %d: %w", clipKey(full), limit, ErrListTooLong)
			}
			// As with objects: a key outside the prefix asked is not ours.
			if !strings.HasPrefix(u.Key, full) {
				return fmt.Errorf("the server listed an upload to %q, which is not under the prefix %q asked: %w", clipKey(u.Key), full, ErrForeignKey)
			}
			if more, err := fn(u); err != nil || !more {
				return err
			}
		}
		if !res.IsTruncated {
			return nil
		}
		// A page that names no upload, or a next page that is this one
		// again, is a server listing for ever.
		if len(res.Uploads) == 0 {
			empty++
		} else {
			empty = 0
		}
		if empty > MaxEmptyPages || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return fmt.Errorf("list uploads under %s: the listing does not advance: %w", clipKey(full), ErrListTooLong)
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

func (b *s3Bucket) del(ctx context.Context, key string) error {
	err := b.c.RemoveObject(ctx, b.bucket, b.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && notFound(err) {
		return nil
	}
	return siteErr(err)
}

// delMany removes keys with S3's DeleteObjects, a thousand a request,
// where one DELETE each took a round trip per object. A server that does
// not implement it (some S3-compatible ones) gets one DELETE each, from
// then on.
func (b *s3Bucket) delMany(ctx context.Context, keys []string) error {
	if !b.noMultiDelete.Load() {
		objs := make(chan minio.ObjectInfo, len(keys))
		for _, k := range keys {
			objs <- minio.ObjectInfo{Key: b.prefix + k}
		}
		close(objs)
		var first error
		unsupported := false
		for e := range b.c.RemoveObjectsWithResult(ctx, b.bucket, objs, minio.RemoveObjectsOptions{}) {
			if e.Err == nil || notFound(e.Err) {
				continue
			}
			if r := minio.ToErrorResponse(e.Err); r.Code == "NotImplemented" || r.StatusCode == http.StatusNotImplemented {
				unsupported = true
				continue
			}
			if first == nil {
				first = fmt.Errorf("%s: %w", clipKey(e.ObjectName), siteErr(e.Err))
			}
		}
		if !unsupported || first != nil {
			return first
		}
		b.noMultiDelete.Store(true)
	}
	for _, k := range keys {
		if err := b.del(ctx, k); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

func (b *s3Bucket) list(ctx context.Context, prefix string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		// The listing runs ahead of the consumer; cancelling stops it when
		// the consumer stops early.
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		// The transport counts the listing's pages (listPages).
		lp := &listPages{cancel: cancel}
		ctx = context.WithValue(ctx, listPagesKey{}, lp)
		for o := range b.c.ListObjectsIter(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix + prefix, Recursive: true}) {
			if o.Err != nil {
				if cause := context.Cause(ctx); errors.Is(cause, ErrListTooLong) {
					o.Err = cause
				}
				yield(Object{}, siteErr(o.Err))
				return
			}
			lp.keyed.Store(lp.pages.Load())
			// S3 lists only keys with the prefix asked; a server that names
			// others is faulty or hostile, and its keys would be taken as
			// ours under another name (trimmed of a prefix they lack) and
			// deleted or counted as there.
			if !strings.HasPrefix(o.Key, b.prefix+prefix) {
				yield(Object{}, fmt.Errorf("the server listed %q, which is not under the prefix %q asked: %w", clipKey(o.Key), b.prefix+prefix, ErrForeignKey))
				return
			}
			if !yield(Object{Key: strings.TrimPrefix(o.Key, b.prefix), Size: o.Size, ModTime: o.LastModified}, nil) {
				return
			}
		}
		// The client's listing ends quietly when its context is done
		// before it asks for the next page: that listing is cut short,
		// not whole, and a caller must not take it for all there is.
		if err := context.Cause(ctx); err != nil {
			yield(Object{}, err)
		}
	}
}

// listPages counts one listing's requests for pages, as the transport
// sends them, against the keys the listing has yielded: a server that
// answers page after page with no key, each saying more follow, yields
// nothing that a bound on the listing's keys would count.
type listPages struct {
	pages  atomic.Int64 // pages asked for
	keyed  atomic.Int64 // pages asked for when the listing last yielded a key
	cancel context.CancelCauseFunc
}

// listPagesKey carries a listing's *listPages in its context.
type listPagesKey struct{}

// count counts a request for a page, and ends the listing (its context,
// so that the client does not try again) once MaxEmptyPages pages in a
// row have held no key.
func (lp *listPages) count() error {
	if n := lp.pages.Add(1); n-lp.keyed.Load() > MaxEmptyPages {
		err := fmt.Errorf("%d pages in a row without a key: %w", MaxEmptyPages, ErrListTooLong)
		lp.cancel(err)
		return err
	}
	return nil
}

// ErrForeignKey means a store's listing named a key outside the prefix it
// was asked for: a faulty or hostile store.
var ErrForeignKey = errors.New("a listing named a key it was not asked for")

// clipKey shortens a key a server chose, for an error message.
func clipKey(k string) string {
	if len(k) > 200 {
		return k[:200] + "…"
	}
	return k
}

// maxSiteError is how much of an error's text, as the S3 client gives
// it, an error of the store carries: the client puts the message of a
// server's error answer in it, whole (up to a megabyte), and a genuine
// one is a sentence.
const maxSiteError = 1 << 10

// siteError is an error of the S3 client whose text (a server's error
// message) was cut and escaped (siteErr). It unwraps to the client's.
type siteError struct {
	text string
	err  error
}

func (e *siteError) Error() string { return e.text }
func (e *siteError) Unwrap() error { return e.err }

// siteErr returns err, or, where its text is longer than maxSiteError or
// holds a character textsafe escapes (terminal escapes in C1 form, which
// XML allows, a bidirectional override), err with that text cut to
// maxSiteError bytes and escaped: a site's server chooses its error
// messages, and they reach what a staging reports, logs and records.
func siteErr(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if len(s) <= maxSiteError && textsafe.Safe(s) {
		return err
	}
	cut := ""
	if len(s) > maxSiteError {
		cut = fmt.Sprintf("… (%d bytes in all)", len(s))
		s = s[:maxSiteError]
	}
	return &siteError{text: textsafe.Escape(s) + cut, err: err}
}

// close drops the store's idle connections: each store has its own
// transport, and a server opens stores per request.
func (b *s3Bucket) close() error {
	b.tr.CloseIdleConnections()
	return nil
}

// MaxS3Response is the most an S3 server's answer may hold, except an
// object's content (which ReadObject reads within the size the caller
// expects): a page of a listing (at most 1,000 keys, about 300 KB at S3),
// an error, a bucket's region.
const MaxS3Response = 16 << 20

// ErrResponseTooLarge means an S3 server sent more than MaxS3Response in
// an answer that should be small: a faulty or hostile server.
var ErrResponseTooLarge = errors.New("S3 answer larger than any genuine one")

// boundedBodies is the S3 client's transport, which cuts every answer but
// an object's content at MaxS3Response. The client decodes a listing's
// page, and an error, whole into memory: a site's server could send one
// without end.
type boundedBodies struct{ rt http.RoundTripper }

func (b boundedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if lp, ok := r.Context().Value(listPagesKey{}).(*listPages); ok && r.URL.Query().Get("list-type") != "" {
		if err := lp.count(); err != nil {
			return nil, err
		}
	}
	resp, err := b.rt.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	content := r.Method == http.MethodGet && r.URL.RawQuery == "" && resp.StatusCode/100 == 2
	if !content && resp.Body != nil {
		resp.Body = &capped{rc: resp.Body, left: MaxS3Response}
	}
	return resp, nil
}

// capped reads at most left bytes of rc, then fails.
type capped struct {
	rc   io.ReadCloser
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("over %d bytes: %w", MaxS3Response, ErrResponseTooLarge)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }

// MaxEmptyPages is how many pages in a row a listing may be answered with
// no key before it is refused (ErrListTooLong). S3 fills most pages with
// up to a thousand keys, but a versioned bucket may answer pages that
// skipped only delete markers with no key and more to follow, so the
// bound leaves room for a prefix with a million of them in a row; it is
// there to end a server that answers empty pages for ever, each page a
// round trip, long before the caller's deadline would.
const MaxEmptyPages = 1024
