package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/statedir"
)

// clientFile is written by `meridian serve` into the state directory so
// that the CLI on the same machine finds the server and its token.
const clientFile = statedir.ClientFile

type clientConfig = statedir.Client

type clientFlags struct {
	server, token, fingerprint string
}

func addClientFlags(cmd *cobra.Command, f *clientFlags) {
	cmd.Flags().StringVar(&f.server, "server", "", "server address (default $MERIDIAN_SERVER, else the config file's context, else $MERIDIAN_HOME/client.json)")
	cmd.Flags().StringVar(&f.token, "token", "", "API token (default $MERIDIAN_TOKEN, else the config file's context, else $MERIDIAN_HOME/client.json)")
	cmd.Flags().StringVar(&f.fingerprint, "tls-fingerprint", "", "SHA-256 fingerprint of a self-signed server certificate to trust (default $MERIDIAN_TLS_FINGERPRINT, else from client.json)")
}

// stateDir is $MERIDIAN_HOME, else ~/.meridian.
func stateDir() (string, error) {
	d, err := statedir.Default()
	return d.Path, err
}

// client resolves the server, token and certificate fingerprint: flags,
// then environment, then the configuration file's context (--context or its
// current one), then the state directory's client.json (whose fingerprint
// counts only for its own server).
func (f *clientFlags) client() (*api.Client, error) {
	server, token, fp := f.server, f.token, f.fingerprint
	if server == "" {
		server = os.Getenv("MERIDIAN_SERVER")
	}
	if token == "" {
		token = os.Getenv("MERIDIAN_TOKEN")
	}
	if server == "" || token == "" {
		cfg, _, err := loadConfig()
		if err != nil {
			return nil, err
		}
		x, err := cfg.context()
		if err != nil {
			return nil, err
		}
		if x != nil {
			if server == "" {
				server = x.Server
			}
			if token == "" {
				if token, err = x.token(); err != nil {
					return nil, err
				}
			}
		}
	}
	if fp == "" {
		fp = os.Getenv("MERIDIAN_TLS_FINGERPRINT")
	}
	if server == "" || token == "" || fp == "" {
		dir, err := statedir.Default()
		if err != nil {
			return nil, err
		}
		cfg, err := readClientConfig(dir.Path)
		switch {
		case err == nil:
			if fp == "" && (server == "" || server == cfg.Server) {
				fp = cfg.Fingerprint
			}
			if server == "" {
				server = cfg.Server
			}
			if token == "" {
				token = cfg.Token
			}
		case server == "" || token == "":
			return nil, err
		case errors.Is(err, statedir.ErrExposed):
			// Consulted for its fingerprint alone, and passed over: say
			// so, rather than leave a pin that failed unexplained and the
			// exposed token unnoticed.
			fmt.Fprintf(os.Stderr, "warning: %v; its certificate fingerprint is not used\n", err)
		}
	}
	c, err := api.NewPinnedClient(server, token, fp)
	if err != nil {
		return nil, badInput(fmt.Errorf("--tls-fingerprint: %w", err))
	}
	return c, nil
}

func readClientConfig(dir string) (clientConfig, error) {
	d := statedir.Dir{Path: dir}
	cfg, err := d.ReadClient()
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, fmt.Errorf("no server configured: start `meridian serve`, or set --server/--token or MERIDIAN_SERVER/MERIDIAN_TOKEN (looked for %s)", d.Join(statedir.ClientFile))
	}
	return cfg, err
}
