package catalog

import (
	"encoding/json"
	"testing"
)

func TestDateJSONRoundTrip(t *testing.T) {
	type wrap struct {
		D Date `json:"d"`
	}
	b, err := json.Marshal(wrap{MustDate("2025-12-15")})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"d":"2025-12-15"}` {
		t.Fatalf("marshal = %s, want the day only", b)
	}
	var back wrap
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.D.String() != "2025-12-15" {
		t.Fatalf("round trip = %q", back.D.String())
	}
	if err := json.Unmarshal([]byte(`{"d":"15/12/2025"}`), &back); err == nil {
		t.Fatal("a non-ISO date was accepted")
	}
}
