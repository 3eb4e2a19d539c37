package dataset

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"meridian.dev/meridian/catalog"
)

// Within reports whether the store URL u lies inside one of the stores
// scope names, so that a server may read it on a tenant's behalf:
//
//   - file:///dir: u is that directory or one beneath it, after both
//     paths are cleaned and made absolute, and again after their symbolic
//     links are resolved (the store is opened through them);
//   - s3://bucket?…: u names the same bucket with exactly the same
//     parameters (endpoint, region, profile, anonymous and the rest), and
//     its prefix parameter is the entry's or lies beneath it ("a/b" is
//     beneath "a", "ab" is not).
//
// Anything that does not parse, or any other scheme, is outside: a server
// that is asked to open a store it was not given refuses.
func Within(u string, scope []string) bool {
	for _, s := range scope {
		if within(u, s) {
			return true
		}
	}
	return false
}

func within(raw, scope string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	s, err := url.Parse(scope)
	if err != nil || u.Scheme != s.Scheme || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	switch u.Scheme {
	case "file":
		up, ok := fileDir(u)
		sp, ok2 := fileDir(s)
		if !ok || !ok2 || u.RawQuery != "" {
			return false
		}
		// The store is opened through any symbolic link on its path: it is
		// inside only if it is both as spelled and as the links lead.
		return beneathDir(up, sp) && beneathDir(catalog.ResolveLinks(up), catalog.ResolveLinks(sp))
	case "s3":
		if u.Host == "" || u.Host != s.Host || (u.Path != "" && u.Path != "/") {
			return false
		}
		uq, sq := u.Query(), s.Query()
		for k, v := range uq {
			if k == "prefix" {
				continue
			}
			if len(v) != 1 || len(sq[k]) != 1 || sq[k][0] != v[0] {
				return false
			}
		}
		for k := range sq {
			if _, ok := uq[k]; !ok && k != "prefix" {
				return false
			}
		}
		if len(uq["prefix"]) > 1 {
			return false
		}
		return beneathPrefix(uq.Get("prefix"), sq.Get("prefix"))
	}
	return false
}

// beneathDir reports whether the clean absolute directory d is dir or lies
// beneath it.
func beneathDir(d, dir string) bool {
	rel, err := filepath.Rel(dir, d)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// fileDir is a file URL's directory, cleaned and absolute, as OpenStore
// would open it.
func fileDir(u *url.URL) (string, bool) {
	dir := u.Path
	if u.Host == "." {
		dir = "." + u.Path
	} else if u.Host != "" {
		return "", false
	}
	if dir == "" {
		return "", false
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	return abs, true
}

// NotAbsoluteFile reports whether raw is a file URL that does not name
// its directory absolutely (file:///dir): a relative one (file://./dir,
// file:dir), which OpenStore finds from the working directory, or one
// with a host before its path (file://dir/x, which it opens as /x). A
// server refuses such a store for a dataset: the directory it opens, and
// the store key it is owned under, would be wherever the server was
// started, not where the URL was written.
func NotAbsoluteFile(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "file" && (u.Host != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "/"))
}

// AbsoluteFile is raw with a relative file store (file://./dir, the form
// OpenStore finds from the working directory) made absolute from the
// working directory now (file:///abs/dir), so that a document written
// with it names the directory meant wherever it is read (a server refuses
// a relative one: NotAbsoluteFile). Any other URL comes back as it is;
// a file URL of another form that does not name its directory absolutely
// (file:dir, file://host/dir) is an error, as no directory is meant by it
// for certain.
func AbsoluteFile(raw string) (string, error) {
	if !NotAbsoluteFile(raw) {
		return raw, nil
	}
	u, _ := url.Parse(raw) // NotAbsoluteFile parsed it
	if u.Host != "." || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q does not name a directory: write file:///absolute/dir (or file://./relative/dir)", raw)
	}
	abs, err := filepath.Abs("." + u.Path)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: abs}).String(), nil
}

// beneathPrefix reports whether key prefix p is scope's or lies beneath it
// at a "/" boundary.
func beneathPrefix(p, scope string) bool {
	scope = strings.TrimSuffix(scope, "/")
	if scope == "" {
		return !strings.Contains(p, "..")
	}
	if strings.Contains(p, "..") {
		return false
	}
	p = strings.TrimSuffix(p, "/")
	return p == scope || strings.HasPrefix(p, scope+"/")
}

// StoreKeyFormat names what StoreKey computes. A start re-keys the
// registered datasets only when it differs from the one they were last
// re-keyed to; change it with any change to StoreKey that changes a key
// (TestStoreKeyFormatPinned fails on one it sees).
const StoreKeyFormat = "5"

