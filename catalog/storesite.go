package catalog

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Where a dataset's data is, as the law judges it, is its spec.location; the
// bytes are read from its spec.store. When the store lies in a catalog
// site's store, the site (registered state) says where the data is, not the
// tenant's document: a location naming another site, or a country other
// than the site's, would let data leave one country while the law judged it
// leaving another. When the store is no site's (the tenant's own storage),
// the declared location stands.

// storePlace is a store URL reduced to what names a place: the scheme, the
// bucket (s3) and the key prefix or directory, cleaned and lower-cased, so
// that spellings of one place compare equal. Lower-casing and cleaning can
// only make two places compare equal that are not, which errs towards
// finding a site's store (and refusing a contradicting location).
type storePlace struct {
	scheme, endpoint, bucket, path string
	// keys is, for s3, the prefix as the keys read are spelled: S3 keeps
	// "." and ".." in a key as they are, so "sites/s1/../x" names keys
	// beneath sites/s1 (path holds it cleaned, sites/x). Either places a
	// store in a site's.
	keys string
	// raw is, for s3, the prefix exactly as the store puts it before
	// every key (lower-cased): a store's keys are raw plus the key, with
	// no "/" between, so a site whose prefix is "s1" holds the keys of a
	// store whose prefix is "s10/x" too.
	raw string
}

// AWSS3Host is awsS3, for dataset.StoreKey: a store's key and its place
// must read a bucket in an endpoint's host alike.
func AWSS3Host(host string) (partition, hostBucket string, ok bool) { return awsS3(host) }

// awsS3 reads host (lower-case, no port) as one of AWS S3's endpoints:
// the global one, a regional one (s3.<region>.amazonaws.com,
// s3-<region>.amazonaws.com, dualstack, FIPS, accelerate, PrivateLink),
// each perhaps with a bucket before it (virtual-hosted:
// bucket.s3.<region>.amazonaws.com). It returns the partition, whose
// buckets share one namespace whatever region an endpoint names (a bucket
// is the same bucket at every regional endpoint and over either scheme),
// and the bucket the host names ("" for none).
func awsS3(host string) (partition, hostBucket string, ok bool) {
	var rest string
	switch {
	case strings.HasSuffix(host, ".amazonaws.com.cn"):
		partition, rest = "aws-cn", strings.TrimSuffix(host, ".amazonaws.com.cn")
	case strings.HasSuffix(host, ".amazonaws.com"):
		partition, rest = "aws", strings.TrimSuffix(host, ".amazonaws.com")
	default:
		return "", "", false
	}
	// The service label is the last "s3" or "s3-…" one: a bucket before it
	// may be named so too (s3-data.s3.eu-west-1.amazonaws.com), a region
	// after it never is.
	labels := strings.Split(rest, ".")
	for i := len(labels) - 1; i >= 0; i-- {
		if l := labels[i]; l != "s3" && !strings.HasPrefix(l, "s3-") {
			continue
		}
		before := labels[:i]
		// PrivateLink: <kind>.vpce-….s3.<region>.vpce.amazonaws.com, kind
		// the word "bucket" (or "accesspoint"), what is addressed, not a
		// name: AWS reads the bucket from the names before it.
		if n := len(before); n > 0 && strings.HasPrefix(before[n-1], "vpce-") {
			before = before[:n-1]
			if n := len(before); n > 0 && (before[n-1] == "bucket" || before[n-1] == "accesspoint") {
				before = before[:n-1]
			}
		}
		return partition, strings.Join(before, "."), true
	}
	return "", "", false
}

