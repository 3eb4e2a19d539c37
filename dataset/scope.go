package dataset

import (
	"net/url"
	"path/filepath"
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

// StoreKey is the key under which a store's data is owned: the URL as it
// opens, so that two spellings of one place are one key. A file URL is its
// directory, cleaned and absolute (file:///srv/store, file:///srv//store/
// and file:///srv/store/. are one store); an s3 URL its bucket and its
// parameters in order, those given empty left out, the prefix without
// trailing "/"s (one of "/"s alone is none). A URL that does
// not parse, or of another scheme, is itself.
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
		// A parameter given empty is one not given (openS3 reads
		// either as its default), and a prefix of slashes alone none:
		// "s3://b?prefix=/" had a key of its own, and its key
		// ("prefix=") another, neither that of "s3://b".
		for k, v := range q {
			if len(v) == 1 && v[0] == "" {
				q.Del(k)
			}
		}
		if p := strings.TrimRight(q.Get("prefix"), "/"); p != "" {
			q.Set("prefix", p)
		} else if len(q["prefix"]) == 1 {
			q.Del("prefix")
		}
		out := "s3://" + u.Host
		if len(q) > 0 {
			out += "?" + q.Encode()
		}
		return out
	}
	return raw
}