// StoreKey is the key under which a store's data is owned: the URL as it
// opens, so that two spellings of one place are one key. A file URL is its
// directory, cleaned and absolute (file:///srv/store, file:///srv//store/
// and file:///srv/store/. are one store; a relative one is made absolute
// in the working directory, as OpenStore opens it, and the server refuses
// to register one). An s3 URL is what names its data: the bucket
// (lower-cased), the server and the prefix without trailing "/"s (one of
// "/"s alone is none); the parameters that only say how the client reaches
// or reads it (read_idle, part_size, profile, anonymous, disable_https,
// region) are left out, and so is a parameter given empty.
//
// The server is read as the opener (minio-go) addresses it. At AWS (no
// endpoint, or one of AWS's: the opener sends to AWS whatever region it
// names) a bucket is one bucket; an endpoint whose host names a bucket
// (bucket.s3.<region>.amazonaws.com) is that bucket with the URL's bucket
// beginning the keys (use_path_style=true) or the URL's bucket before the
// host's (virtual-hosted, the opener's default): the key is the AWS bucket
// and prefix it comes to. On another server by name, whose own name is not
// known (a bucket before it, "b.s3.example", may be a bucket or part of
// the server's name), the bucket is put before the endpoint's host, and
// each name the prefix begins with that could be a bucket before that, as
// a virtual-hosted request would: s3://b?endpoint=E with use_path_style
// and without, s3://x?endpoint=b.E&use_path_style=true and
// s3://b?endpoint=E&prefix=x/ (which send the very same requests) are one
// key, "s3://x.b.E:port" with the rest of the prefix. An IP address
// endpoint is read path-style (no name to put a bucket before). An S3
// PrivateLink endpoint (hb.bucket.vpce-<id>.s3.<region>.vpce.amazonaws.com)
// is AWS's, its word "bucket" no name: the bucket is hb, or the URL's.
//
// Where unsure, two spellings are one key: a tenant refused a name is a
// lesser harm than two tenants owning one store's data. A URL that does
// not parse, one that openS3 refuses (an unknown or repeated parameter, an
// endpoint or a flag it cannot read), or one of another scheme, is itself.
func StoreKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return raw
	}
	switch u.Scheme {
	case "file":
		if u.RawQuery != "" {
			return raw
		}
		if dir, ok := fileDir(u); ok {
			return "file://" + dir
		}
	case "s3":
		if k, ok := s3StoreKey(u); ok {
			return k
		}
	}
	return raw
}

// s3StoreKey is StoreKey of an s3 URL; ok is false where openS3 refuses
// it.
func s3StoreKey(u *url.URL) (string, bool) {
	if u.Host == "" || u.Path != "" && u.Path != "/" {
		return "", false
	}
	q := u.Query()
	for k, v := range q {
		if _, ok := s3Params[k]; !ok || len(v) != 1 {
			return "", false
		}
	}
	noHTTPS, ok := s3Flag(q, "disable_https")
	if !ok {
		return "", false
	}
	pathStyle, ok := s3Flag(q, "use_path_style")
	if !ok {
		return "", false
	}
	bucket, prefix := u.Host, q.Get("prefix")
	ep := q.Get("endpoint")
	if ep == "" {
		return awsKey(bucket, prefix), true
	}
	srv, ok := s3Server(ep, noHTTPS)
	switch {
	case !ok:
		return "", false
	case srv.aws && srv.hostBucket == "":
		return awsKey(bucket, prefix), true
	case srv.aws && pathStyle:
		// bucket.s3.<region>.amazonaws.com/URL-bucket/prefix…
		return awsKey(srv.hostBucket, bucket+"/"+prefix), true
	case srv.aws:
		// URL-bucket.bucket.s3.<region>.amazonaws.com/prefix…
		return awsKey(bucket+"."+srv.hostBucket, prefix), true
	case srv.ip:
		key := url.Values{"endpoint": {srv.addr}}
		if p := strings.TrimRight(prefix, "/"); p != "" {
			key.Set("prefix", p)
		}
		return "s3://" + strings.ToLower(bucket) + "?" + key.Encode(), true
	}
	return namedServerKey(bucket, srv, prefix)
}

// awsKey is the key of bucket at AWS with prefix: the bucket lower-cased
// (S3 bucket names are; a server that tells "Data" from "data" apart
// loses only a name to a clash), the prefix without trailing "/"s.
func awsKey(bucket, prefix string) string {
	out := "s3://" + strings.ToLower(bucket)
	// A prefix of slashes alone is none: "s3://b?prefix=/" had a key of
	// its own, and its key ("prefix=") another, neither that of "s3://b".
	if p := strings.TrimRight(prefix, "/"); p != "" {
		out += "?" + url.Values{"prefix": {p}}.Encode()
	}
	return out
}