// s3Endpoint is an s3 URL's endpoint parameter reduced to the server it
// names, host:port lower-cased with the scheme's port filled in, read as
// dataset.OpenStore reads it: an endpoint without a scheme speaks https
// (http with disable_https=true), and none at all is AWS's own
// (s3.amazonaws.com, by the same rule). Buckets of one name on two
// servers are two places, and a tenant's own server must not pass for a
// site's because its bucket and prefix are spelled alike; nor may a site's
// server pass for another because its endpoint is spelled otherwise. Every
// endpoint of AWS S3 is the one server of its partition ("aws", "aws-cn"),
// whatever region, scheme or port it names; hostBucket is the bucket a
// virtual-hosted AWS endpoint names.
func s3Endpoint(raw string, noHTTPS bool) (ep, hostBucket string, ok bool) {
	if raw == "" {
		raw = "s3.amazonaws.com"
	}
	if !strings.Contains(raw, "://") {
		if noHTTPS {
			raw = "http://" + raw
		} else {
			raw = "https://" + raw
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if part, hb, ok := awsS3(host); ok {
		return part, hb, true
	}
	port := u.Port()
	switch {
	case port != "":
	case strings.EqualFold(u.Scheme, "https"):
		port = "443"
	case strings.EqualFold(u.Scheme, "http"):
		port = "80"
	default:
		return "", "", false
	}
	// Compared as spelled, a tenant's store on the site's server, written
	// otherwise, was not the site's.
	addr, ok := ServerAddress(host, port)
	return addr, "", ok
}

// ServerAddress is host:port in one text per server as the dialer reaches
// it: an IP address in its one form (an IPv6 address's groups as net.IP
// writes them, an IPv4-mapped one as the IPv4 address it is dialled as),
// and the port as a number (":09000" is ":9000"); ok is false for a port
// that is no number up to 65535. host is taken as given otherwise.
func ServerAddress(host, port string) (string, bool) {
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", false
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), true
}

// parseStorePlace reads a store URL as dataset.OpenStore opens it: file
// URLs by their directory (the host ignored but for "."), s3 URLs by bucket
// and prefix parameter on the server of its endpoint parameter (other
// parameters do not change the place). It returns every place the store
// may be, the first as spelled: a file store's directory also with its
// symbolic links resolved (the store is opened through them); an s3 store
// on a virtual-hosted AWS endpoint also as the bucket the host names, read
// path-style (the URL's bucket then begins the keys) or virtual-hosted
// (the URL's bucket before the host's).
func parseStorePlace(raw string) ([]storePlace, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, false
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		dir := u.Path
		if u.Host == "." {
			dir = "." + u.Path
		}
		if dir == "" {
			return nil, false
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, false
		}
		abs = filepath.Clean(abs)
		out := []storePlace{{scheme: "file", path: strings.ToLower(filepath.ToSlash(abs))}}
		if real := ResolveLinks(abs); real != abs {
			out = append(out, storePlace{scheme: "file", path: strings.ToLower(filepath.ToSlash(real))})
		}
		return out, true
	case "s3":
		if u.Host == "" {
			return nil, false
		}
		bucket := strings.ToLower(u.Host)
		// OpenStore refuses a disable_https it cannot read as a boolean.
		noHTTPS, _ := strconv.ParseBool(u.Query().Get("disable_https"))
		ep, hostBucket, ok := s3Endpoint(u.Query().Get("endpoint"), noHTTPS)
		if !ok {
			return nil, false
		}
		// OpenStore refuses a path and a prefix given twice; read as it
		// would be, either still names the keys beneath it.
		prefixes := append([]string{u.Path}, u.Query()["prefix"]...)
		rawPrefix := lowerKey(strings.TrimPrefix(u.Path, "/") + u.Query().Get("prefix"))
		out := []storePlace{s3Place(ep, bucket, prefixes, rawPrefix)}
		if hostBucket != "" {
			out = append(out,
				s3Place(ep, hostBucket, append([]string{bucket}, prefixes...), bucket+"/"+rawPrefix),
				s3Place(ep, bucket+"."+hostBucket, prefixes, rawPrefix))
		}
		return out, true
	}
	return nil, false
}

// s3Place is the place of the keys beneath prefixes (joined) in bucket on
// the server ep; raw is the prefix as the keys begin.
func s3Place(ep, bucket string, prefixes []string, raw string) storePlace {
	p := "/"
	var segs []string
	for _, v := range prefixes {
		p = path.Join(p, v)
		for _, seg := range strings.Split(v, "/") {
			if seg != "" {
				segs = append(segs, seg)
			}
		}
	}
	keys := lowerKey("/" + strings.Join(segs, "/"))
	return storePlace{scheme: "s3", endpoint: ep, bucket: bucket, path: lowerKey(path.Clean("/" + p)), keys: keys, raw: raw}
}

// lowerKey is a key prefix lower-cased a character at a time, each byte
// that is not part of one kept as it is. strings.ToLower writes every such
// byte as U+FFFD: a site's prefix ending in the first byte of a character
// ("\xd1") was no prefix, lower-cased, of a store's that completes it
// ("\xd1\x91", "ё"), whose keys begin with the site's all the same.
func lowerKey(s string) string {
	if utf8.ValidString(s) {
		return strings.ToLower(s)
	}
	var b strings.Builder
	for s != "" {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(s[0])
		} else {
			b.WriteString(strings.ToLower(s[:n]))
		}
		s = s[n:]
	}
	return b.String()
}

// ResolveLinks is the clean absolute dir with its symbolic links resolved,
// as far as its path exists: the part not yet there is kept as spelled.
// The part that exists is found by halving (a path exists only if its
// parent does), so that a path of n names costs log n resolutions, not n:
// a document naming a path thousands of names deep must not cost millions
// of system calls.
func ResolveLinks(dir string) string {
	if real, err := evalSymlinks(dir); err == nil {
		return real
	}
	sep := string(filepath.Separator)
	parts := strings.Split(dir, sep)
	prefix := func(k int) string {
		if p := strings.Join(parts[:k], sep); p != "" {
			return p
		}
		return sep
	}
	// prefix(lo) exists, resolved as real; prefix(len(parts)) does not.
	lo, hi := 1, len(parts)-1
	real, err := evalSymlinks(prefix(lo))
	if err != nil {
		return dir
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if r, err := evalSymlinks(prefix(mid)); err == nil {
			lo, real = mid, r
		} else {
			hi = mid - 1
		}
	}
	return filepath.Join(append([]string{real}, parts[lo:]...)...)
}

