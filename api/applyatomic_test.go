package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

func orgDoc(name, hq string) run.Document {
	return run.Document{Name: name + ".yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: " + name + "}\nspec: {headquarters: " + hq + "}\n"}
}

// TestApplyRefusedRegistersNothing: POST /v1/resources refused for one of
// its documents (one that differs from the registered copy, without
// update) registers none of the others, nor audits them: the request
// failed, and a client that reads 409 has no reason to think part of it
// stands.
func TestApplyRefusedRegistersNothing(t *testing.T) {
	f := newFixture(t)
	body := func(docs ...run.Document) string {
		b, _ := json.Marshal(ApplyRequest{Documents: docs})
		return string(b)
	}
	if code, e := f.raw(t, "POST", "/v1/resources", tokA, body(orgDoc("lab", "SG"))); code != http.StatusOK {
		t.Fatalf("register lab: %d %+v", code, e)
	}
	_, before := f.counts(t)
	code, e := f.raw(t, "POST", "/v1/resources", tokA, body(orgDoc("lab2", "DE"), orgDoc("lab", "FR")))
	if code != http.StatusConflict {
		t.Fatalf("a changed copy of lab without update: %d %+v, want 409", code, e)
	}
	if r, err := f.st.GetResource(context.Background(), "a", "Organization", "lab2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused request registered lab2: %+v %v", r, err)
	}
	if _, after := f.counts(t); after != before {
		t.Errorf("the refused request wrote %d audit entries", after-before)
	}
}
