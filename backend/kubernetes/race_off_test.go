//go:build !race

package kubernetes

// raceEnabled: this test binary was built with the race detector, whose
// instrumented build allocates more than the product's.
const raceEnabled = false
