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
