package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/token"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/plainfile"
)

// cliConfig is the CLI's configuration file, in the manner of kubeconfig:
// named contexts (a server, its token and a default catalog) and the one in
// use. Its JSON keys are its YAML keys: config view prints it through JSON,
// and what it prints must read back as the file. $MERIDIAN_CONFIG names it; by default it is meridian/config.yaml in
// the user's configuration directory (~/.config on Linux).
type cliConfig struct {
	CurrentContext string       `yaml:"currentContext,omitempty" json:"currentContext,omitempty"`
	Contexts       []cliContext `yaml:"contexts,omitempty" json:"contexts,omitempty"`
	// Serve holds defaults of `meridian serve` on this machine.
	Serve serveConfig `yaml:"serve,omitempty" json:"serve,omitzero"`

	// read holds the name, mode and owner of the file this was read from
	// (its file empty when there was none), for rewritable.
	read cliContext
}

// cliContext is one server the CLI talks to.
type cliContext struct {
	Name   string `yaml:"name" json:"name"`
	Server string `yaml:"server,omitempty" json:"server,omitempty"`
	// Token is the bearer token; TokenFile a file holding it (mode 0600),
	// read when used. Give one, not both.
	Token     string `yaml:"token,omitempty" json:"token,omitempty"`
	TokenFile string `yaml:"tokenFile,omitempty" json:"tokenFile,omitempty"`
	// Catalog is the default --catalog for plan, validate, catalog and
	// dataset on this context.
	Catalog string `yaml:"catalog,omitempty" json:"catalog,omitempty"`
	// InsecureHTTP records consent to send the token over plain HTTP: it
	// is the http:// server address the consent was given for (config
	// set-context --insecure-http), and counts only while the context's
	// server is that address and for requests to it. A server changed
	// later, by set-context or by hand, leaves it without effect.
	InsecureHTTP string `yaml:"insecureHTTP,omitempty" json:"insecureHTTP,omitempty"`

	// file and perm are the configuration file's name and mode, for the
	// refusal of a token that file gives away; owner is its owner's user
	// id (-1 where the system does not say), for the consent to plain HTTP
	// only a file of this user's own records.
	file  string
	perm  fs.FileMode
	owner int
	// dirs says why the directories the file lies in let another user
	// put another file in its place (configDirsProblem; "" when none do).
	dirs string
}

type serveConfig struct {
	// LocalCountry is the country of serve's local site.
	LocalCountry string `yaml:"localCountry,omitempty" json:"localCountry,omitempty"`
}

// contextFlag is --context: the context to use instead of the current one.
var contextFlag string

// configPath is $MERIDIAN_CONFIG, else meridian/config.yaml in the user's
// configuration directory.
func configPath() (string, error) {
	if p := os.Getenv("MERIDIAN_CONFIG"); p != "" {
		return p, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("configuration file: set MERIDIAN_CONFIG (%w)", err)
	}
	return filepath.Join(d, "meridian", "config.yaml"), nil
}

// maxConfigBytes bounds the configuration file.
const maxConfigBytes = 1 << 20

// loadConfig reads the configuration file; a missing file is an empty
// configuration. Unknown fields are an error, as in every Meridian file.
func loadConfig() (*cliConfig, string, error) {
	path, err := configPath()
	if err != nil {
		return nil, "", err
	}
	var cfg cliConfig
	// A regular file only: every command reads it, from a path it
	// chose itself, and config commands write it back.
	// Its mode and owner are the file read's, not the name's looked at
	// again, which another file could be renamed onto in between.
	b, fi, err := plainfile.ReadStat(path, maxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return &cfg, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	c, err := parseConfig(path, b, fi.Mode().Perm(), ownerOf(fi))
	if err != nil {
		return c, path, err
	}
	c.read.dirs = configDirsProblem(path)
	for i := range c.Contexts {
		c.Contexts[i].dirs = c.read.dirs
	}
	return c, path, nil
}

// configDirsProblem says why the configuration file at path may have been
// put there by another user though the file itself is this user's, mode
// 0600 ("" when it cannot): a link on its path another user owns or put
// in a directory of theirs, or a directory above it that another user
// owns, or that others may write and that is not sticky (ancestorsProblem).
// Such a user could rename the file's directory away and put their own
// in its place, choosing the server the token is sent to, the token file
// and the catalog; the file's own mode and owner said nothing of it.
func configDirsProblem(path string) string {
	uid := geteuid()
	real, bad, err := linkedOwned(path, uid)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: its path cannot be judged: %v", path, err)
	case bad != "":
		return fmt.Sprintf("%s: %s", path, bad)
	}
	if bad := ancestorsProblem(real, uid); bad != "" {
		return fmt.Sprintf("%s: %s", path, bad)
	}
	return ""
}

