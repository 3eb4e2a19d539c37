package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/screen"
)

// TestScreenImportOlderRefusedAndAudited: replaying an earlier
// publication of the CSL replaced the list and cleared every party listed
// since, and an import wrote nothing to the audit log of its own. A file
// whose newest start_date is older than the stored list's is refused
// unless --allow-older says it is meant; each import is written to the
// audit log (kind screening-import) with the file's hash, the stored
// list's and the ids it removes, which it prints.
func TestScreenImportOlderRefusedAndAudited(t *testing.T) {
	home, list, sst := screenImported(t)
	stored, err := sst.List()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	// The same parties, the newest listing (2025-03-25) dated years back.
	older := filepath.Join(t.TempDir(), "consolidated-older.csv")
	if err := os.WriteFile(older, []byte(strings.ReplaceAll(string(data), "2025-03-25", "2016-03-25")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "screen", "import", older)
	if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "2024-12-05") || !strings.Contains(err.Error(), "2025-03-25") ||
		!strings.Contains(err.Error(), "--allow-older") {
		t.Fatalf("an earlier publication: %v, want refused, naming both dates and --allow-older", err)
	}
	if l, err := sst.List(); err != nil || l.SHA256 != stored.SHA256 {
		t.Fatalf("the stored list after a refused import: %v", err)
	}
	if _, err := runCLI(t, "screen", "import", older, "--allow-older"); err != nil {
		t.Fatalf("an earlier publication said to be meant: %v", err)
	}
	// A file without one party: the import prints its id.
	var kept []string
	for _, ln := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(ln, "e1008,") {
			kept = append(kept, ln)
		}
	}
	trimmed := filepath.Join(t.TempDir(), "consolidated.csv")
	if err := os.WriteFile(trimmed, []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "screen", "import", trimmed, "--allow-partial")
	if err != nil || !strings.Contains(out, "removed e1008") || !strings.Contains(out, "0 entries added, 1 removed") {
		t.Fatalf("an import without e1008: %v\n%s\nwant the id removed printed", err, out)
	}

	recs := screeningImports(t)
	if len(recs) != 3 {
		t.Fatalf("%d screening imports in the audit log of %s, want the 3 imported", len(recs), home)
	}
	first, olderRec, last := recs[0], recs[1], recs[2]
	if first.SHA256 != stored.SHA256 || first.PreviousSHA256 != "" || first.Entries != 8 {
		t.Errorf("the first import's record: %+v", first)
	}
	if olderRec.PreviousSHA256 != stored.SHA256 || !olderRec.AllowedOlder || olderRec.NewestStartDate != "2024-12-05" || olderRec.PreviousNewestStartDate != "2025-03-25" {
		t.Errorf("the older file's record: %+v", olderRec)
	}
	if last.PreviousSHA256 != olderRec.SHA256 || len(last.Removed) != 1 || last.Removed[0] != "e1008" || last.Entries != 7 || last.PreviousEntries != 8 || !last.AllowedPartial {
		t.Errorf("the trimmed file's record: %+v", last)
	}
}

// TestScreenImportOverDamagedListRefused: a stored list blanked to "{}"
// was taken by screen import as no list, and an extract of one list
// replaced it unchecked. The command now refuses it (exit 2), naming the
// stored file and --replace-damaged, and changes nothing; with the flag
// it replaces it, and the audit record says why it was unchecked.
func TestScreenImportOverDamagedListRefused(t *testing.T) {
	_, list, sst := screenImported(t)
	data, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	extract := filepath.Join(t.TempDir(), "extract.csv")
	if err := os.WriteFile(extract, []byte(strings.Join(lines[:3], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(sst.Dir, "list.json")
	if err := os.WriteFile(stored, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "screen", "import", extract)
	if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), stored) || !strings.Contains(err.Error(), "--replace-damaged") {
		t.Fatalf("an extract over a blanked stored list: %v; want refused (exit 2) naming %s and --replace-damaged", err, stored)
	}
	if b, _ := os.ReadFile(stored); string(b) != "{}" {
		t.Fatalf("a refused import changed the stored list: %.80s", b)
	}
	if _, err := runCLI(t, "screen", "import", extract, "--replace-damaged"); err != nil {
		t.Fatalf("told to replace the damaged list: %v", err)
	}
	if l, err := sst.List(); err != nil || len(l.Entries) != 2 {
		t.Fatalf("the stored list after the replacement: %v %v", l, err)
	}
	recs := screeningImports(t)
	if len(recs) == 0 || recs[len(recs)-1].ReplacedDamaged == "" || recs[len(recs)-1].PreviousSHA256 != "" {
		t.Fatalf("the replacement's audit records: %+v; want the last to say why it was unchecked", recs)
	}
}

// screeningImports are the screening-import records of the state
// directory's audit log, in order.
func screeningImports(t *testing.T) []screen.ImportRecord {
	t.Helper()
	es := stateAuditOfKind(t, KindScreeningImport)
	recs := make([]screen.ImportRecord, len(es))
	for i, e := range es {
		if err := json.Unmarshal(e.Payload, &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}
