package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestResultJSONNames pins the JSON names that readers of `audit verify
// -o json` and of the server's answer use for the anchor beside a break
// (anchorProblem, cutSeq), and keeps the log's key (LogKey), which only a
// start's acceptance reads, out of it.
func TestResultJSONNames(t *testing.T) {
	r := Result{Problem: &Problem{Seq: 3, Kind: Modified}, AnchorProblem: &Problem{Seq: 6, Kind: AnchorReplaced}, AnchorCutSeq: 6, LogKey: "k3y"}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if string(m["cutSeq"]) != "6" || !strings.Contains(string(m["anchorProblem"]), AnchorReplaced) {
		t.Errorf("JSON %s: want anchorProblem and cutSeq", b)
	}
	if strings.Contains(string(b), "k3y") {
		t.Errorf("JSON %s carries the log's key", b)
	}
}
