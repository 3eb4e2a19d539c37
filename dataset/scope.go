package dataset

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

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
const StoreKeyFormat = "2"

// StoreKey is the key under which a store's data is owned: the URL as it
// opens, so that two spellings of one place are one key. A file URL is its
// directory, cleaned and absolute (file:///srv/store, file:///srv//store/
// and file:///srv/store/. are one store). An s3 URL is what names its
// data: the bucket (lower-cased), the server (endpoint) and the prefix
// without trailing "/"s (one of "/"s alone is none); the parameters that
// only say how the client reaches or reads it (read_idle, part_size,
// profile, anonymous, use_path_style, disable_https, region) are left
// out, and so is a parameter given empty. Where unsure, two spellings are
// one key: a tenant refused a name is a lesser harm than two tenants
// owning one store's data. A URL that does not parse, one that openS3
// refuses (an unknown or repeated parameter, an endpoint it cannot read),
// or one of another scheme, is itself.
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
		if u.Host == "" || u.Path != "" && u.Path != "/" {
			return raw
		}
		q := u.Query()
		for k, v := range q {
			if _, ok := s3Params[k]; !ok || len(v) != 1 {
				return raw
			}
		}
		key := url.Values{}
		// A prefix of slashes alone is none: "s3://b?prefix=/" had a
		// key of its own, and its key ("prefix=") another, neither
		// that of "s3://b".
		if p := strings.TrimRight(q.Get("prefix"), "/"); p != "" {
			key.Set("prefix", p)
		}
		noHTTPS := false
		if v := q.Get("disable_https"); v != "" {
			if noHTTPS, err = strconv.ParseBool(v); err != nil {
				return raw
			}
		}
		if ep := q.Get("endpoint"); ep != "" {
			e, ok := s3EndpointKey(ep, noHTTPS)
			if !ok {
				return raw
			}
			if e != "" {
				key.Set("endpoint", e)
			}
		}
		// S3 bucket names are lower-case; a server that tells
		// "Data" from "data" apart loses only a name to a clash.
		out := "s3://" + strings.ToLower(u.Host)
		if len(key) > 0 {
			out += "?" + key.Encode()
		}
		return out
	}
	return raw
}

// s3EndpointKey is an s3 URL's endpoint parameter as the server it names,
// read as openS3 reads it (an endpoint without a scheme speaks https, or
// http with disable_https): host:port, the host lower-cased without a
// trailing ".", an IP address in its one form (IPv6 groups as net.IP
// writes them, an IPv4-mapped address as the IPv4 one it is dialled as),
// the port a number, the scheme's own filled in. The scheme is left out:
// one address is one server, whichever it speaks. AWS S3's own endpoints,
// global or regional, are "" (no endpoint): a bucket is one bucket at
// each; one whose host names a bucket (virtual-hosted) keeps its host.
// ok is false where openS3 refuses the endpoint.
func s3EndpointKey(ep string, noHTTPS bool) (key string, ok bool) {
	if !strings.Contains(ep, "://") {
		if noHTTPS {
			ep = "http://" + ep
		} else {
			ep = "https://" + ep
		}
	}
	e, err := url.Parse(ep)
	if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.User != nil {
		return "", false
	}
	host := strings.TrimSuffix(strings.ToLower(e.Hostname()), ".")
	if awsS3Endpoint(host) {
		return "", true
	}
	port := e.Port()
	if port == "" {
		port = "443"
		if e.Scheme == "http" {
			port = "80"
		}
	}
	return catalog.ServerAddress(host, port)
}

// awsS3Endpoint reports whether host (lower-case) is one of AWS S3's own
// endpoints naming no bucket: s3.amazonaws.com, s3.<region>.amazonaws.com,
// s3-<region>.amazonaws.com, s3.dualstack.<region>.amazonaws.com and
// their .amazonaws.com.cn kind. A bucket is the same bucket at each.
func awsS3Endpoint(host string) bool {
	rest, ok := strings.CutSuffix(host, ".amazonaws.com")
	if !ok {
		if rest, ok = strings.CutSuffix(host, ".amazonaws.com.cn"); !ok {
			return false
		}
	}
	first, _, _ := strings.Cut(rest, ".")
	return first == "s3" || strings.HasPrefix(first, "s3-")
}