// parseConfig reads the configuration file's content b; path, perm and
// owner are the file's name, mode and owner's user id, which each context
// keeps for the checks of its token and of plain HTTP. Every error starts
// with path.
func parseConfig(path string, b []byte, perm fs.FileMode, owner int) (*cliConfig, error) {
	var cfg cliConfig
	// Text only: the YAML library takes bytes that are not UTF-8 into
	// strings that no file can say again (save writes them as other
	// characters).
	if i := notUTF8At(string(b)); i >= 0 {
		return nil, fmt.Errorf("%s: line %d: byte %#02x is not UTF-8 text", path, 1+bytes.Count(b[:i], []byte("\n")), b[i])
	}
	if err := yaml.UnmarshalWithOptions(b, &cfg, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.read = cliContext{file: path, perm: perm, owner: owner}
	seen := map[string]bool{}
	for i, c := range cfg.Contexts {
		cfg.Contexts[i].file, cfg.Contexts[i].perm, cfg.Contexts[i].owner = path, perm, owner
		switch {
		case c.Name == "":
			return nil, fmt.Errorf("%s: contexts[%d]: name is required", path, i)
		case seen[c.Name]:
			return nil, fmt.Errorf("%s: contexts[%d]: context %q is defined twice", path, i, c.Name)
		case c.Token != "" && c.TokenFile != "":
			return nil, fmt.Errorf("%s: context %s: give token or tokenFile, not both", path, c.Name)
		case c.InsecureHTTP != "" && !plainHTTPURL(c.InsecureHTTP):
			return nil, fmt.Errorf("%s: context %s: insecureHTTP: want the http:// server address plain HTTP was allowed for (as config set-context --insecure-http writes it), not %q", path, c.Name, c.InsecureHTTP)
		}
		seen[c.Name] = true
	}
	if cfg.CurrentContext != "" && !seen[cfg.CurrentContext] {
		return nil, fmt.Errorf("%s: currentContext %q names no context", path, cfg.CurrentContext)
	}
	return &cfg, nil
}

// rewritable refuses to write the configuration back over the file it was
// read from when that file is one that others may write or that another
// user owns: written by this user, mode 0600, whatever another user put in
// it (a server, a tokenFile) would be trusted from then on, unseen. nil
// when there was no file, or it is this user's alone.
func (c *cliConfig) rewritable() error {
	if c.read.file == "" {
		return nil
	}
	if bad := c.read.consentFileProblem(); bad != "" {
		return fmt.Errorf("%s; refused to write it anew as this user's own, which would trust from then on the server, token and catalog another user may have put in it: read it, then fix it as said", bad)
	}
	return nil
}

// saveConfig writes the configuration atomically, mode 0600 (it may hold
// tokens).
func (c *cliConfig) save(path string) error {
	b, err := c.encode()
	if err != nil {
		return err
	}
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeUserFile(path, b, 0o600)
}

// encode is the configuration file's content, as save writes it. A value
// that is not UTF-8 text is an error naming its field: the file says no
// such string again (the YAML reader takes each such byte, however
// quoted, for another character), so it would change at the next load.
func (c *cliConfig) encode() ([]byte, error) {
	if err := c.checkText(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("# Meridian CLI configuration: contexts (server, token, default catalog) and\n# the one in use. Edit with `meridian config`.\n")
	b, err := configYAML(c)
	if err != nil {
		return nil, err
	}
	buf.Write(b)
	return buf.Bytes(), nil
}

// checkText is an error naming the first value of c that is not UTF-8
// text, and where in it; nil where every one is.
func (c *cliConfig) checkText() error {
	type field struct{ name, v string }
	fields := []field{{"currentContext", c.CurrentContext}, {"serve.localCountry", c.Serve.LocalCountry}}
	for i, x := range c.Contexts {
		at := fmt.Sprintf("contexts[%d].", i)
		fields = append(fields, field{at + "name", x.Name}, field{at + "server", x.Server}, field{at + "token", x.Token},
			field{at + "tokenFile", x.TokenFile}, field{at + "catalog", x.Catalog}, field{at + "insecureHTTP", x.InsecureHTTP})
	}
	for _, f := range fields {
		if err := textValue(f.v); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// textValue is an error saying where s is not UTF-8 text (the byte and
// its offset, never s itself: it may be a token); nil where it is.
func textValue(s string) error {
	if i := notUTF8At(s); i >= 0 {
		return fmt.Errorf("byte %#02x at offset %d is not UTF-8 text", s[i], i)
	}
	return nil
}

// notUTF8At is the offset of the first byte of s that is not UTF-8 text;
// -1 where s is all text.
func notUTF8At(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// configYAML is v (a configuration) as YAML that reads back as v. The
// YAML library writes as they are strings it reads back as others: a tab
// or a carriage return is lost, "? a" is no longer a value, ".inf" comes
// back as "+Inf"; and a control character went to the terminal of config
// view as it is. A string is written plain only when it is made of
// letters, digits and a few marks and the library itself would not quote
// it; any other is written double-quoted, with Go's escapes, which YAML
// reads as Go wrote them.
func configYAML(v any) ([]byte, error) {
	return yaml.MarshalWithOptions(v, yaml.CustomMarshaler[string](yamlString))
}

var plainYAMLString = regexp.MustCompile(`^[A-Za-z0-9_/~][A-Za-z0-9._/~:@+=,-]*$`)

func yamlString(s string) ([]byte, error) {
	if err := textValue(s); err != nil {
		// Quoted, it would read back as another string.
		return nil, err
	}
	if plainYAMLString.MatchString(s) && !token.IsNeedQuoted(s) {
		return []byte(s), nil
	}
	return []byte(strconv.Quote(s)), nil
}

// writeConfigView writes config view's output: the file's name, then the
// configuration shown (its tokens REDACTED) as YAML that reads back as a
// configuration file.
func writeConfigView(w io.Writer, path string, shown cliConfig) error {
	b, err := configYAML(shown)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "# %s\n%s", path, b)
	return err
}

// writeUserFile writes a file whose name the user chose (the
// configuration file, plot's output, dataset key --out) atomically, as
// atomicfile.WriteFile does, first removing the temporary files of that
// file (.NAME.tmp-N) that writers killed before their rename left beside
// it, once atomicfile.StaleTempAge old: no lock serialises its writers,
// so a fresher one may be another command's at work and stays. Before,
// each stayed for good. Only regular files of that exact temporary name
// go, never what a link points to, and at most atomicfile.MaxTempScan
// entries of the directory are read.
func writeUserFile(path string, data []byte, perm os.FileMode) error {
	base := filepath.Base(path)
	atomicfile.RemoveStaleTemps(filepath.Dir(path), func(name string) bool { return name == base }, atomicfile.StaleTempAge)
	return atomicfile.WriteFile(path, data, perm)
}

// context returns the context in use: --context, else the current one; nil
// when the configuration names none.
func (c *cliConfig) context() (*cliContext, error) {
	name := contextFlag
	if name == "" {
		name = c.CurrentContext
	}
	if name == "" {
		return nil, nil
	}
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i], nil
		}
	}
	return nil, fmt.Errorf("--context %q: no such context (%s)", name, strings.Join(c.names(), ", "))
}

func (c *cliConfig) names() []string {
	out := make([]string, len(c.Contexts))
	for i, x := range c.Contexts {
		out[i] = x.Name
	}
	return out
}

// token returns the context's token, read from TokenFile when it names one.
// Either is refused from a configuration file that another user may have
// written (trusted), and a TokenFile that another user owns, or whose
// directory another user owns, is refused too: its owner chose the token,
// and every request made with it would act as their tenant (apply, and
// dataset send-key handing them the key).
func (x *cliContext) token() (string, error) {
	switch {
	case x.TokenFile != "":
		if err := x.trusted("tokenFile"); err != nil {
			return "", err
		}
	case x.Token != "":
		if err := x.trusted("token"); err != nil {
			return "", err
		}
	}
	if x.TokenFile == "" {
		// A token kept in the file is as secret as a tokenFile.
		if x.Token != "" && x.perm&0o077 != 0 {
			return "", fmt.Errorf("context %s: %s holds its token and its mode %o lets others read it; want 0600 (chmod 600 %s)", x.Name, x.file, x.perm, x.file)
		}
		return x.Token, nil
	}
	p, err := x.path("tokenFile", x.TokenFile)
	if err != nil {
		return "", err
	}
	// A regular file only, named in the configuration file, not by the
	// person at the command line; its mode and owner are the file read's,
	// not the name's looked at again, which another file could be renamed
	// onto in between.
	tf, err := readOwned(p, maxKeyBytes)
	if err != nil {
		return "", fmt.Errorf("context %s: tokenFile: %w", x.Name, err)
	}
	// Its mode says nothing of who wrote it: a 0600 file another user put
	// in a directory they may write (a shared or sticky one), or one in a
	// directory they own, which they may rename another into, is theirs;
	// and a link another user owns, or put in their directory, leads
	// where they chose (to this user's token for another server, say).
	// The directory judged is the one the file read lies in, reached by
	// links judged one by one (readOwned).
	if bad := tf.problem; bad != "" {
		return "", badInput(fmt.Errorf("context %s: tokenFile %s: %s; refused: its owner chose the token, and this user would act as their tenant; keep the token in a file and directory that this user (uid %d) or root owns", x.Name, p, bad, geteuid()))
	}
	if tf.fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("context %s: tokenFile %s: mode %o lets others read it; want 0600", x.Name, p, tf.fi.Mode().Perm())
	}
	return strings.TrimSpace(string(tf.data)), nil
}

