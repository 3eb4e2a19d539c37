// Package tlspin makes a server's self-signed certificate and lets clients
// trust it by its fingerprint (the SHA-256 of the certificate), as
// `meridian serve` prints it on first start. It is a leaf: only the
// standard library and Meridian's internal file helpers.
package tlspin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
	"meridian.dev/meridian/internal/plainfile"
)

// Fingerprint is the lowercase hex SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// Normalize accepts a fingerprint as printed (hex, optionally with colons,
// optionally prefixed "sha256:") and returns lowercase hex.
func Normalize(fp string) (string, error) {
	fp = strings.ToLower(strings.TrimSpace(fp))
	fp = strings.TrimPrefix(fp, "sha256:")
	fp = strings.ReplaceAll(fp, ":", "")
	if b, err := hex.DecodeString(fp); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("TLS fingerprint %q: want the 64 hex digits of a SHA-256", fp)
	}
	return fp, nil
}

// ClientConfig trusts exactly the certificate with fingerprint fp (a
// self-signed server's), whatever its names or issuer. With fp empty it is
// nil: the system's roots decide.
func ClientConfig(fp string) (*tls.Config, error) {
	if fp == "" {
		return nil, nil
	}
	want, err := Normalize(fp)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Names and chains do not matter for a pinned certificate: the
		// fingerprint check below is the whole verification.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			if got := Fingerprint(cs.PeerCertificates[0].Raw); got != want {
				return fmt.Errorf("server certificate fingerprint %s is not the pinned %s", got, want)
			}
			return nil
		},
	}, nil
}

// HTTPClient is an http.Client with timeout that trusts the pinned
// certificate when fp is set. A pinned client speaks only HTTPS: the pin
// says the server has that certificate, so a plain http:// address (a
// server address that was downgraded) or a redirect to one is refused
// rather than sent the caller's credential in the clear, with no
// certificate checked at all. No client follows a redirect (NoRedirects).
func HTTPClient(fp string, timeout time.Duration) (*http.Client, error) {
	cfg, err := ClientConfig(fp)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return &http.Client{Timeout: timeout, CheckRedirect: NoRedirects}, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Timeout: timeout, Transport: httpsOnly{tr}, CheckRedirect: NoRedirects}, nil
}

// NoRedirects is a CheckRedirect that follows none. Meridian's API never
// redirects, and Go's client keeps the Authorization header on a redirect
// to the same host name whatever its port or scheme: following one would
// hand the token to another service on that machine, or send it in the
// clear.
func NoRedirects(req *http.Request, via []*http.Request) error {
	return fmt.Errorf("the server answered with a redirect to %s://%s%s; the API does not redirect, so the client does not follow it (it would carry the token)", req.URL.Scheme, req.URL.Host, req.URL.Path)
}

// httpsOnly refuses any request that is not over HTTPS, redirects
// included (each goes through the transport).
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%s://%s: the server's certificate is pinned, so this client speaks only HTTPS; plain HTTP would send the credential in the clear", req.URL.Scheme, req.URL.Host)
	}
	return h.next.RoundTrip(req)
}

// Certificate and key file names in a self-signed certificate's directory.
const (
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// SelfSigned returns dir's certificate and key, creating a self-signed
// ECDSA P-256 pair valid for hosts (names or addresses) for ten years on
// first use. Several servers sharing dir (replicas) end up with one pair:
// creation holds a lock on dir/lock, and whoever comes second loads what the
// first made. It returns the pair's files, its fingerprint and whether this
// call created it.
func SelfSigned(dir string, hosts []string) (certFile, keyFile, fp string, created bool, err error) {
	certFile, keyFile = filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	// Synced into its parent: a directory lost to a power loss after the
	// pair was handed out means a new certificate, and every client that
	// pinned the old one refuses the server.
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", false, err
	}
	// The lock file must be a regular file (flock.Lock): a link put in
	// its place had the server create, and lock, a file wherever the
	// link pointed.
	unlock, err := flock.Lock(context.Background(), filepath.Join(dir, "lock"))
	if err != nil {
		return "", "", "", false, fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unlock()
	// Every writer of the pair holds the lock: a temporary file of either
	// there now was left by one killed before its rename (a private key
	// among them), and stayed for good.
	atomicfile.RemoveTemps(keyFile)
	atomicfile.RemoveTemps(certFile)
	// Only a certificate that is not there is made: one that could not be
	// looked at (a read error of shared storage) replaced by a new pair
	// broke every client and agent that pinned the old one.
	if _, err := os.Stat(certFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", "", false, err
	} else if err == nil {
		// Whoever can read the key can be this server to every client
		// that pinned its certificate.
		if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return "", "", "", false, fmt.Errorf("%s: mode %v lets others read the server's private key; want 0600 (chmod 600 %s)", keyFile, fi.Mode().Perm(), keyFile)
		}
		fp, err := FileFingerprint(certFile)
		return certFile, keyFile, fp, false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", "", false, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "meridian server (self-signed)"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", "", false, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", "", false, err
	}
	// The key goes first: a certificate on disk always has its key.
	if err := atomicfile.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", "", false, err
	}
	if err := atomicfile.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", "", false, err
	}
	return certFile, keyFile, Fingerprint(der), true, nil
}

// MaxCertFile bounds a certificate file FileFingerprint reads.
const MaxCertFile = 1 << 20

// FileFingerprint is the fingerprint of the first certificate in a PEM
// file. The file must be a regular file of at most MaxCertFile bytes
// (plainfile.Read): a FIFO in its place hung the server's start, and a
// link to /dev/zero read until memory ran out.
func FileFingerprint(certFile string) (string, error) {
	b, err := plainfile.Read(certFile, MaxCertFile)
	if err != nil {
		return "", err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return "", fmt.Errorf("%s: no PEM certificate", certFile)
		}
		if blk.Type == "CERTIFICATE" {
			return Fingerprint(blk.Bytes), nil
		}
	}
}
