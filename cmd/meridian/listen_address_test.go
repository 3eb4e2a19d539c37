package main

import (
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"testing"
)

// TestListenAddressClientReads: the address a server writes to
// client.json when no --advertise is given is one the CLI takes back and
// sends requests to, an IPv6 address with a zone (--listen
// [fe80::1%eth0]:7420) included: written as the listener spells it, the %
// went unescaped and Go refused the URL at the CLI's first request.
func TestListenAddressClientReads(t *testing.T) {
	home := filepath.Join(filepath.Dir(isolatedConfig(t)), "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, clientFile)
	for _, c := range []struct {
		addr       *net.TCPAddr
		host, port string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 7420}, "127.0.0.1", "7420"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 7420}, "::1", "7420"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 7420, Zone: "eth0"}, "fe80::1%eth0", "7420"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 443, Zone: "en%0"}, "fe80::1%en%0", "443"},
	} {
		server := listenURL("https", c.addr)
		u, err := neturl.Parse(server)
		if err != nil {
			t.Errorf("%s: the address %q does not parse: %v", c.addr, server, err)
			continue
		}
		if u.Scheme != "https" || u.Hostname() != c.host || u.Port() != c.port {
			t.Errorf("%s: the address %q reads as scheme %q, host %q, port %q", c.addr, server, u.Scheme, u.Hostname(), u.Port())
		}
		if err := os.WriteFile(path, []byte(`{"server":"`+server+`","token":"t"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		cl, err := (&clientFlags{}).client()
		if err != nil {
			t.Errorf("%s: the CLI refuses client.json's server %q: %v", c.addr, server, err)
			continue
		}
		req, err := http.NewRequest("GET", cl.Base+"/v1/runs", nil)
		if err != nil {
			t.Errorf("%s: a request to client.json's server %q: %v", c.addr, server, err)
			continue
		}
		if req.URL.Hostname() != c.host {
			t.Errorf("%s: a request goes to host %q", c.addr, req.URL.Hostname())
		}
	}
}
