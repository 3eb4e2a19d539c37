package dataset

import (
	"context"
	"path/filepath"
	"testing"
)

// TestStoreThatSaysNothingResends: a store whose system does not say its
// writes send each body once is taken to send it again (fail closed); a
// file store says so, and its Sub stores with it.
func TestStoreThatSaysNothingResends(t *testing.T) {
	st, err := OpenStore(context.Background(), "file://"+filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.SendsEachBodyOnce() || !st.Sub("t/a/").SendsEachBodyOnce() {
		t.Fatal("a file store does not say its writes send each body once")
	}
	silent := &Store{b: struct{ bucket }{st.b}, URL: st.URL}
	if silent.SendsEachBodyOnce() {
		t.Fatal("a store that says nothing is taken to send each body once")
	}
}
