package catalog

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzStorePlace: a tenant's spec.store is hostile, and whether it lies in
// a site's spec.store decides where the law sees its data leave from. For
// any pair of stores, finding the sites never panics. For a site store that
// parses: it is its own site's; and a store reading keys beneath the site's
// prefix (more appended to it) on the site's own server, its endpoint
// spelled another way that reaches that same server (case, a trailing dot,
// the scheme's port written out or with leading zeros, another text of
// the same IP address), is the site's too.
func FuzzStorePlace(f *testing.F) {
	for _, s := range []struct {
		site, tenant, more string
		spell              uint8
	}{
		{"s3://lab-data?prefix=sites/s1", "s3://lab-data?prefix=sites/s1/d", "/d", 0},
		{"s3://lab-data?prefix=sites/s1&endpoint=https://s3.site.example", "s3://lab-data?prefix=sites/s1/d&endpoint=S3.Site.Example:443", "0/x", 1},
		{"s3://lab-data?prefix=s1/&endpoint=http://10.1.2.3:9000", "s3://lab-data?prefix=s1/x&endpoint=http://10.1.2.3:9000", "x", 5},
		{"s3://lab-data?prefix=s1/&endpoint=http://[fd00::1]:9000&use_path_style=true", "s3://lab-data?endpoint=http://[fd00::1]:9000", "y", 4},
		{"s3://b?endpoint=minio.lab:9000&disable_https=true", "s3://b?endpoint=http://minio.lab:9000", "", 3},
		{"s3://aws-data?prefix=sites/s2/&region=ap-southeast-1", "s3://sites?prefix=s2/d&use_path_style=true&endpoint=https://aws-data.s3.eu-west-1.amazonaws.com", "d", 2},
		{"file:///srv/sites/s1", "file:///srv/sites/s1/../s1/d", "", 0},
		{"s3://lab-data?prefix=sites/s1/../x", "s3://lab-data?prefix=sites/s1x/../s1/data", "", 6},
	} {
		f.Add(s.site, s.tenant, s.more, s.spell)
	}
	f.Fuzz(func(t *testing.T, site, tenant, more string, spell uint8) {
		s := &Site{Metadata: Metadata{Name: "s"}, Spec: SiteSpec{Country: "SG", Store: site}}
		d := &Dataset{Metadata: Metadata{Name: "d"}, Spec: DatasetSpec{Origin: "SG", Location: "CN", Store: tenant}}
		_, _ = DatasetLocation(d, []*Site{s})
		StoreSites(tenant, []*Site{s})

		ps, ok := parseStorePlace(site)
		if !ok {
			return
		}
		if !anyWithin(ps, ps) {
			t.Fatalf("site store %q is not within itself: %+v", site, ps)
		}
		u, err := url.Parse(strings.TrimSpace(site))
		if err != nil || !strings.EqualFold(u.Scheme, "s3") {
			return
		}
		q := u.Query()
		noHTTPS, _ := strconv.ParseBool(q.Get("disable_https"))
		ep, ok := respellEndpoint(q.Get("endpoint"), noHTTPS, spell)
		if !ok {
			return
		}
		// The keys a store reads are its prefix (path, then parameter)
		// before each key: the tenant's, as OpenStore takes it, is the
		// site's with more after it.
		keys := strings.TrimPrefix(u.Path, "/") + q.Get("prefix") + more
		q.Set("endpoint", ep)
		q.Set("prefix", keys)
		u.Path, u.RawPath = "", ""
		u.RawQuery = q.Encode()
		beneath := u.String()
		pt, ok := parseStorePlace(beneath)
		if !ok {
			return // the site's bucket does not survive a round trip through url.URL
		}
		if !anyWithin(pt, ps) {
			t.Fatalf("store %q reads keys beneath site store %q on its server, but is not the site's\ntenant: %+v\nsite:   %+v", beneath, site, pt, ps)
		}
		if got := StoreSites(beneath, []*Site{s}); len(got) != 1 {
			t.Fatalf("StoreSites(%q) of site %q: %d sites, want 1", beneath, site, len(got))
		}
	})
}

// respellEndpoint writes the endpoint parameter raw (as OpenStore reads
// it) another way that reaches the same server: spell picks how.
func respellEndpoint(raw string, noHTTPS bool, spell uint8) (string, bool) {
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
	e, err := url.Parse(raw)
	if err != nil || e.Host == "" || e.User != nil || (e.Scheme != "http" && e.Scheme != "https") {
		return "", false
	}
	host, port := e.Hostname(), e.Port()
	if port == "" {
		port = "443"
		if e.Scheme == "http" {
			port = "80"
		}
	}
	switch spell % 7 {
	case 1:
		// ASCII only: other letters change in a round trip through case
		// ("ı" is "I" upper-cased, "i" lower-cased again).
		if !strings.ContainsFunc(host, func(r rune) bool { return r >= utf8.RuneSelf }) {
			host = strings.ToUpper(host)
		}
	case 2:
		if !strings.HasSuffix(host, ".") && net.ParseIP(host) == nil {
			host += "."
		}
	case 3:
		// the port written out (done above)
	case 4:
		port = "0" + port
	case 5:
		ip := net.ParseIP(host)
		switch {
		case ip == nil:
		case ip.To4() != nil:
			host = "::ffff:" + ip.To4().String()
		default:
			// every group written out in full
			groups := make([]string, 8)
			for i := range groups {
				groups[i] = fmt.Sprintf("%04x", uint16(ip[2*i])<<8|uint16(ip[2*i+1]))
			}
			host = strings.Join(groups, ":")
		}
	case 6:
		return strings.ToUpper(e.Scheme) + "://" + net.JoinHostPort(host, port), true
	}
	if strings.Contains(host, ":") || host == "" {
		if net.ParseIP(host) == nil {
			return "", false
		}
	}
	return e.Scheme + "://" + net.JoinHostPort(host, port), true
}
