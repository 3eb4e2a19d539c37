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
		refused("of mode "+strconv.FormatUint(uint64(m), 8), "chmod go-w "+cfgPath)
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
		if err := os.Chmod(shared, os.ModeSticky|0o777); err != nil {
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
// /tmp), which another user may have written. Using one is now refused,
// naming the context, the field and the set-context that mends it; config
// set-context keeps the absolute path of a relative one given; an
// absolute path or one starting ~/ reads as before.
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
		cfg, err := parseConfig(path, []byte(body), 0o600, 1000)
		if err != nil {
			t.Errorf("%s: %v, want the file read (the path is refused where used)", tc.line, err)
			continue
		}
		x := &cfg.Contexts[0]
		flag := map[string]string{"tokenFile": "--token-file", "catalog": "--catalog"}[tc.field]
		_, err = x.path(tc.field, strings.TrimSpace(strings.TrimPrefix(tc.line, tc.field+":")))
		if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "context lab: "+tc.field) || !strings.Contains(err.Error(), "relative") ||
			!strings.Contains(err.Error(), "config set-context lab "+flag+" /") {
			t.Errorf("%s: %v, want it refused naming the context, %s and the set-context that mends it", tc.line, err, tc.field)
		}
	}
	for _, line := range []string{"tokenFile: /etc/meridian/lab.token", "tokenFile: ~/lab.token", "catalog: /srv/sites", "catalog: ~/sites"} {
		body := "contexts:\n- name: lab\n  server: https://lab.example:7420\n  " + line + "\n"
		cfg, err := parseConfig(path, []byte(body), 0o600, 1000)
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		field, p, _ := strings.Cut(line, ": ")
		if _, err := cfg.Contexts[0].path(field, p); err != nil {
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

// TestContextRelativePathOfAnotherContextMended: a relative tokenFile or
// catalog was refused as the file was read, in any context: after an
// upgrade every command failed, those of the other contexts too, and
// config view and set-context, with which to mend it. Only using the
// context that names one is refused now; view shows it and set-context
// mends it.
func TestContextRelativePathOfAnotherContextMended(t *testing.T) {
	cfgPath := isolatedConfig(t)
	dir := filepath.Dir(cfgPath)
	sites := filepath.Join(dir, "sites")
	if err := os.Mkdir(sites, 0o755); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, "lab.token")
	if err := os.WriteFile(tok, []byte("lab-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := "currentContext: lab\ncontexts:\n" +
		"- name: lab\n  server: https://lab.example:7420\n  tokenFile: " + tok + "\n  catalog: " + sites + "\n" +
		"- name: old\n  server: https://old.example:7420\n  tokenFile: old.token\n  catalog: old-sites\n"
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// used is what a command of the context uses.
	type used struct{ server, token, catalog string }
	use := func(ctx string) (*used, error) {
		t.Helper()
		contextFlag = ctx
		defer func() { contextFlag = "" }()
		c, err := (&clientFlags{}).client()
		if err != nil {
			return nil, err
		}
		cat, err := defaultCatalog()
		if err != nil {
			return nil, err
		}
		return &used{c.Base, c.Token, cat}, nil
	}
	if got, err := use("lab"); err != nil || got.server != "https://lab.example:7420" || got.token != "lab-token" || got.catalog != sites {
		t.Fatalf("the current context, beside another naming relative paths: %+v %v", got, err)
	}
	if out, code := runRoot(t, "config", "view"); code != 0 || !strings.Contains(out, "old-sites") {
		t.Errorf("config view: exit %d\n%s", code, out)
	}
	// Used, the other context is refused: its token file, then its catalog.
	if _, err := use("old"); err == nil || !isCode(err, exitBadInput) ||
		!strings.Contains(err.Error(), `context old: tokenFile "old.token" is a relative path`) || !strings.Contains(err.Error(), "config set-context old --token-file /") {
		t.Errorf("using context old: %v, want its tokenFile refused naming the fix", err)
	}
	if out, code := runRoot(t, "config", "set-context", "old", "--token-file", tok); code != 0 {
		t.Fatalf("set-context old --token-file: exit %d\n%s", code, out)
	}
	if _, err := use("old"); err == nil || !isCode(err, exitBadInput) ||
		!strings.Contains(err.Error(), `context old: catalog "old-sites" is a relative path`) || !strings.Contains(err.Error(), "config set-context old --catalog /") {
		t.Errorf("using context old, its tokenFile mended: %v, want its catalog refused naming the fix", err)
	}
	if out, code := runRoot(t, "config", "set-context", "old", "--catalog", sites); code != 0 {
		t.Fatalf("set-context old --catalog: exit %d\n%s", code, out)
	}
	if got, err := use("old"); err != nil || got.server != "https://old.example:7420" || got.token != "lab-token" || got.catalog != sites {
		t.Errorf("context old, mended: %+v %v", got, err)
	}
}

// TestContextTokenFileThroughLinkJudgedWhereItLies: the token file's
// directory was judged by the name's (filepath.Dir of the path given),
// while the file was read through it: a link in this user's directory to
// a 0600 file in a directory another user owns (who may rename another
// file in at will) passed. The file a link leads to is now judged by the
// directory it lies in, as is --key-file's.
func TestContextTokenFileThroughLinkJudgedWhereItLies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	const other = 4242
	theirs := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(theirs, "lab.token")
	if err := os.WriteFile(target, []byte("their-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, other, other); err != nil {
		t.Fatal(err)
	}
	mine := t.TempDir()
	link := filepath.Join(mine, "lab.token")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	x := &cliContext{Name: "lab", TokenFile: link, file: filepath.Join(mine, "config.yaml"), perm: 0o600, owner: geteuid()}
	want := "its directory " + theirs + " is owned by uid 4242"
	if tok, err := x.token(); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("a token file linked from this user's directory into another's: %q %v, want it refused saying %q", tok, err, want)
	}

	t.Setenv("MERIDIAN_DATASET_KEY", "")
	k := &keyFlags{keyFile: link, keepKeyFile: true}
	if _, err := k.read(nil, state{}, "logs"); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("a --key-file linked from this user's directory into another's: %v, want it refused saying %q", err, want)
	}
	if _, err := os.Lstat(link); err != nil {
		t.Errorf("the refused --key-file's link was removed: %v", err)
	}
}

// TestServeLocalCountryFromFileOthersMayWriteRefused: serve took its local
// site's country (by which the law judges each transfer to or from the
// site, and the runs there) from serve.localCountry of any configuration
// file, whatever its mode or owner: a user who may write the file chose
// the law the server's runs are judged by. Such a file is now refused as
// for a context's server, naming the file and the fix; the user's own
// 0600 file, or --local-country, is used as before. (--max-streams 0
// stops serve past the choice, before it serves.)
func TestServeLocalCountryFromFileOthersMayWriteRefused(t *testing.T) {
	cfgPath := isolatedConfig(t)
	defer func(f func() int) { geteuid = f }(geteuid)
	serve := func(args ...string) error {
		_, err := runCLI(t, append([]string{"serve", "--max-streams", "0", "--listen", "127.0.0.1:0"}, args...)...)
		return err
	}
	write := func(mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte("serve:\n  localCountry: DE\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(cfgPath, mode); err != nil {
			t.Fatal(err)
		}
	}
	passed := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "--max-streams") {
			t.Errorf("%s: %v, want serve to reach --max-streams", what, err)
		}
	}
	write(0o600)
	passed("the user's own 0600 file", serve())
	for _, m := range []os.FileMode{0o666, 0o620} {
		write(m)
		err := serve()
		if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "serve.localCountry: refused") || !strings.Contains(err.Error(), "chmod go-w "+cfgPath) {
			t.Errorf("a file of mode %o: %v, want serve.localCountry refused naming the fix", m, err)
		}
		passed("--local-country beside it", serve("--local-country", "FR"))
	}
	// Another user's file: chown it where this test may, else stand in
	// another user for this one.
	write(0o600)
	if me := os.Geteuid(); me == 0 {
		if err := os.Chown(cfgPath, 4242, 4242); err != nil {
			t.Fatal(err)
		}
	} else {
		geteuid = func() int { return me + 1 }
	}
	if err := serve(); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "serve.localCountry: refused") || !strings.Contains(err.Error(), "chown ") {
		t.Errorf("another user's file: %v, want serve.localCountry refused naming the fix", err)
	}
}
