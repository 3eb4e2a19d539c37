package catalog

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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
}

// s3Endpoint is an s3 URL's endpoint parameter reduced to the server it
// names, host:port lower-cased with the scheme's port filled in, read as
// dataset.OpenStore reads it: an endpoint without a scheme speaks https
// (http with disable_https=true), and none at all is AWS's own
// (s3.amazonaws.com, by the same rule). Buckets of one name on two
// servers are two places, and a tenant's own server must not pass for a
// site's because its bucket and prefix are spelled alike; nor may a site's
// server pass for another because its endpoint is spelled otherwise.
func s3Endpoint(raw string, noHTTPS bool) (string, bool) {
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
		return "", false
	}
	port := u.Port()
	switch {
	case port != "":
	case strings.EqualFold(u.Scheme, "https"):
		port = "443"
	case strings.EqualFold(u.Scheme, "http"):
		port = "80"
	default:
		return "", false
	}
	return strings.ToLower(u.Hostname()) + ":" + port, true
}

// parseStorePlace reads a store URL as dataset.OpenStore opens it: file
// URLs by their directory (the host ignored but for "."), s3 URLs by bucket
// and prefix parameter on the server of its endpoint parameter (other
// parameters do not change the place).
func parseStorePlace(raw string) (storePlace, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return storePlace{}, false
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		dir := u.Path
		if u.Host == "." {
			dir = "." + u.Path
		}
		if dir == "" {
			return storePlace{}, false
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return storePlace{}, false
		}
		return storePlace{scheme: "file", path: strings.ToLower(filepath.ToSlash(filepath.Clean(abs)))}, true
	case "s3":
		if u.Host == "" {
			return storePlace{}, false
		}
		p := "/" + strings.Trim(u.Path, "/")
		for _, v := range u.Query()["prefix"] {
			p = path.Join(p, v)
		}
		// OpenStore refuses a disable_https it cannot read as a boolean.
		noHTTPS, _ := strconv.ParseBool(u.Query().Get("disable_https"))
		ep, ok := s3Endpoint(u.Query().Get("endpoint"), noHTTPS)
		if !ok {
			return storePlace{}, false
		}
		var segs []string
		for _, v := range append([]string{u.Path}, u.Query()["prefix"]...) {
			for _, seg := range strings.Split(v, "/") {
				if seg != "" {
					segs = append(segs, seg)
				}
			}
		}
		keys := strings.ToLower("/" + strings.Join(segs, "/"))
		return storePlace{scheme: "s3", endpoint: ep, bucket: strings.ToLower(u.Host), path: strings.ToLower(path.Clean("/" + p)), keys: keys}, true
	}
	return storePlace{}, false
}

// within reports whether p is q or lies beneath it at a "/" boundary.
func (p storePlace) within(q storePlace) bool {
	if p.scheme != q.scheme || p.endpoint != q.endpoint || p.bucket != q.bucket {
		return false
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
		if q, ok := parseStorePlace(s.Spec.Store); ok && p.within(q) {
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
	if loc == d.Spec.Location {
		return d, nil
	}
	c := *d
	c.Spec.Location = loc
	return &c, nil
}

// placeLen is the length of the directory or prefix a store URL names
// (its stores all parse: StoreSites kept only those).
func placeLen(raw string) int {
	p, _ := parseStorePlace(raw)
	return len(p.path)
}
