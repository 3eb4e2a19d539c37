package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestTenantNameRefusalClipped: POST /v1/tenants quoted a tenant name it
// refused whole, up to the body's bound (4 MiB). It now names the field
// and quotes at most 64 bytes of the name, as the refusal of a path's
// value (DELETE /v1/tenants/{tenant}) does.
func TestTenantNameRefusalClipped(t *testing.T) {
	f := newFixture(t)
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(context.Background(), f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("X", 1<<20) + "TAIL"
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/tenants", `{"tenant":"` + long + `"}`},
		{"DELETE", "/v1/tenants/" + strings.Repeat("X", 16<<10) + "TAIL", ""},
	} {
		code, e := f.raw(t, tc.method, tc.path, tokOps, tc.body)
		if code != http.StatusBadRequest || e.Field != "tenant" {
			t.Errorf("%s %.40s: %d %.200v; want 400 naming tenant", tc.method, tc.path, code, e)
			continue
		}
		if len(e.Message) > 200 || strings.Contains(e.Message, "TAIL") || !strings.Contains(e.Message, `"XXXX`) {
			t.Errorf("%s %.40s: refusal of %d bytes (%.120q...), want the name quoted, at most 64 bytes of it", tc.method, tc.path, len(e.Message), e.Message)
		}
	}
}
