package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/store"
	"meridian.dev/meridian/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
