package local_test

import (
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T, stateDir string) backend.Backend {
		b, err := local.New(catalog.BackendSpec{Type: "local"}, stateDir)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func newLocalB(b *testing.B) *local.Local {
	b.Helper()
	l, err := local.New(catalog.BackendSpec{}, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return l
}
