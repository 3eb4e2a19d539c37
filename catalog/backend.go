package catalog

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// BackendProblem is one setting of a BackendSpec that cannot work: Field is
// the setting's name inside backend (restURL, tokenFile, …).
type BackendProblem struct {
	Field, Msg string
}

// Problems lists the settings of b that cannot work, in field order. It
// checks each setting's form and which settings go together; whether a
// partition exists or a token is accepted only the scheduler can say.
// The loader reports these at load time, and the backends refuse the same
// settings when they are built from a spec that no loader checked.
func (b BackendSpec) Problems() []BackendProblem {
	var out []BackendProblem
	add := func(field, format string, args ...any) {
		out = append(out, BackendProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	slurm := b.Type == BackendSlurm
	if b.Partition != "" && !SlurmName(b.Partition) {
		add("partition", "%q is not a Slurm partition name (letters, digits, '-', '_', '.')", b.Partition)
	}
	if b.GresType != "" && !SlurmName(b.GresType) {
		add("gresType", "%q is not a GRES type (letters, digits, '-', '_', '.'), e.g. h100", b.GresType)
	}
	if b.Gres != "" {
		name, typ, hasType := strings.Cut(b.Gres, ":")
		if !SlurmName(name) || hasType && !SlurmName(typ) {
			add("gres", "%q is not a GRES of the form name[:type], e.g. gpu:h100", b.Gres)
		} else if b.GresType != "" {
			add("gres", "set gres (%s) or the older gresType (%s), not both", b.Gres, b.GresType)
		}
	}
	if b.RestURL == "" {
		if b.TokenFile != "" {
			add("tokenFile", "only with restURL (a token for slurmrestd)")
		}
		if b.User != "" {
			add("user", "only with an https restURL (sent with the token)")
		}
		return out
	}
	if !slurm {
		add("restURL", "only for type slurm, not %q", b.Type)
		return out
	}
	if b.Endpoint != "" {
		add("endpoint", "is the slurm.conf of Slurm's commands on this machine; a site reached through restURL has none")
	}
	u, err := url.Parse(b.RestURL)
	if err != nil {
		add("restURL", "%q is not a URL: %v", b.RestURL, err)
		return out
	}
	jwt := false
	switch u.Scheme {
	case "unix":
		if u.Host != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || u.RawQuery != "" || u.Fragment != "" {
			add("restURL", "%q: want unix:///absolute/path/to/slurmrestd.sock", b.RestURL)
		}
	case "https", "http":
		jwt = true
		switch {
		case u.Host == "" || u.Opaque != "":
			add("restURL", "%q has no host", b.RestURL)
		case u.User != nil:
			add("restURL", "%q carries credentials; put the token in tokenFile", u.Redacted())
		case u.RawQuery != "" || u.Fragment != "":
			add("restURL", "%q: want no query or fragment, only scheme, host, port and an optional path prefix", b.RestURL)
		case u.Scheme == "http" && !loopbackHost(u.Hostname()):
			add("restURL", "%q: plain http would send the token in clear; use https, or http to a loopback address (a tunnel)", b.RestURL)
		}
	default:
		add("restURL", "scheme %q: want unix:// (slurmrestd's socket, rest_auth/local) or https:// (a JWT from tokenFile)", u.Scheme)
	}
	switch {
	case jwt && b.TokenFile == "":
		add("tokenFile", "required with an %s restURL: the file holding the JWT for slurmrestd", u.Scheme)
	case jwt && !strings.HasPrefix(b.TokenFile, "~/") && !filepath.IsAbs(b.TokenFile):
		add("tokenFile", "%q: want an absolute path or one starting with ~/", b.TokenFile)
	case !jwt && b.TokenFile != "":
		add("tokenFile", "only with an https restURL; slurmrestd's unix socket authenticates the connecting user (rest_auth/local)")
	}
	if b.User != "" && !jwt {
		add("user", "only with an https restURL (sent with the token)")
	} else if b.User != "" && !slurmUser(b.User) {
		add("user", "%q is not a user name (letters, digits, '.', '_', '-', '@'; at most 64)", b.User)
	}
	if b.WorkDir != "" && !filepath.IsAbs(b.WorkDir) {
		add("workDir", "%q: with restURL this is a path on the cluster and must be absolute", b.WorkDir)
	}
	return out
}

// SlurmName reports whether s is usable as a Slurm partition, GRES name or
// GRES type here: letters, digits, '-', '_' and '.', at most 64.
func SlurmName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func slurmUser(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@') {
			return false
		}
	}
	return true
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
