// Package demo holds the example sites and job that `meridian demo` runs,
// embedded so that the demo works from any directory.
package demo

import "embed"

// FS holds job.yaml, sites/*.yaml and the rule pack the demo applies
// mid-run, rules/*.yaml.
//
//go:embed job.yaml sites/*.yaml rules/*.yaml
var FS embed.FS
