package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Output formats accepted by -o: wide is the table with more columns,
// where a verb has more to show (kubectl's -o wide).
var outputFormats = []string{"table", "wide", "json", "yaml"}

// addOutputFlag adds -o/--output to a read command.
func addOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", "table", "output format: table, wide, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return outputFormats, cobra.ShellCompDirectiveNoFileComp
	})
}

// render writes v as JSON or YAML, or calls table for people. JSON is
// indented and ends with a newline; YAML is converted from the same JSON so
// both carry the same field names. A struct is written a field and a list
// element at a time (stream.go), never whole in memory.
func render(w io.Writer, format string, v any, table func(io.Writer) error) error {
	switch format {
	case "json":
		return writeJSONStream(w, v)
	case "yaml":
		return writeYAMLStream(w, v)
	case "table", "wide", "":
		return table(w)
	default:
		return badInput(fmt.Errorf("-o %q: want one of table, wide, json, yaml", format))
	}
}

// renderTable is render for a verb whose table has a wide form (-o wide).
func renderTable(w io.Writer, format string, v any, table func(w io.Writer, wide bool) error) error {
	return render(w, format, v, func(w io.Writer) error { return table(w, format == "wide") })
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
