package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/internal/tlspin"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/statedir"
)

// TestServerTLSDecision: plain HTTP only on loopback or when told; a
// self-signed certificate elsewhere, made once in the state directory; the
// operator's certificate when given, with its key kept private.
func TestServerTLSDecision(t *testing.T) {
	dir := statedir.Dir{Path: t.TempDir()}
	any := &net.TCPAddr{IP: net.IPv4zero, Port: 7420}
	own := t.TempDir()
	cert, key, ownFP, _, err := tlspin.SelfSigned(own, []string{"meridian.example"})
	if err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(t.TempDir(), "key.pem")
	b, _ := os.ReadFile(key)
	os.WriteFile(loose, b, 0o644)
	tests := []struct {
		name    string
		opts    serverOptions
		tls     bool
		fp      string // "" any, "own" the operator's
		wantErr string
	}{
		{"loopback is plain", serverOptions{Listen: "127.0.0.1:7420"}, false, "", ""},
		{"localhost is plain", serverOptions{Listen: "localhost:7420"}, false, "", ""},
		{"any address gets a certificate", serverOptions{Listen: "0.0.0.0:7420"}, true, "", ""},
		{"an interface address gets a certificate", serverOptions{Listen: "10.1.2.3:7420"}, true, "", ""},
		{"plain elsewhere only when told", serverOptions{Listen: "0.0.0.0:7420", InsecureHTTP: true}, false, "", ""},
		{"self-signed on loopback when asked", serverOptions{Listen: "127.0.0.1:7420", SelfSigned: true}, true, "", ""},
		{"the operator's certificate", serverOptions{Listen: "0.0.0.0:7420", TLSCert: cert, TLSKey: key}, true, "own", ""},
		{"cert without key", serverOptions{Listen: "0.0.0.0:7420", TLSCert: cert}, false, "", "give both"},
		{"key others may read", serverOptions{Listen: "0.0.0.0:7420", TLSCert: cert, TLSKey: loose}, false, "", "lets others read it"},
		{"both plain and self-signed", serverOptions{Listen: "127.0.0.1:7420", SelfSigned: true, InsecureHTTP: true}, false, "", "give one"},
		{"TLS advertised as plain HTTP", serverOptions{Listen: "0.0.0.0:7420", Advertise: "http://lb.example:7420"}, false, "", "--advertise"},
		{"the operator's TLS advertised as plain HTTP", serverOptions{Listen: "0.0.0.0:7420", TLSCert: cert, TLSKey: key, Advertise: "http://lb.example"}, false, "", "--advertise"},
		{"the operator's TLS beside --insecure-http, advertised as plain HTTP", serverOptions{Listen: "0.0.0.0:7420", TLSCert: cert, TLSKey: key, InsecureHTTP: true, Advertise: "http://lb.example"}, false, "", "--advertise"},
		{"TLS advertised as HTTPS", serverOptions{Listen: "0.0.0.0:7420", Advertise: "https://lb.example:7420"}, true, "", ""},
		{"plain advertised as plain", serverOptions{Listen: "127.0.0.1:7420", Advertise: "http://127.0.0.1:7420"}, false, "", ""},
	}
	var first string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, fp, err := serverTLS(tc.opts, dir, any)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg != nil) != tc.tls || (fp != "") != tc.tls {
				t.Fatalf("tls %v fingerprint %q, want tls %v", cfg != nil, fp, tc.tls)
			}
			switch {
			case tc.fp == "own" && fp != ownFP:
				t.Errorf("fingerprint %s, want the operator's %s", fp, ownFP)
			case tc.fp == "" && tc.tls:
				// Every self-signed answer is the one certificate in STATE/tls.
				if first == "" {
					first = fp
				}
				if got, _ := tlspin.FileFingerprint(filepath.Join(dir.TLS(), tlspin.CertFile)); fp != first || got != fp {
					t.Errorf("fingerprint %s, first %s, on disk %s", fp, first, got)
				}
			}
		})
	}
}

// TestServeTLS serves HTTPS with a self-signed certificate: the CLI trusts
// it by the fingerprint in client.json, a wrong pin or plain HTTP gets
// nowhere, and attempts' agents, given the pin, report over it until their
// run succeeds.
func TestServeTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p := newServeProc(t)
	p.extra = []string{"--tls-self-signed"}
	p.start()
	defer p.stop()
	cfg, err := readClientConfig(p.state)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Server, "https://") || len(cfg.Fingerprint) != 64 {
		t.Fatalf("client.json: %+v", cfg)
	}
	cli := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(p.bin, args...)
		cmd.Env = append(append(os.Environ(), "MERIDIAN_HOME="+p.state), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := cli(nil, "get", "runs"); err != nil {
		t.Fatalf("pinned CLI: %v\n%s", err, out)
	}
	if out, err := cli([]string{"MERIDIAN_TLS_FINGERPRINT=" + strings.Repeat("ab", 32)}, "get", "runs"); err == nil || !strings.Contains(out, "fingerprint") {
		t.Errorf("a wrong pin was trusted: %v\n%s", err, out)
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + p.addr + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the TLS listener")
		}
		resp.Body.Close()
	}
	if _, err := plain.Get(cfg.Server + "/healthz"); err == nil {
		t.Error("an unpinned client trusted the self-signed certificate")
	}
	ctx := context.Background()
	job := demoJob(t, p.bin, p.state, 30, 10, "10ms")
	r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := p.c.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.Final() {
			if got.State != run.Succeeded || got.Checkpoint == nil {
				t.Fatalf("run ended %s (%s), checkpoint %+v", got.State, got.Reason, got.Checkpoint)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run still %s", got.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerTLSFilesBounded: --tls-cert and --tls-key were read whole
// with no bound, and opened blocking: a certificate file grown to
// gigabytes (or /dev/zero) filled the server's memory at start, and a FIFO
// with no writer in the key's place held the start for good. Each is read
// within a bound, opened without blocking, and refused naming its flag.
func TestServerTLSFilesBounded(t *testing.T) {
	dir := statedir.Dir{Path: t.TempDir()}
	any := &net.TCPAddr{IP: net.IPv4zero, Port: 7420}
	cert, key, _, _, err := tlspin.SelfSigned(t.TempDir(), []string{"meridian.example"})
	if err != nil {
		t.Fatal(err)
	}
	// A good certificate or key followed by 64 MiB (sparse) that PEM
	// parsing skips: read whole, it served.
	grown := func(src string) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), filepath.Base(src))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, 64<<20); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(t.TempDir(), "key.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"grown certificate", grown(cert), key, "--tls-cert: "},
		{"grown key", cert, grown(key), "--tls-key: "},
		{"FIFO key", cert, fifo, "key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := serverTLS(serverOptions{Listen: "0.0.0.0:7420", TLSCert: tc.cert, TLSKey: tc.key}, dir, any)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want a refusal naming %s", err, tc.want)
			}
			if strings.HasPrefix(tc.name, "grown") && !strings.Contains(err.Error(), "limit") {
				t.Fatalf("err %v, want the size limit named", err)
			}
		})
	}
}
