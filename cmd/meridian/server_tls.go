package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/internal/tlspin"
	"meridian.dev/meridian/statedir"
)

// loopbackAddr reports whether a listen address is reachable only from
// this machine.
func loopbackAddr(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// maxTLSFileBytes bounds --tls-cert and --tls-key: a chain of a few
// certificates and its key take some kilobytes.
const maxTLSFileBytes = 1 << 20

// serverTLS decides how the listener speaks: the operator's certificate
// (--tls-cert/--tls-key), plain HTTP on loopback (or anywhere with
// --insecure-http), else a self-signed certificate made on first start in
// STATE/tls and shared by every server using that state directory. It
// returns the TLS configuration (nil for plain HTTP) and the certificate's
// fingerprint, which clients pin.
func serverTLS(opts serverOptions, dir statedir.Dir, addr net.Addr) (*tls.Config, string, error) {
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return nil, "", badInput(errors.New("--tls-cert and --tls-key: give both or neither"))
	}
	certFile, keyFile, fp := opts.TLSCert, opts.TLSKey, ""
	var certPEM, keyPEM []byte
	switch {
	case certFile != "":
		if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, "", badInput(fmt.Errorf("--tls-key %s: mode %v lets others read it; want 0600", keyFile, fi.Mode().Perm()))
		}
		// Each is read once, within a bound, opened without blocking: a
		// FIFO with no writer put in their place no longer held the
		// start, nor /dev/zero or a file of gigabytes filled memory. A
		// pipe (--tls-key <(…)) is read to its end, read once.
		var err error
		if certPEM, err = plainfile.ReadNamed(certFile, maxTLSFileBytes); err != nil {
			return nil, "", badInput(fmt.Errorf("--tls-cert: %w", err))
		}
		if keyPEM, err = plainfile.ReadNamed(keyFile, maxTLSFileBytes); err != nil {
			return nil, "", badInput(fmt.Errorf("--tls-key: %w", err))
		}
	case opts.InsecureHTTP && opts.SelfSigned:
		return nil, "", badInput(errors.New("--insecure-http and --tls-self-signed: give one"))
	case !opts.SelfSigned && (loopbackAddr(opts.Listen) || opts.InsecureHTTP):
		return nil, "", nil
	default:
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		if ta, ok := addr.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
			hosts = append(hosts, ta.IP.String())
		}
		if opts.Advertise != "" {
			if u, err := url.Parse(opts.Advertise); err == nil && u.Hostname() != "" {
				hosts = append(hosts, u.Hostname())
			}
		}
		var err error
		if certFile, keyFile, fp, _, err = tlspin.SelfSigned(dir.TLS(), hosts); err != nil {
			return nil, "", fmt.Errorf("self-signed certificate: %w", err)
		}
	}
	// Past the switch the server speaks TLS. Agents and the CLI pin its
	// certificate, and a client that pins speaks only HTTPS: every agent
	// would stop at its start.
	if u, err := url.Parse(opts.Advertise); opts.Advertise != "" && (err != nil || !strings.EqualFold(u.Scheme, "https")) {
		return nil, "", badInput(fmt.Errorf("--advertise %q: this server speaks TLS and its clients pin its certificate; give an https:// address", opts.Advertise))
	}
	if certPEM == nil {
		// The state directory's own, made above: regular files only.
		var err error
		if certPEM, err = plainfile.Read(certFile, maxTLSFileBytes); err != nil {
			return nil, "", fmt.Errorf("TLS certificate: %w", err)
		}
		if keyPEM, err = plainfile.Read(keyFile, maxTLSFileBytes); err != nil {
			return nil, "", fmt.Errorf("TLS key: %w", err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, "", badInput(fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err))
	}
	if fp == "" {
		// Clients pin the first certificate of the chain, the server's.
		fp = tlspin.Fingerprint(pair.Certificate[0])
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, fp, nil
}
