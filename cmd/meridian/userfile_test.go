package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNamedFilesNotRegular: no file the command line reads because a user
// named it (a flag, an environment variable, the configuration file and
// its tokenFile) hangs it or fills its memory: os.ReadFile hung on a FIFO
// that nobody writes (in the open) and read /dev/zero until memory ran
// out, and a size checked with Stat first saw 0 bytes in both. Those read
// for the command itself take pipes within their bound; the others refuse
// a FIFO or a device, naming it.
func TestNamedFilesNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MERIDIAN_HOME", filepath.Join(dir, "home"))
	t.Setenv("MERIDIAN_SERVER", "")
	t.Setenv("MERIDIAN_TOKEN", "")
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(dir, "none.yaml"))
	wrapped := []byte("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n")
	// Each reader, given path, returns its error.
	readers := map[string]func(t *testing.T, path string) error{
		"screen import": func(t *testing.T, path string) error {
			_, err := runCLI(t, "screen", "import", path)
			return err
		},
		"run -f": func(t *testing.T, path string) error {
			_, err := readDocuments([]string{path})
			return err
		},
		"MERIDIAN_CONFIG": func(t *testing.T, path string) error {
			t.Setenv("MERIDIAN_CONFIG", path)
			_, err := (&clientFlags{}).client()
			return err
		},
		"tokenFile": func(t *testing.T, path string) error {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			body := "currentContext: lab\ncontexts:\n- name: lab\n  server: https://lab.example:7420\n  tokenFile: " + path + "\n"
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("MERIDIAN_CONFIG", cfg)
			_, err := (&clientFlags{}).client()
			return err
		},
		"--key-file": func(t *testing.T, path string) error {
			_, err := (&keyFlags{keyFile: path, keepKeyFile: true}).get(nil, state{}, "d")
			return err
		},
		"--age-identity": func(t *testing.T, path string) error {
			_, err := (&keyFlags{ageIdentity: path}).parse(wrapped)
			return err
		},
		"MERIDIAN_AGE_IDENTITY (dataset)": func(t *testing.T, path string) error {
			t.Setenv("MERIDIAN_AGE_IDENTITY", path)
			_, err := openState()
			return err
		},
		"MERIDIAN_AGE_IDENTITY (serve)": func(t *testing.T, path string) error {
			t.Setenv("MERIDIAN_AGE_IDENTITY", path)
			_, err := serverKeyrings(t.TempDir(), nil, nil)
			return err
		},
		"serve --quotas": func(t *testing.T, path string) error {
			_, _, err := loadQuotas(path)
			return err
		},
		"plan --fleet --quotas": func(t *testing.T, path string) error {
			_, _, err := runPlanCLI(t, "plan", "--fleet", "-f", "../../examples/eu-personal.yaml", "--quotas", path, "--as-of", "2025-06-01")
			return err
		},
	}
	// The files a person names for the command itself may be pipes
	// (-f <(envsubst < job.yaml), --age-identity <(op read …)): a FIFO
	// without a writer reads as empty, at once, and /dev/zero is read to
	// the bound and refused as too large. The others, which a server
	// reads unattended or a command finds by itself, must be regular.
	named := map[string]bool{"screen import": true, "run -f": true, "--age-identity": true, "MERIDIAN_AGE_IDENTITY (dataset)": true, "plan --fleet --quotas": true}
	for name, read := range readers {
		for _, c := range []struct{ path, kind string }{{fifo, "a FIFO"}, {"/dev/zero", "a character device"}} {
			t.Run(name+" "+c.kind, func(t *testing.T) {
				// A FIFO's reader must not wait for a writer at all. A
				// reader of /dev/zero stops at its bound, but that is
				// up to 512 MiB of fresh memory, which takes 7-8 s on a
				// machine whose page faults are slow: the wait only has
				// to tell a bounded reader from one without a bound.
				wait := 5 * time.Second
				if c.path == "/dev/zero" {
					wait = 60 * time.Second
				}
				done := make(chan error, 1)
				go func() { done <- read(t, c.path) }()
				select {
				case err := <-done:
					if named[name] {
						if c.path == fifo && err != nil && strings.Contains(err.Error(), "not a regular file") {
							t.Errorf("%s of a FIFO with no writer: %v, want it read as empty", name, err)
						}
						if c.path == "/dev/zero" && (err == nil || !strings.Contains(err.Error(), "file too large") || !strings.Contains(err.Error(), c.path)) {
							t.Errorf("%s /dev/zero: %v, want it refused as too large, naming it", name, err)
						}
						return
					}
					refused := err != nil && strings.Contains(err.Error(), "not a regular file ("+c.kind+")")
					if !refused || !strings.Contains(err.Error(), c.path) {
						t.Errorf("%s %s: %v, want a refusal naming it and saying it is %s", name, c.path, err, c.kind)
					}
				case <-time.After(wait):
					if c.path == fifo {
						// Unblock a reader stuck in the open of the FIFO.
						if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
							f.Close()
						}
						t.Fatalf("%s %s: still waiting after %v", name, c.path, wait)
					}
					// A reader of /dev/zero grows its buffer until memory
					// runs out: end the test binary now rather than
					// after.
					panic(fmt.Sprintf("%s /dev/zero: still reading after %v", name, wait))
				}
			})
		}
	}
}
