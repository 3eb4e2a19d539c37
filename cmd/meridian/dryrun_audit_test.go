package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// snapshotTree maps every file under root to its mode, size, modification
// time and the SHA-256 of its contents, so that a command that writes
// nothing leaves it equal.
func snapshotTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			out[rel+"/"] = fi.Mode().String()
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = fmt.Sprintf("%v %d %s %s", fi.Mode(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano), hex.EncodeToString(sum[:]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDatasetStageDryRunWritesNothing: a dry run only asks the law. On a
// state directory whose database exists (it reads the ledger for volume
// thresholds) it used to open the audit store for writing, which created
// the anchor key and wrote a first anchor: a dry run must leave the state
// directory as it found it.
func TestDatasetStageDryRunWritesNothing(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello\n"), 0o644)
	siteFile := testSiteFile(t, dir, "file://"+filepath.Join(dir, "sitestore"))
	if _, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	// A database with a log, as an older version (or a server with its
	// anchor elsewhere) leaves it: no anchor in STATE/anchor.
	ctx := context.Background()
	key, err := audit.LoadKey(home)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(ctx, filepath.Join(home, "meridian.db"), store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.NewLog(db).Append(ctx, "note", "", map[string]string{"by": "test"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := snapshotTree(t, home)

	out, err := runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile, "--dry-run", "--as-of", "2026-01-15")
	if err != nil || !strings.Contains(out, "would be allowed") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	after := snapshotTree(t, home)
	for p, v := range after {
		if before[p] != v {
			t.Errorf("the dry run wrote %s", p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("the dry run removed %s", p)
		}
	}
}
