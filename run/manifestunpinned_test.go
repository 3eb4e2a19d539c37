package run

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/store"
)

// TestManifestRefusedWithoutPin: an attempt that records no digest of the
// manifest staged for a stored dataset (a row written by a server from
// before manifest pins) was sent the dataset's key with an empty pin,
// which the agent took as none: the site could serve any genuine version
// of the dataset. The manifest is now refused (409, no key), the error
// naming the dataset and what to do; the attempt as staged today, pinned,
// is answered.
func TestManifestRefusedWithoutPin(t *testing.T) {
	ctx := context.Background()
	f := newQueuedFixture(t)
	if pin := f.a.Manifests["corpus-c"]; len(pin) != 64 {
		t.Fatalf("attempt %d pins corpus-c to %q; want the staged manifest's SHA-256", f.a.N, pin)
	}
	if code, body := f.call(t, "GET", agent.RouteManifest, ""); code != http.StatusOK || !strings.Contains(body, f.a.Manifests["corpus-c"]) {
		t.Fatalf("manifest of the pinned attempt: %d; want 200 with its pin", code)
	}
	// The row as a server from before pins wrote it.
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		for i := range r.Attempts {
			r.Attempts[i].Manifests = nil
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	code, body := f.call(t, "GET", agent.RouteManifest, "")
	if sent := strings.Contains(body, f.key.String()); code != http.StatusConflict || sent {
		t.Fatalf("manifest of an unpinned attempt: %d, corpus-c's key sent: %v; want 409 with no key", code, sent)
	}
	if !strings.Contains(body, "corpus-c") || !strings.Contains(body, "before manifest pins") || !strings.Contains(body, "submit it again") {
		t.Errorf("refusal %q does not name the dataset, the cause and the remedy", body)
	}
	r, err := f.c.Get(ctx, "t1", f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var up *unpinnedError
	if _, err := f.c.manifest(ctx, r, r.Attempts[len(r.Attempts)-1]); !errors.As(err, &up) || up.dataset != "corpus-c" {
		t.Errorf("manifest of an unpinned attempt: %v; want an unpinnedError naming corpus-c", err)
	}
}