// trusted refuses the context's field (its server, token, tokenFile or
// catalog) when its configuration file is one that others may write or
// that another user owns (consentFileProblem): whoever wrote it would
// choose the server this user's token is sent to (a token from
// MERIDIAN_TOKEN too), the token, and so the tenant, this user acts as,
// or the sites plans are made against. nil when the file is this user's
// (or root's) and no one else may write it.
func (x *cliContext) trusted(field string) error {
	if bad := x.consentFileProblem(); bad != "" {
		return badInput(fmt.Errorf("context %s: %s: refused, as %s; a configuration file that another user may have written chooses no server, token or catalog", x.Name, field, bad))
	}
	return nil
}

// relativePath reports whether p, a context's tokenFile or catalog, is a
// relative path: neither absolute nor starting ~/. One would be read from
// whatever directory a command runs in, which another user may have
// written (a shared checkout, /tmp).
func relativePath(p string) bool {
	return p != "" && !filepath.IsAbs(p) && !strings.HasPrefix(p, "~/")
}

// contextPath is p, given to config set-context as a context's tokenFile
// or catalog, as the context keeps it: absolute, or starting ~/ as given.
func contextPath(p string) (string, error) {
	if p == "" || !relativePath(p) {
		return p, nil
	}
	return filepath.Abs(p)
}

