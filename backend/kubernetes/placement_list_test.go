package kubernetes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/textsafe"
)

// TestPlacementListOfNodesKeepsWhatItReads: with no Node Ready in the
// cache, Submit lists the site's Nodes once, and kept each listed Node
// whole: the names of Nodes the API server sent (up to the megabytes of a
// page) went as sent into Submit's error, which names the Nodes when none
// offers the site's GPU resource, and on into the run's reason and the
// logs: terminal escapes, line breaks and megabytes. Listed Nodes are
// kept as the cache keeps them (trimCached), and a name no real Node has
// is shown quoted and cut.
func TestPlacementListOfNodesKeepsWhatItReads(t *testing.T) {
	h, b := newHostile(t, nil)
	// n1 not Ready in the cache.
	h.f.put("nodes", fakeNode("n1", "False"))
	eventually(t, "the cache did not see n1 not Ready", func() bool {
		o, ok, _ := b.watch.nodesI.GetStore().GetByKey("n1")
		return ok && !nodeReady(o.(*apiNode))
	})
	long := "node-\x1b]0;owned\x07\n" + strings.Repeat("z", 1<<20)
	h.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/nodes") || r.URL.Query().Get("watch") == "true" {
			return false
		}
		items := []any{}
		for i := range 3 {
			n := fakeNode(fmt.Sprint(long, i), "True")
			meta(n)["annotations"] = map[string]any{"padding": strings.Repeat("p", 1<<20)}
			items = append(items, n)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "v1", "kind": "NodeList", "metadata": map[string]any{"resourceVersion": "9"}, "items": items})
		return true
	})
	_, err := b.Submit(testContext(t), gpuSpec(1))
	if err == nil {
		t.Fatal("Submit succeeded; want no node offering the GPU resource")
	}
	text := err.Error()
	if !strings.Contains(text, "backend.gpuResource") {
		t.Errorf("Submit's error %.300q does not say no node offers the resource", text)
	}
	if len(text) > 4<<10 {
		t.Errorf("Submit's error is %d bytes; want the names cut", len(text))
	}
	if !textsafe.Safe(text) {
		t.Errorf("Submit's error holds what textsafe flags: %.300q", text)
	}
}
