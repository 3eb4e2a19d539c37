package agent

import (
	"strings"
	"testing"
)

// TestLandlockSandboxNeedsScoping: the landlock sandbox, where the workload
// runs as the server's user, is refused on a kernel whose Landlock cannot
// scope signals (ABI below 6): the ruleset used to leave that out without
// a word, and the workload could stop or kill the server. The uid sandbox,
// where another user's processes are out of reach anyway, is not.
func TestLandlockSandboxNeedsScoping(t *testing.T) {
	real := landlockABI
	defer func() { landlockABI = real }()
	for abi, ok := range map[int]bool{0: false, 1: false, 5: false, 6: true, 7: true} {
		landlockABI = func() int { return abi }
		err := checkSandbox(Sandbox{Mode: SandboxLandlock})
		if ok != (err == nil) {
			t.Errorf("ABI %d: %v, want allowed %v", abi, err, ok)
		}
		if err != nil && abi > 0 && !strings.Contains(err.Error(), "ABI") {
			t.Errorf("ABI %d: the refusal does not say why: %v", abi, err)
		}
	}
}
