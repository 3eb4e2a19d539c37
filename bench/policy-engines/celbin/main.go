// Command celbin is the smallest program that compiles and runs one CEL
// rule; its build time and size are the CEL side of the comparison.
package main

import (
	"fmt"

	engines "meridian.dev/bench/policy-engines"
	"meridian.dev/bench/policy-engines/celeng"
)

func main() {
	c, err := celeng.NewCEL()
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Eval(engines.Candidates(1)[0]))
}
