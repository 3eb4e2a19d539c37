package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzReadAnchor reads arbitrary anchor.json files. In the input, $KEY
// stands for the anchor directory's public key and $SIG for a valid
// signature of the anchor the rest of the file decodes to, so that the
// fuzzer reaches past the signature into the fields' checks. An anchor
// accepted is one Meridian writes: its time is in the one spelling
// Meridian writes, and written again from its fields it is byte for byte
// the anchor read, and reads back equal. A file refused is named in an
// error of bounded size: a signed anchor's time of tens of KiB went into
// every problem's detail once.
func FuzzReadAnchor(f *testing.F) {
	head := strings.Repeat("ab", 32)
	f.Add([]byte(`{"seq":5,"head":"` + head + `","time":"2026-01-02T03:04:05.000000006Z","key":"$KEY","sig":"$SIG"}`))
	f.Add([]byte("{\n  \"seq\": 0,\n  \"head\": \"" + strings.Repeat("0", 64) + "\",\n  \"time\": \"2026-12-07T22:00:00.000000000Z\",\n  \"key\": \"$KEY\",\n  \"sig\": \"$SIG\"\n}\n"))
	f.Add([]byte(`{"seq":5,"head":"` + head + `","time":"2026-01-02T03:04:05,000000006Z","key":"$KEY","sig":"$SIG"}`))
	f.Add([]byte(`{"seq":-1,"head":"` + head + `","time":"2026-01-02T03:04:05.000000006Z","key":"$KEY","sig":"$SIG"}`))
	f.Add([]byte(`{"seq":5,"head":"` + strings.ToUpper(head) + `","time":"2026-01-02T03:04:05Z","key":"$KEY","sig":"$SIG"}`))
	f.Add([]byte(`{"seq":5,"head":"` + head + `","time":"2026-01-02T03:04:05.000000006+01:00","key":"$KEY","sig":"$SIG","SEQ":6}`))
	f.Add([]byte(`{"seq":1e3,"head":"","time":"","key":"$KEY","sig":"00"}`))
	f.Add([]byte(`{"seq":"5"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"seq":` + strings.Repeat("9", 100) + `}`))
	// Over Read's bound: refused, naming the file.
	f.Add(bytes.Repeat([]byte(" "), maxAnchorFileBytes+1))
	dir := f.TempDir()
	a, err := OpenAnchors(dir)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, AnchorFile)
	f.Fuzz(func(t *testing.T, raw []byte) {
		data := bytes.ReplaceAll(raw, []byte("$KEY"), []byte(a.Key()))
		if bytes.Contains(data, []byte("$SIG")) {
			var an Anchor
			if json.Unmarshal(bytes.ReplaceAll(data, []byte("$SIG"), nil), &an) == nil {
				sig := hex.EncodeToString(ed25519.Sign(a.priv, an.message()))
				data = bytes.ReplaceAll(data, []byte("$SIG"), []byte(sig))
			}
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		an, ok, err := a.Read()
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("the error does not name the anchor file: %v", err)
			}
			if len(err.Error()) > 512+len(path) {
				t.Fatalf("the error runs to %d bytes: %.200q", len(err.Error()), err.Error())
			}
			return
		}
		if !ok {
			t.Fatalf("an anchor file there read as no anchor: %q", data)
		}
		// Its time is one Meridian writes: the time it reads as, written
		// as Meridian writes times, is the text read (not another
		// spelling that time.Parse also takes).
		tm, err := time.Parse(TimeLayout, an.Time)
		if err != nil {
			t.Fatalf("accepted time %q: %v", an.Time, err)
		}
		if tm.UTC().Format(TimeLayout) != an.Time {
			t.Fatalf("accepted time %q, which Meridian writes as %q", an.Time, tm.UTC().Format(TimeLayout))
		}
		if err := a.write(an.Seq, an.Head, tm); err != nil {
			t.Fatalf("an accepted anchor is not written again: %v", err)
		}
		// Written again, the file is byte for byte the anchor read, as
		// Meridian lays it out: its signature too (Ed25519 signs the
		// same message the same way).
		want, err := json.MarshalIndent(an, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		written, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(written, append(want, '\n')) {
			t.Fatalf("an accepted anchor written again is %q, not the anchor read %q (from %q)", written, want, data)
		}
		again, ok, err := a.Read()
		if err != nil || !ok || again != an {
			t.Fatalf("an accepted anchor written again reads back %+v, %t, %v; read %+v from %q", again, ok, err, an, data)
		}
	})
}