// evalSymlinks is filepath.EvalSymlinks; a variable for tests.
var evalSymlinks = filepath.EvalSymlinks

// within reports whether p is q or lies beneath it at a "/" boundary, or,
// for s3, whether every key p reads begins with q's prefix.
func (p storePlace) within(q storePlace) bool {
	if p.scheme != q.scheme || p.endpoint != q.endpoint || p.bucket != q.bucket {
		return false
	}
	if p.scheme == "s3" && strings.HasPrefix(p.raw, q.raw) {
		return true
	}
	for _, a := range []string{p.path, p.keys} {
		for _, b := range []string{q.path, q.keys} {
			if a != "" && b != "" && beneath(a, b) {
				return true
			}
		}
	}
	return false
}

// anyWithin reports whether one of the places ps may be lies in one of qs.
func anyWithin(ps, qs []storePlace) bool {
	for _, p := range ps {
		for _, q := range qs {
			if p.within(q) {
				return true
			}
		}
	}
	return false
}

// beneath reports whether the "/"-separated path a is b or lies beneath it.
func beneath(a, b string) bool {
	return a == b || b == "/" || strings.HasPrefix(a, b+"/")
}

// StoreSites returns the sites among sites whose spec.store holds storeURL,
// sorted by name.
func StoreSites(storeURL string, sites []*Site) []*Site {
	p, ok := parseStorePlace(storeURL)
	if !ok {
		return nil
	}
	var out []*Site
	for _, s := range sites {
		if s == nil || s.Spec.Store == "" {
			continue
		}
		if q, ok := parseStorePlace(s.Spec.Store); ok && anyWithin(p, q) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out
}

// DatasetLocation is where d's data is, as the law must judge it: the
// site whose store holds d's spec.store when there is one, else d's
// declared spec.location ("" for its origin country). A declared location
// that contradicts the site (another site's name, or a country other than
// the site's) is an error naming spec.location and spec.store, as is a
// store that lies in the stores of sites in different countries.
func DatasetLocation(d *Dataset, sites []*Site) (string, error) {
	if d.Spec.Store == "" {
		return d.Spec.Location, nil
	}
	in := StoreSites(d.Spec.Store, sites)
	if len(in) == 0 {
		return d.Spec.Location, nil
	}
	country := in[0].Spec.Country
	names := make([]string, len(in))
	for i, s := range in {
		names[i] = s.Metadata.Name
		if s.Spec.Country != country {
			return "", fmt.Errorf("dataset %s: spec.store %q lies in the stores of sites in different countries (%s), so where the data is cannot be determined",
				d.Metadata.Name, d.Spec.Store, strings.Join(names[:i+1], ", "))
		}
	}
	loc := d.Spec.Location
	for _, s := range in {
		if loc == s.Metadata.Name {
			return loc, nil
		}
	}
	// The innermost site's store is the most specific answer: the
	// longest place, not the longest URL (query parameters are no place).
	best, bestLen := in[0], placeLen(in[0].Spec.Store)
	for _, s := range in[1:] {
		if n := placeLen(s.Spec.Store); n > bestLen {
			best, bestLen = s, n
		}
	}
	if loc == "" || loc == country {
		return best.Metadata.Name, nil
	}
	return "", fmt.Errorf("dataset %s: spec.location %q contradicts spec.store %q, which is in the store of site %s (%s): the data is there; name %s as spec.location, or omit it",
		d.Metadata.Name, loc, d.Spec.Store, best.Metadata.Name, country, best.Metadata.Name)
}

// Located returns d with spec.location set to DatasetLocation's answer: d
// itself when that is its declared location, else a copy.
func Located(d *Dataset, sites []*Site) (*Dataset, error) {
	loc, err := DatasetLocation(d, sites)
	if err != nil {
		return nil, err
	}
	return locatedAt(d, loc), nil
}

// locatedAt is d with spec.location loc: d itself when that is its
// declared location, else a copy.
func locatedAt(d *Dataset, loc string) *Dataset {
	if loc == d.Spec.Location {
		return d
	}
	c := *d
	c.Spec.Location = loc
	return &c
}

// datasetLocation is DatasetLocation, as the catalog's assembly calls it
// (a test counts the calls).
var datasetLocation = DatasetLocation

// placeLen is the length of the directory or prefix a store URL names
// (its stores all parse: StoreSites kept only those).
func placeLen(raw string) int {
	p, _ := parseStorePlace(raw)
	return len(p[0].path)
}
