package store

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// listingBefore is migration 7's: rules revisions written before it kept
// no listing, and it lists their files from their contents.
const listingBefore = 6

// oldRevisions are rules revisions as a server before migration 7 wrote
// them: files only, as JSON.
var oldRevisions = []map[string]string{
	{"b.yaml": "bee", "a.yaml": "ä<&>\n\"x\""},
	{},
	nil, // stored as null
}

// checkMigratedListing: each old revision lists its files' names and byte
// sizes, in name order, and still reads with its files.
func checkMigratedListing(t *testing.T, s interface {
	ListRuleRevisions(ctx context.Context, after int64, limit int) ([]*RuleRevisionInfo, error)
	GetRuleRevision(ctx context.Context, rev int64) (*RuleRevision, error)
}) {
	t.Helper()
	ctx := context.Background()
	page, err := s.ListRuleRevisions(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != len(oldRevisions) {
		t.Fatalf("%d revisions listed, want %d", len(page), len(oldRevisions))
	}
	for i, files := range oldRevisions {
		r := page[i]
		if diff := cmp.Diff(ruleListing(files), r.Files); diff != "" || r.Rev != int64(i+1) || r.Who != "ops" || r.Reason != "old" || r.CreatedAt.IsZero() {
			t.Errorf("revision %d: %+v (files -want +got:\n%s)", i+1, r, diff)
		}
		full, err := s.GetRuleRevision(ctx, int64(i+1))
		if err != nil || len(full.Files) != len(files) || full.Files["a.yaml"] != files["a.yaml"] {
			t.Errorf("revision %d with its files: %+v %v", i+1, full, err)
		}
	}
}

// TestSQLiteListingMigrated: a database with rules revisions from before
// the listing column lists them after it migrates.
func TestSQLiteListingMigrated(t *testing.T) {
	ctx := context.Background()
	path, db := sqliteMigratedTo(t, listingBefore)
	for i, files := range oldRevisions {
		b, _ := json.Marshal(files)
		if _, err := db.ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, files, who, reason, created_at) VALUES (?, 'h', ?, 'ops', 'old', ?)`,
			i+1, string(b), "2026-01-02T03:04:05.000000000Z"); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMigratedListing(t, s)
}

// TestPostgresListingMigrated is TestSQLiteListingMigrated on PostgreSQL.
func TestPostgresListingMigrated(t *testing.T) {
	ctx := context.Background()
	url, db, _, done := postgresMigratedTo(t, listingBefore)
	for i, files := range oldRevisions {
		b, _ := json.Marshal(files)
		if _, err := db.ExecContext(ctx, `INSERT INTO rule_revisions (rev, hash, files, who, reason, created_at) VALUES ($1, 'h', $2, 'ops', 'old', now())`,
			i+1, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	done()
	s, err := OpenPostgres(ctx, url, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMigratedListing(t, s)
}
