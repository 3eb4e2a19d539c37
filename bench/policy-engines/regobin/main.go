// Command regobin is the smallest program that prepares and runs the Rego
// module; its build time and size are the Rego side of the comparison.
package main

import (
	"context"
	"fmt"

	engines "meridian.dev/bench/policy-engines"
	"meridian.dev/bench/policy-engines/regoeng"
)

func main() {
	r, err := regoeng.NewRego(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Eval(context.Background(), engines.Candidates(1)[0]))
}