// namedServerKey is the key of bucket with prefix on a server reached by
// name (srv.host, srv.port): the host a virtual-hosted request to it would
// name, with every name the prefix begins with that could be a bucket put
// before it too (path-style, such a name is the bucket, and the host's
// first name part of the server's), and the prefix's rest. A bucket or a
// server's name with a ":" cannot be put in a host, and no s3 URL that
// opens names one: the URL is itself.
func namedServerKey(bucket string, srv s3Srv, prefix string) (string, bool) {
	if strings.Contains(bucket, ":") || strings.Contains(srv.host, ":") {
		return "", false
	}
	host := strings.ToLower(bucket) + "." + srv.host
	p := strings.TrimRight(prefix, "/")
	for p != "" {
		seg, rest, _ := strings.Cut(p, "/")
		if !hostBucket(seg) {
			break
		}
		host, p = strings.ToLower(seg)+"."+host, rest
	}
	addr, ok := catalog.ServerAddress(host, srv.port)
	if !ok {
		return "", false
	}
	out := "s3://" + addr
	if p != "" {
		out += "?" + url.Values{"prefix": {p}}.Encode()
	}
	return out, true
}

// hostBucket reports whether a name the prefix begins with could be a
// bucket the opener puts in a host: one minio-go takes as a bucket name,
// lower-cased as the bucket is, without the ":" no host name holds.
func hostBucket(seg string) bool {
	l := strings.ToLower(seg)
	return !strings.Contains(l, ":") && s3utils.CheckValidBucketName(l) == nil
}

// s3Flag reads a boolean parameter as openS3 does: empty is false, and ok
// is false where openS3 refuses the value.
func s3Flag(q url.Values, name string) (v, ok bool) {
	s := q.Get(name)
	if s == "" {
		return false, true
	}
	b, err := strconv.ParseBool(s)
	return b, err == nil
}

// s3Srv is the server an s3 URL's endpoint parameter names, as the opener
// reaches it.
type s3Srv struct {
	// aws: one of AWS S3's endpoints, where a bucket is one bucket
	// whatever region, scheme or port; hostBucket is the bucket its host
	// names, if any (virtual-hosted).
	aws        bool
	hostBucket string
	// ip: an IP address, addr its host:port in one form.
	ip   bool
	addr string
	// host (lower-case, no trailing ".") and port of any other server.
	host, port string
}

// s3Server reads an s3 URL's endpoint parameter as openS3 reads it (an
// endpoint without a scheme speaks https, or http with disable_https): the
// host lower-cased without a trailing ".", an IP address in its one form
// (IPv6 groups as net.IP writes them, an IPv4-mapped address as the IPv4
// one it is dialled as), the port a number, the scheme's own filled in.
// The scheme is left out: one address is one server, whichever it speaks.
// ok is false where openS3 refuses the endpoint.
func s3Server(ep string, noHTTPS bool) (s3Srv, bool) {
	if !strings.Contains(ep, "://") {
		if noHTTPS {
			ep = "http://" + ep
		} else {
			ep = "https://" + ep
		}
	}
	e, err := url.Parse(ep)
	if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.User != nil {
		return s3Srv{}, false
	}
	host := strings.TrimSuffix(strings.ToLower(e.Hostname()), ".")
	// The opener sends to AWS's own endpoint for the bucket's region
	// whatever host its pattern takes for AWS's (looser than AWS's
	// names: s3xfoo.amazonaws.com); a host of AWS's it does not take so
	// is sent to as it is, and AWS reads a bucket before it. Its pattern
	// reads the host as written (case and a trailing "." kept: S3.b.s3.…
	// is not AWS's to it, and b.s3.… goes to the bucket s3.b), and a
	// host beginning "s3-fips" it takes for AWS's but sends to as it is
	// (s3-fips.b.s3.<region>… names the bucket s3-fips.b). A PrivateLink
	// host its pattern takes (bucket.vpce-…) it sends to as it is, where
	// AWS reads the URL's bucket too; one with a bucket before it
	// (hb.bucket.vpce-…) it does not take, and AWS reads hb there
	// (catalog.AWSS3Host reads the word "bucket" or "accesspoint" before
	// vpce- as no name).
	if opened := (url.URL{Scheme: e.Scheme, Host: e.Host}); s3utils.IsAmazonEndpoint(opened) && !s3utils.IsAmazonFIPSEndpoint(opened) {
		return s3Srv{aws: true}, true
	}
	if _, hb, ok := catalog.AWSS3Host(host); ok {
		return s3Srv{aws: true, hostBucket: hb}, true
	}
	port := e.Port()
	if port == "" {
		port = "443"
		if e.Scheme == "http" {
			port = "80"
		}
	}
	if net.ParseIP(host) != nil {
		addr, ok := catalog.ServerAddress(host, port)
		return s3Srv{ip: true, addr: addr}, ok
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return s3Srv{}, false
	}
	return s3Srv{host: host, port: port}, true
}
