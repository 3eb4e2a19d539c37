package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

// A key, or a Sealer, handed to fmt (a log line, an error, %+v of a struct
// holding one) prints no key material.
func TestKeysNeverPrinted(t *testing.T) {
	s, k := mustSealer(t, "ds")
	secrets := map[string]string{
		"key text":        k.String()[len(keyPrefix):],
		"key hex":         hex.EncodeToString(k[:]),
		"key bytes":       fmt.Sprint([KeySize]byte(k)),
		"name key hex":    hex.EncodeToString(s.nameKey),
		"name key bytes":  fmt.Sprint(s.nameKey),
		"mac key hex":     hex.EncodeToString(s.macKey),
		"mac key bytes":   fmt.Sprint(s.macKey),
		"seed hex":        hex.EncodeToString(s.seed),
		"seed bytes":      fmt.Sprint(s.seed),
		"key text, upper": strings.ToUpper(hex.EncodeToString(k[:])),
	}
	type holder struct {
		Name string
		Key  Key
	}
	values := map[string]any{"Key": k, "*Key": &k, "struct holding a Key": holder{"ds", k},
		"[]Key": []Key{k}, "*Sealer": s, "Sealer": *s, "error": fmt.Errorf("open: %v", k)}
	for what, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out := fmt.Sprintf(verb, v)
			for name, secret := range secrets {
				if strings.Contains(out, secret) {
					t.Errorf("%s printed with %s shows the %s: %s", what, verb, name, out)
				}
			}
		}
	}
	// The fingerprint is the audit log's: the first 8 bytes of the SHA-256
	// of the text form, so that a printed key can be matched to its record.
	if got := fmt.Sprint(k); !strings.Contains(got, "fingerprint ") {
		t.Errorf("a printed key shows no fingerprint: %s", got)
	}
}

// A key handed to an encoder (a JSON answer or log line, slog's handlers,
// gob) shows its fingerprint, as fmt does, and no key material: a [32]byte
// encoded as its 32 numbers.
func TestKeysNeverEncoded(t *testing.T) {
	_, k := mustSealer(t, "ds")
	type holder struct {
		Name string
		Key  Key
	}
	var outs []string
	for _, v := range []any{k, &k, holder{"ds", k}, []Key{k}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, "json: "+string(b))
		var gb bytes.Buffer
		if err := gob.NewEncoder(&gb).Encode(v); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, "gob: "+gb.String())
	}
	var lb bytes.Buffer
	slog.New(slog.NewJSONHandler(&lb, nil)).Info("open", "key", k)
	slog.New(slog.NewTextHandler(&lb, nil)).Info("open", "key", k)
	outs = append(outs, "slog: "+lb.String())
	var raw []string
	for _, b := range k {
		raw = append(raw, strconv.Itoa(int(b)))
	}
	secrets := []string{strings.Join(raw, ","), string(k[:]), base64.StdEncoding.EncodeToString(k[:]), hex.EncodeToString(k[:])}
	for _, out := range outs {
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("an encoded key shows key material: %q", out)
			}
		}
		if strings.HasPrefix(out, "json: ") && !strings.Contains(out, k.Fingerprint()) {
			t.Errorf("an encoded key shows no fingerprint: %s", out)
		}
	}
}
