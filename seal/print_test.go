package seal

import (
	"encoding/hex"
	"fmt"
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
