package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// pathPartHarness tells the error pathPart gives for each of input.ids.
const pathPartHarness = pagePrelude + `
import { pathPart } from "./api";
process.stdout.write(JSON.stringify(input.ids.map((id: unknown) => {
  try {
    return pathPart(id, "the run");
  } catch (e) {
    return (e as Error).message;
  }
})));
`

// TestPathPartQuotesBounded: a run's id the console cannot send (it holds
// half of a character) is quoted in the error the page shows bounded, as
// a heading shows a name (nameShown). Before, the error quoted it whole,
// at whatever length the server's answer gave it.
func TestPathPartQuotesBounded(t *testing.T) {
	long := strings.Repeat("A", 5000)
	ids := []json.RawMessage{json.RawMessage(`"` + long + `\ud800"`), json.RawMessage(`"\ud800"`)}
	var out []string
	runHarness(t, pathPartHarness, map[string]any{"ids": ids}, &out)
	// The quote is "AAA…\ud800", 5008 characters: its first 128 shown.
	want := []string{
		`the run "` + long[:127] + fmt.Sprintf("… (%d more characters) is not text the console can send (it holds half of a character)", 5008-128),
		`the run "\ud800" is not text the console can send (it holds half of a character)`,
	}
	for i := range want {
		if i >= len(out) || out[i] != want[i] {
			got := ""
			if i < len(out) {
				got = out[i]
			}
			if len(got) > 300 {
				got = got[:150] + "…" + got[len(got)-150:]
			}
			t.Errorf("pathPart's error %d reads %q (%d bytes), want %q", i, got, len(got), want[i][:min(len(want[i]), 300)])
		}
	}
}