// path is the context's field (tokenFile or catalog) p as the file to
// read: ~/ expanded. A relative path is refused here, where the context is
// used, naming the context, the field and the set-context that mends it:
// it would be read from whatever directory the command runs in. (Refused
// when the file is read instead, it would stop every command, those that
// mend it and those of other contexts too.) A path that is not absolute
// once expanded (a home directory not known) is an error naming the field.
func (x *cliContext) path(field, p string) (string, error) {
	if relativePath(p) {
		flag := map[string]string{"tokenFile": "--token-file", "catalog": "--catalog"}[field]
		return "", badInput(fmt.Errorf("context %s: %s %q is a relative path, which would be read from whatever directory a command runs in; refused: give an absolute path (meridian config set-context %s %s /ABSOLUTE/PATH)", x.Name, field, p, x.Name, flag))
	}
	q := expandHome(p)
	if !filepath.IsAbs(q) {
		return "", badInput(fmt.Errorf("context %s: %s %q: not an absolute path (is the home directory known?); give an absolute path", x.Name, field, p))
	}
	return q, nil
}

// plainHTTPAllowed reports whether the context records consent to plain
// HTTP for server: server is the context's own, the consent was given for
// that address, and the file recording it is this user's alone.
func (x *cliContext) plainHTTPAllowed(server string) bool {
	return x.plainHTTPRecorded(server) && x.consentFileProblem() == ""
}

// plainHTTPRecorded reports whether the context records consent to plain
// HTTP for server, whoever wrote it.
func (x *cliContext) plainHTTPRecorded(server string) bool {
	return x != nil && x.InsecureHTTP != "" && x.Server != "" &&
		sameServer(x.InsecureHTTP, x.Server) && sameServer(server, x.Server)
}

// consentFileProblem says why the context's file cannot record consent to
// plain HTTP ("" when it can): another user may have written it, so the
// consent would be theirs, given for this user's token. Only the user
// (or root) may write a file that does.
func (x *cliContext) consentFileProblem() string {
	switch {
	case x.perm&0o022 != 0:
		return fmt.Sprintf("%s: its mode %o lets others write it (chmod go-w %s)", x.file, x.perm, x.file)
	case x.owner < 0:
		return fmt.Sprintf("%s: its owner is not known", x.file)
	case x.owner != geteuid() && x.owner != 0:
		return fmt.Sprintf("%s: it belongs to user %d, not to this one (%d) (chown %d %s, or write one of your own and name it in MERIDIAN_CONFIG)", x.file, x.owner, geteuid(), geteuid(), x.file)
	case x.dirs != "":
		return x.dirs
	}
	return ""
}

// plainHTTPURL reports whether s is an http:// address with a host.
func plainHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && strings.EqualFold(u.Scheme, "http") && u.Host != ""
}

// expandHome turns a leading ~/ into the user's home directory.
func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	return p
}

// defaultCatalog is the context's catalog directory, for commands given no
// --catalog; "" when there is none.
func defaultCatalog() (string, error) {
	cfg, _, err := loadConfig()
	if err != nil {
		return "", err
	}
	x, err := cfg.context()
	if err != nil || x == nil || x.Catalog == "" {
		return "", err
	}
	if err := x.trusted("catalog"); err != nil {
		return "", err
	}
	return x.path("catalog", x.Catalog)
}
