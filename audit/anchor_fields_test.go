package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAnchorFieldsChecked: whoever can write the anchor directory can put
// a key of their own in anchor.key and sign any anchor.json with it (a log
// that names its anchor key then fails as replaced or cut, as it should).
// Only the signature was checked: the anchor's time, of any text up to
// 64 KiB, went into the problem's detail (truncated, diverged) and into
// the result as stored, escape sequences included, to the operator's
// terminal and to every tenant's verification; and an acceptance of that
// break (serve --accept-broken-audit records the anchor) grew past the
// size an acceptance may have, so it accepted nothing. An anchor whose
// seq, head or time is not one Meridian writes is now an error naming the
// file and the field.
func TestAnchorFieldsChecked(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	good := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC).Format(TimeLayout)
	for _, tc := range []struct {
		field string
		an    Anchor
	}{
		{"time", Anchor{Seq: 9, Head: es[2].Hash, Time: "\x1b]0;owned\x07" + strings.Repeat("x", 20<<10)}},
		{"time", Anchor{Seq: 9, Head: es[2].Hash, Time: "yesterday"}},
		{"head", Anchor{Seq: 9, Head: "\x1b[2J" + es[2].Hash[4:], Time: good}},
		{"seq", Anchor{Seq: -1, Head: es[2].Hash, Time: good}},
	} {
		dir := t.TempDir()
		a, err := OpenAnchors(dir)
		if err != nil {
			t.Fatal(err)
		}
		an := tc.an
		an.Key = hex.EncodeToString(a.pub)
		an.Sig = hex.EncodeToString(ed25519.Sign(a.priv, an.message()))
		b, err := json.Marshal(an)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, AnchorFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err = a.Read()
		if err == nil || !strings.Contains(err.Error(), AnchorFile) || !strings.Contains(err.Error(), "field "+tc.field) {
			t.Errorf("%s %.40q: read %v; want an error naming %s and the field", tc.field, an.Time, err, AnchorFile)
			continue
		}
		controlFree(t, "error", err.Error())
		if len(err.Error()) > 1024 {
			t.Errorf("error of %d bytes", len(err.Error()))
		}
		if r, err := c.VerifyAnchored(entriesOf(es), a); err == nil {
			t.Errorf("%s: verified against the anchor: %+v", tc.field, r.Problem)
		}
		if err := a.Extend(context.Background(), 3, es[2].Hash, memLog(&es), time.Now()); err == nil {
			t.Errorf("%s: the anchor was extended", tc.field)
		}
	}

	// Nor is one written that Read would refuse.
	dir := t.TempDir()
	a, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Reset(context.Background(), 3, "\x1b[2J", time.Now()); err == nil {
		t.Error("an anchor of a head that is not a hash was written")
	}
	if _, ok, err := a.Read(); ok || err != nil {
		t.Errorf("after the refused write: anchor %v, %v; want none", ok, err)
	}
}

// TestAnchorParseErrorBounded: an anchor.json that is not an anchor is an
// error naming the file, of a bounded length: encoding/json quotes a
// number it cannot store whole, and an anchor of 60,000 digits made an
// error of 60 KB, printed by a server's start.
func TestAnchorParseErrorBounded(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"seq": ` + strings.Repeat("9", 60000) + `}`, `{"seq": "` + strings.Repeat("x", 60000) + `"}`, "\x1b]0;own\x07", `[1]`} {
		if err := os.WriteFile(filepath.Join(dir, AnchorFile), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := a.Read()
		if err == nil || !strings.Contains(err.Error(), AnchorFile) {
			t.Fatalf("read %.20q: %v; want an error naming %s", body, err, AnchorFile)
		}
		if len(err.Error()) > 1024 {
			t.Errorf("read %.20q: error of %d bytes", body, len(err.Error()))
		}
		controlFree(t, "error", err.Error())
	}
}
