package catalog

import (
	"strings"
	"testing"
)

func TestBuiltinLinks(t *testing.T) {
	l, err := BuiltinLinks()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Between("US", "US"); ok {
		t.Error("a link inside one country")
	}
	for _, tc := range []struct {
		from, to string
		gbps     float64
		source   string
	}{
		{"CN", "US", 5, "Amazon EC2"},
		{"US", "CN", 0.5, "Great\n      Bottleneck"},
		{"EU", "DE", 5, "Amazon EC2"},
	} {
		k, ok := l.Between(tc.from, tc.to)
		if !ok || k.Gbps != tc.gbps || !strings.Contains(k.Source, strings.Fields(tc.source)[0]) {
			t.Errorf("%s → %s: %+v", tc.from, tc.to, k)
		}
	}
	for _, k := range append([]Link{l.CrossBorder}, l.Links...) {
		if k.Source == "" || k.Status == "" {
			t.Errorf("link without a source or status: %+v", k)
		}
	}
	bad := Links{CrossBorder: Link{Gbps: 5, Status: "guess", Source: "x"}}
	if err := bad.check(); err == nil {
		t.Error("status guess accepted")
	}
}
