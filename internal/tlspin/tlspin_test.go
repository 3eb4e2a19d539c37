package tlspin

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPinnedClientTrustsOnlyThatCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key, fp, created, err := SelfSigned(dir, []string{"127.0.0.1", "localhost"})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()

	pinned, err := HTTPClient(strings.ToUpper(fp[:2])+":"+fp[2:], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := pinned.Get(srv.URL); err != nil {
		t.Fatalf("pinned client: %v", err)
	} else {
		resp.Body.Close()
	}
	// Another certificate's fingerprint is refused, and so is the system's
	// verification of a self-signed certificate.
	_, _, other, _, err := SelfSigned(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := HTTPClient(other, 5*time.Second)
	if _, err := wrong.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("wrong pin: %v", err)
	}
	plain, _ := HTTPClient("", 5*time.Second)
	if _, err := plain.Get(srv.URL); err == nil {
		t.Error("unpinned client trusted a self-signed certificate")
	}
	if _, err := Normalize("abc"); err == nil {
		t.Error("short fingerprint accepted")
	}
}

func TestSelfSignedOncePerDirectory(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	fps := make([]string, 8)
	made := make([]bool, 8)
	for i := range fps {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, fp, created, err := SelfSigned(dir, []string{"127.0.0.1"})
			if err != nil {
				t.Error(err)
			}
			fps[i], made[i] = fp, created
		}(i)
	}
	wg.Wait()
	n := 0
	for i := range fps {
		if made[i] {
			n++
		}
		if fps[i] != fps[0] {
			t.Errorf("server %d got fingerprint %s, server 0 %s", i, fps[i], fps[0])
		}
	}
	if n != 1 {
		t.Errorf("%d servers created the certificate", n)
	}
	if got, _ := FileFingerprint(dir + "/" + CertFile); got != fps[0] {
		t.Errorf("file fingerprint %s, returned %s", got, fps[0])
	}
}

// TestPinnedClientSpeaksOnlyHTTPS: a client that pins a certificate never
// sends a request over plain HTTP, where the credential it carries would
// cross in the clear and no certificate would be checked: not to an
// http:// address it was given (a downgraded server address), nor after
// a redirect to one.
func TestPinnedClientSpeaksOnlyHTTPS(t *testing.T) {
	var plainHits int
	var mu sync.Mutex
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		plainHits++
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer plain.Close()
	dir := t.TempDir()
	cert, key, fp, _, err := SelfSigned(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	secure := httptest.NewUnstartedServer(http.RedirectHandler(plain.URL+"/elsewhere", http.StatusTemporaryRedirect))
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	secure.StartTLS()
	defer secure.Close()

	pinned, err := HTTPClient(fp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", plain.URL, nil)
	req.Header.Set("Authorization", "Bearer secret")
	if resp, err := pinned.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a pinned client asked %s over plain HTTP", plain.URL)
	} else if !strings.Contains(err.Error(), "HTTPS") {
		t.Errorf("plain HTTP refused with %v; want a word on why", err)
	}
	req, _ = http.NewRequest("GET", secure.URL, nil)
	req.Header.Set("Authorization", "Bearer secret")
	if resp, err := pinned.Do(req); err == nil {
		resp.Body.Close()
		t.Error("a pinned client followed a redirect to plain HTTP")
	}
	mu.Lock()
	if plainHits != 0 {
		t.Errorf("the plain HTTP server was asked %d times", plainHits)
	}
	mu.Unlock()
	// Without a pin, plain HTTP is the caller's choice (a loopback server).
	unpinned, _ := HTTPClient("", 5*time.Second)
	if resp, err := unpinned.Get(plain.URL); err != nil {
		t.Errorf("unpinned client: %v", err)
	} else {
		resp.Body.Close()
	}
}
