package main

import (
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// noOutputFlag lists the verbs that print nothing a script would parse,
// each with the reason; every other runnable verb takes -o.
var noOutputFlag = map[string]string{
	"meridian serve":              "runs until stopped; its log is the output",
	"meridian agent":              "the attempt's entrypoint at a site; prints the workload's output",
	"meridian trainer":            "the example workload; prints its own progress lines",
	"meridian demo":               "a narrated walk-through for people",
	"meridian catalog":            "prints its help; its sub-verbs take -o",
	"meridian logs":               "a run's raw output",
	"meridian completion":         "prints a shell script",
	"meridian dataset unseal":     "writes plaintext files",
	"meridian dataset key":        "prints a key in its own format",
	"meridian agent sandbox-exec": "replaces itself with the workload",
}

// TestEveryVerbHasOutput: -o json|yaml|table|wide on every verb that
// prints, as the conventions promise; a verb without it must say why.
func TestEveryVerbHasOutput(t *testing.T) {
	var missing []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Hidden || strings.HasPrefix(c.Name(), "__") || c.Name() == "help" {
			return
		}
		path := c.CommandPath()
		if c.Flags().Lookup("output") != nil {
			if _, listed := noOutputFlag[path]; listed {
				t.Errorf("%s has -o but is listed as having none", path)
			}
			return
		}
		if _, ok := noOutputFlag[path]; !ok && !strings.HasPrefix(path, "meridian completion") {
			missing = append(missing, path)
		}
	}
	walk(newRootCmd())
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("verbs without -o: %s", strings.Join(missing, ", "))
	}
}
