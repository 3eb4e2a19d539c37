// Package demo holds the example sites and job that `meridian demo` runs,
// embedded so that the demo works from any directory.
package demo

import "embed"

// FS holds job.yaml and sites/*.yaml.
//
//go:embed job.yaml sites/*.yaml
var FS embed.FS
