// Command gen writes the JSON Schema files of package schema. It is run by
// `go generate ./schema` from the schema directory.
package main

import (
	"fmt"
	"os"

	"meridian.dev/meridian/schema"
)

func main() {
	if err := schema.WriteAll(".", "../catalog"); err != nil {
		fmt.Fprintln(os.Stderr, "schema gen:", err)
		os.Exit(1)
	}
}
