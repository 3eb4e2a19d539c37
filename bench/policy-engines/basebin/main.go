// Command basebin uses only the standard library (fmt, context, sort); its
// cold build time is the baseline the CEL and Rego builds are compared with.
package main

import (
	"context"
	"fmt"

	engines "meridian.dev/bench/policy-engines"
)

func main() {
	fmt.Println(context.Background(), len(engines.Candidates(1)))
}
