package dataset

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"meridian.dev/meridian/internal/textsafe"
)

// TestCheckPathTextsafeSet: a path is refused for holding exactly the
// characters that no place showing text lets through as themselves
// (textsafe.Unsafe): C0 and C1 controls, DEL, bidirectional overrides,
// embeddings and isolates, the line and paragraph separators, invisible
// characters; and a joiner or mark where no word needs it
// (textsafe.Contextual, between two Latin letters here). Before,
// only C0 controls and DEL were refused, so a file named
// "report-\u202efdp.exe" in a dataset or a checkpoint was kept, and shown
// as "report-exe.pdf" wherever its name was printed as it is.
func TestCheckPathTextsafeSet(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) || r == 0 || r == '/' || r == '\\' || r == '.' {
			continue // refused or allowed for reasons of their own
		}
		p := "dir/a" + string(r) + "b"
		err := CheckPath(p)
		if refused := err != nil; refused != (textsafe.Unsafe(r) || textsafe.Contextual(r) && !textsafe.Fits('a', r, 'b')) {
			t.Fatalf("CheckPath(%q) = %v; textsafe.Unsafe(%U) = %v", p, err, r, textsafe.Unsafe(r))
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%U at byte 5", r)) {
			t.Fatalf("CheckPath(%q) = %v; want it to name %U and where", p, err, r)
		}
	}
	// Marks and joiners that names written in some scripts need stay.
	for _, p := range []string{"Zürich/\u200fשלום\u200e.txt", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "emoji-\U0001f469\u200d\U0001f52c"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q): %v", p, err)
		}
	}
}

// TestManifestRefusesReorderedPath: a manifest (a checkpoint's, which a
// workload writes) naming a file with a bidirectional override is refused,
// the error naming the field and the character, escaped.
func TestManifestRefusesReorderedPath(t *testing.T) {
	for _, p := range []string{"report-\u202efdp.exe", "x\u2066y", "line\u2028forged", "c1\u009b31m"} {
		m := &Manifest{Version: ManifestVersion, Dataset: "ck", Files: []File{{Path: "a"}, {Path: p}}}
		err := m.Validate()
		if err == nil || !strings.Contains(err.Error(), "files[1].path") || !textsafe.Safe(err.Error()) {
			t.Errorf("manifest with path %q: %v; want files[1].path refused, shown escaped", p, err)
		}
	}
}

// TestTarEntryNameEscaped: a tar entry refused for its type is named in
// the error escaped: a joiner or other invisible character in the name
// (which a path may hold where a word needs it) is written out, not drawn
// as nothing. Before,
// the name was written as it is.
func TestTarEntryNameEscaped(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "state\u0645\u06cc\u200c\u062e.bin", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
	tw.Close()
	store, _ := newStore(t)
	_, err := AddTar(context.Background(), "ck", &buf, store, fuzzSealer(t), 4, 4096)
	if err == nil || !strings.Contains(err.Error(), "tar entry \"state\u0645\u06cc"+`\u200c`+"\u062e.bin\": type") {
		t.Fatalf("AddTar = %v; want the entry named with its zero-width non-joiner written out", err)
	}
}
