package catalog

import (
	"os"
	"path/filepath"
	"testing"
)

func locationOf(t *testing.T, store string, sites ...*Site) string {
	t.Helper()
	d := &Dataset{Metadata: Metadata{Name: "d"}, Spec: DatasetSpec{Origin: "SG", Store: store}}
	got, err := DatasetLocation(d, sites)
	if err != nil {
		t.Fatalf("store %s: %v", store, err)
	}
	return got
}

// TestS3PrefixWithoutSlashHoldsLongerNames: a store puts its prefix before
// every key with no "/" between, so a site whose prefix is "s1" holds the
// keys of a store whose prefix is "s10/x" (they begin "s1"). Judged at "/"
// boundaries only, such a dataset was not the site's, and kept the location
// its tenant declared.
func TestS3PrefixWithoutSlashHoldsLongerNames(t *testing.T) {
	site := &Site{Metadata: Metadata{Name: "s-1"}, Spec: SiteSpec{Country: "SG", Store: "s3://lab-data?prefix=s1"}}
	for store, want := range map[string]string{
		"s3://lab-data?prefix=s10/x":      "s-1",
		"s3://lab-data?prefix=s1meridian": "s-1",
		"s3://lab-data?prefix=s1":         "s-1",
		"s3://lab-data?prefix=s2/x":       "",
		"s3://lab-data?prefix=s":          "",
	} {
		if got := locationOf(t, store, site); got != want {
			t.Errorf("store %s: location %q, want %q", store, got, want)
		}
	}
	// A site whose prefix ends in "/" holds only what lies beneath it.
	slash := &Site{Metadata: Metadata{Name: "s-1"}, Spec: SiteSpec{Country: "SG", Store: "s3://lab-data?prefix=s1/"}}
	if got := locationOf(t, "s3://lab-data?prefix=s10/x", slash); got != "" {
		t.Errorf("store s10/x beside a site at s1/: location %q, want none", got)
	}
}

// TestFileStoreThroughALinkIsTheSites: a file store whose directory is a
// symbolic link into a site's directory (or lies beneath one) is opened
// through the link, in the site's directory. Compared as spelled only, it
// was not the site's, and kept the location its tenant declared.
func TestFileStoreThroughALinkIsTheSites(t *testing.T) {
	dir := t.TempDir()
	siteDir := filepath.Join(dir, "sites", "s1")
	if err := os.MkdirAll(filepath.Join(siteDir, "t"), 0o755); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(dir, "own")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(siteDir, filepath.Join(own, "into-site")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "sites"), filepath.Join(dir, "all-sites")); err != nil {
		t.Fatal(err)
	}
	site := &Site{Metadata: Metadata{Name: "s-1"}, Spec: SiteSpec{Country: "SG", Store: "file://" + siteDir}}
	for store, want := range map[string]string{
		"file://" + filepath.Join(own, "into-site"):               "s-1",
		"file://" + filepath.Join(own, "into-site", "t"):          "s-1",
		"file://" + filepath.Join(own, "into-site", "not", "yet"): "s-1",
		"file://" + filepath.Join(dir, "all-sites", "s1", "t"):    "s-1",
		"file://" + filepath.Join(own, "data"):                    "",
		"file://" + filepath.Join(dir, "all-sites", "s10"):        "",
	} {
		if got := locationOf(t, store, site); got != want {
			t.Errorf("store %s: location %q, want %q", store, got, want)
		}
	}
	// The site's own directory spelled through a link is the site's too.
	linked := &Site{Metadata: Metadata{Name: "s-1"}, Spec: SiteSpec{Country: "SG", Store: "file://" + filepath.Join(dir, "all-sites", "s1")}}
	if got := locationOf(t, "file://"+filepath.Join(siteDir, "t"), linked); got != "s-1" {
		t.Errorf("a store in a site's directory named through a link: location %q, want s-1", got)
	}
}

// TestAWSEndpointsAreOneServer: every endpoint of AWS S3 reaches the same
// buckets (a bucket's name is unique across its partition, whatever region
// the endpoint names), and a virtual-hosted endpoint names the bucket in
// its host. Compared as host and port, a dataset in an AWS site's bucket
// reached through a regional endpoint was not the site's, and kept the
// location its tenant declared.
func TestAWSEndpointsAreOneServer(t *testing.T) {
	site := &Site{Metadata: Metadata{Name: "aws"}, Spec: SiteSpec{Country: "SG", Store: "s3://aws-data?prefix=sites/s2/&region=ap-southeast-1"}}
	regional := &Site{Metadata: Metadata{Name: "aws"}, Spec: SiteSpec{Country: "SG", Store: "s3://aws-data?prefix=sites/s2/&endpoint=https://s3.ap-southeast-1.amazonaws.com"}}
	for store, want := range map[string]string{
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://s3.eu-west-1.amazonaws.com":                     "aws",
		"s3://aws-data?prefix=sites/s2/d&endpoint=s3-us-west-2.amazonaws.com":                             "aws",
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://s3.dualstack.ap-southeast-1.amazonaws.com:443":  "aws",
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://S3.AP-SOUTHEAST-1.AMAZONAWS.COM.":               "aws",
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://s3-fips.us-east-1.amazonaws.com":                "aws",
		"s3://sites?prefix=s2/d&use_path_style=true&endpoint=https://aws-data.s3.eu-west-1.amazonaws.com": "aws",
		// PrivateLink: "bucket" before vpce- is a word, not a name.
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com":                     "aws",
		"s3://sites?prefix=s2/d&use_path_style=true&endpoint=https://aws-data.bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com": "aws",
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://s3.cn-north-1.amazonaws.com.cn":                                                "",
		"s3://aws-data?prefix=sites/s2/d&endpoint=https://s3.amazonaws.com.own.example":                                                  "",
		"s3://aws-data?prefix=sites/s3/d&endpoint=https://s3.eu-west-1.amazonaws.com":                                                    "",
		"s3://other?prefix=sites/s2/d&endpoint=https://s3.eu-west-1.amazonaws.com":                                                       "",
	} {
		for _, s := range []*Site{site, regional} {
			if got := locationOf(t, store, s); got != want {
				t.Errorf("store %s, site %s: location %q, want %q", store, s.Spec.Store, got, want)
			}
		}
	} // Addressed virtual-hosted, the URL's bucket goes before the host's.
	dotted := &Site{Metadata: Metadata{Name: "aws"}, Spec: SiteSpec{Country: "SG", Store: "s3://eu.data?prefix=p/"}}
	if got := locationOf(t, "s3://eu?prefix=p/d&endpoint=https://data.s3.amazonaws.com", dotted); got != "aws" {
		t.Errorf("a store in the bucket eu.data addressed as eu at data.s3.amazonaws.com: location %q, want aws", got)
	}
	// A bucket named like the service ("s3-…", "s3") is still the bucket.
	named := &Site{Metadata: Metadata{Name: "aws"}, Spec: SiteSpec{Country: "SG", Store: "s3://s3-data?prefix=p/"}}
	for _, store := range []string{
		"s3://p?prefix=d&use_path_style=true&endpoint=https://s3-data.s3.eu-west-1.amazonaws.com",
		"s3://p?prefix=d&use_path_style=true&endpoint=https://s3-data.s3-eu-west-1.amazonaws.com",
		"s3://p?prefix=d&use_path_style=true&endpoint=https://s3-data.s3.amazonaws.com",
	} {
		if got := locationOf(t, store, named); got != "aws" {
			t.Errorf("store %s in the bucket s3-data: location %q, want aws", store, got)
		}
	}
}
