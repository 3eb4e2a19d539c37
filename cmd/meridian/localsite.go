package main

import (
	"fmt"
	"strconv"

	"meridian.dev/meridian/catalog"
)

// localSiteOptions describe the one runnable site a fresh `meridian serve`
// offers, so that a newcomer's `meridian run` works: jobs run as local
// processes on the server's machine. Its country is stated, never guessed.
type localSiteOptions struct {
	Name        string
	Country     string
	Accelerator string
	Count       int
	// CountryFrom says where the country came from, for the site's source.
	CountryFrom string
}

// Defaults of the local site.
const (
	defaultLocalSite        = "local"
	defaultLocalCountry     = "US"
	defaultLocalAccelerator = "nvidia-h100-sxm"
	defaultLocalCount       = 8
)

// localSite builds the local site as a catalog document, so that it is
// decoded and checked like every other site.
func localSite(o localSiteOptions) (*catalog.Site, error) {
	if o.Count < 1 {
		return nil, fmt.Errorf("--local-count %d: want 1 or more", o.Count)
	}
	doc := fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: %s}
spec:
  country: %s
  city: this machine
  location: {lat: 0, lon: 0}
  operator: {name: this server's operator, headquarters: %s}
  pools:
    - accelerator: %s
      count: %d
      available: %d
      pricePerHour: 0
      priceSource: "this machine: no rental price"
  network: {egressPerGB: 0, gbps: 10, source: "this machine: an assumption"}
  backend: {type: local}
  source: %s
`, o.Name, o.Country, o.Country, o.Accelerator, o.Count, o.Count,
		strconv.Quote(fmt.Sprintf("this machine, the server's local site (jobs run as local processes); its country %s is %s", o.Country, o.CountryFrom)))
	set, err := catalog.Decode("local site (serve --local-*)", []byte(doc))
	if err != nil {
		return nil, err
	}
	if len(set.Sites) != 1 {
		return nil, fmt.Errorf("local site: decoded %d sites", len(set.Sites))
	}
	return set.Sites[0], nil
}
