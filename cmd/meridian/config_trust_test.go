package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestContextFromConfigOthersMayWriteRefused: the configuration file was
// read whatever its mode or owner, and its context chose the server the
// token goes to (MERIDIAN_TOKEN's too), the token or token file this user
// acts with, and the default catalog. A file others may write, or one
// another user owns, could send the user's token to any https:// server.
// Each of these is now refused from such a file, naming the context, the
// field, the file and the chmod or chown that mends it; config
// set-context and use-context refuse to write it anew as this user's own
// (which would trust it from then on); the user's own 0600 file is used
// as before, and a command given server and token otherwise reads none.
func TestContextFromConfigOthersMayWriteRefused(t *testing.T) {
	cfgPath := isolatedConfig(t)
	dir := filepath.Dir(cfgPath)
	defer func(f func() int) { geteuid = f }(geteuid)

	const evil = "https://evil.example:7420"
	tokenFile := filepath.Join(dir, "lab.token")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sites := filepath.Join(dir, "sites")
	if err := os.Mkdir(sites, 0o755); err != nil {
		t.Fatal(err)
	}
	withFile := "currentContext: lab\ncontexts:\n- name: lab\n  server: " + evil + "\n  tokenFile: " + tokenFile + "\n  catalog: " + sites + "\n"
	withToken := "currentContext: lab\ncontexts:\n- name: lab\n  server: " + evil + "\n  token: kept-token\n"
	// mode and chown are how write leaves the file: its mode, and, where
	// this test may, another user's.
	mode, chown := os.FileMode(0o600), false
	write := func(body string) {
		t.Helper()
		os.Remove(cfgPath)
		if err := os.WriteFile(cfgPath, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(cfgPath, mode); err != nil {
			t.Fatal(err)
		}
		if chown {
			if err := os.Chown(cfgPath, 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}
	}
	client := func(f clientFlags) func() error {
		return func() error { _, err := f.client(); return err }
	}
	catalogUse := func() error { _, err := defaultCatalog(); return err }
	uses := []struct {
		what, body, field string
		use               func() error
	}{
		{"the context's server and token file", withFile, "server", client(clientFlags{})},
		{"the context's server, for a token given otherwise", withFile, "server", client(clientFlags{token: "victim-token"})},
		{"the context's token file, for its own server given otherwise", withFile, "tokenFile", client(clientFlags{server: evil})},
		{"the token kept in the file, for its own server given otherwise", withToken, "token", client(clientFlags{server: evil})},
		{"the context's catalog", withFile, "catalog", catalogUse},
	}

	// The user's own file, mode 0600: used.
	write(withFile)
	if c, err := (&clientFlags{}).client(); err != nil || c.Base != evil || c.Token != "file-token" {
		t.Fatalf("the user's own 0600 file: %v %+v", err, c)
	}
	if got, err := defaultCatalog(); err != nil || got != sites {
		t.Fatalf("the catalog of the user's own 0600 file: %q %v", got, err)
	}

	refused := func(how, want string) {
		t.Helper()
		for _, u := range uses {
			write(u.body)
			err := u.use()
			if err == nil || !isCode(err, exitBadInput) {
				t.Errorf("%s from a file %s: %v, want it refused (exit %d)", u.what, how, err, exitBadInput)
				continue
			}
			for _, s := range []string{"context lab: " + u.field + ": refused", cfgPath, want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%s from a file %s: %v, want it to say %q", u.what, how, err, s)
				}
			}
			if strings.Contains(err.Error(), "kept-token") || strings.Contains(err.Error(), "file-token") {
				t.Errorf("the refusal shows the token: %v", err)
			}
		}
		// Neither set-context nor use-context writes it anew as this
		// user's; view still shows it, to read before mending it.
		write(withFile)
		for _, args := range [][]string{{"config", "set-context", "lab", "--catalog", sites}, {"config", "use-context", "lab"}} {
			if out, code := runRoot(t, args...); code != exitBadInput || !strings.Contains(out, want) {
				t.Errorf("%v on a file %s: exit %d, want %d naming the fix\n%s", args, how, code, exitBadInput, out)
			}
		}
		if b, err := os.ReadFile(cfgPath); err != nil || string(b) != withFile {
			t.Errorf("the file %s was rewritten (%v):\n%s", how, err, b)
		}
		if out, code := runRoot(t, "config", "view"); code != 0 || !strings.Contains(out, evil) {
			t.Errorf("config view of a file %s: exit %d\n%s", how, code, out)
		}
		// Server and token both given otherwise: the file is not used.
		if c, err := (&clientFlags{server: "https://mine.example", token: "mine"}).client(); err != nil || c.Token != "mine" {
			t.Errorf("--server and --token beside a file %s: %v", how, err)
		}
	}
	for _, m := range []os.FileMode{0o666, 0o620, 0o602} {
		mode = m
		refused("of mode "+strconv.FormatUint(uint64(m), 8), "chmod 600 "+cfgPath)
	}

	// Another user's file: chown it where this test may, else stand in
	// another user for this one.
	mode = 0o600
	if os.Geteuid() == 0 {
		chown = true
	} else {
		me := os.Geteuid()
		geteuid = func() int { return me + 1 }
	}
	refused("another user owns", "chown ")
}

// TestContextTokenFileOfAnotherUserRefused: a context's tokenFile was
// judged by its mode alone, so a 0600 token file that another user put
// where the context names it (a shared or sticky directory they may
// write), or one in a directory another user owns (who may rename one in),
// was read: the user then acted as the other's tenant (apply, and dataset
// send-key handing them the key). Such a file is now refused as --key-file
// is, naming the file or its directory and its owner.
func TestContextTokenFileOfAnotherUserRefused(t *testing.T) {
	defer func(f func() int) { geteuid = f }(geteuid)
	const other = 4242
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	tokenIn := func(t *testing.T, dir string) string {
		t.Helper()
		p := filepath.Join(dir, "lab.token")
		if err := os.WriteFile(p, []byte("some-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// ctx is a context of the user's own 0600 configuration file naming p.
	ctx := func(p string) *cliContext {
		return &cliContext{Name: "lab", TokenFile: p, file: cfgPath, perm: 0o600, owner: geteuid()}
	}
	refused := func(t *testing.T, p, what string, uid int) {
		t.Helper()
		tok, err := ctx(p).token()
		want := "context lab: tokenFile " + p + ": " + what + " is owned by uid " + strconv.Itoa(uid)
		if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
			t.Errorf("token file %s with %s owned by uid %d: %q, %v; want it refused (exit %d) saying %q", p, what, uid, tok, err, exitBadInput, want)
		}
	}

	t.Run("own", func(t *testing.T) {
		p := tokenIn(t, t.TempDir())
		if tok, err := ctx(p).token(); err != nil || tok != "some-token" {
			t.Fatalf("the user's own token file: %q %v", tok, err)
		}
	})
	t.Run("planted in a shared sticky directory", func(t *testing.T) {
		shared := t.TempDir()
		if err := os.Chmod(shared, 0o1777); err != nil {
			t.Fatal(err)
		}
		p := tokenIn(t, shared)
		uid := other
		if os.Geteuid() == 0 {
			if err := os.Chown(p, other, other); err != nil {
				t.Fatal(err)
			}
		} else {
			// Stand in another user for this one: the file is then
			// another's (and so is its directory; the file is judged
			// first).
			uid = os.Geteuid()
			geteuid = func() int { return uid + 1 }
			t.Cleanup(func() { geteuid = os.Geteuid })
		}
		refused(t, p, "the file", uid)
	})
	t.Run("in a directory another user owns", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a directory to another user")
		}
		d := filepath.Join(t.TempDir(), "theirs")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		p := tokenIn(t, d)
		if err := os.Chown(d, other, other); err != nil {
			t.Fatal(err)
		}
		refused(t, p, "its directory "+d, other)
	})
}

// TestContextRelativePathsRefused: a context's relative tokenFile or
// catalog was read from whatever directory a command ran in (a checkout,
// /tmp), which another user may have written. The file's reader now
// refuses one, naming the context and the field; config set-context keeps
// the absolute path of a relative one given; an absolute path or one
// starting ~/ reads as before.
func TestContextRelativePathsRefused(t *testing.T) {
	const path = "/home/u/.config/meridian/config.yaml"
	for _, tc := range []struct{ field, line string }{
		{"tokenFile", "tokenFile: lab.token"},
		{"tokenFile", "tokenFile: ./tokens/lab"},
		{"tokenFile", "tokenFile: ~other/lab.token"},
		{"catalog", "catalog: sites"},
		{"catalog", "catalog: ../sites"},
	} {
		body := "contexts:\n- name: lab\n  server: https://lab.example:7420\n  " + tc.line + "\n"
		_, err := parseConfig(path, []byte(body), 0o600, 1000)
		if err == nil || !strings.Contains(err.Error(), path+": context lab: "+tc.field) || !strings.Contains(err.Error(), "relative") {
			t.Errorf("%s: %v, want it refused naming the context and %s", tc.line, err, tc.field)
		}
	}
	for _, line := range []string{"tokenFile: /etc/meridian/lab.token", "tokenFile: ~/lab.token", "catalog: /srv/sites", "catalog: ~/sites"} {
		body := "contexts:\n- name: lab\n  server: https://lab.example:7420\n  " + line + "\n"
		if _, err := parseConfig(path, []byte(body), 0o600, 1000); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}

	cfgPath := isolatedConfig(t)
	if out, code := runRoot(t, "config", "set-context", "lab", "--server", "https://lab.example:7420", "--token-file", "lab.token", "--catalog", "sites"); code != 0 {
		t.Fatalf("set-context with relative paths: exit %d\n%s", code, out)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := loadConfig()
	if err != nil {
		t.Fatalf("what set-context wrote: %v", err)
	}
	x := cfg.Contexts[0]
	if x.TokenFile != filepath.Join(wd, "lab.token") || x.Catalog != filepath.Join(wd, "sites") {
		t.Errorf("set-context kept tokenFile %q and catalog %q, want them under %s", x.TokenFile, x.Catalog, wd)
	}
	if out, code := runRoot(t, "config", "set-context", "lab", "--token-file", "~/lab.token"); code != 0 {
		t.Fatalf("set-context --token-file ~/lab.token: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(cfgPath); !strings.Contains(string(b), "tokenFile: ~/lab.token") {
		t.Errorf("set-context changed a path starting ~/:\n%s", b)
	}
}
