package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
)

// clientFile is written by `meridian serve` into the state directory so
// that the CLI on the same machine finds the server and its token.
const clientFile = "client.json"

type clientConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

type clientFlags struct {
	server, token string
}

func addClientFlags(cmd *cobra.Command, f *clientFlags) {
	cmd.Flags().StringVar(&f.server, "server", "", "server address (default $MERIDIAN_SERVER, else the config file's context, else $MERIDIAN_HOME/client.json)")
	cmd.Flags().StringVar(&f.token, "token", "", "API token (default $MERIDIAN_TOKEN, else the config file's context, else $MERIDIAN_HOME/client.json)")
}

// stateDir is $MERIDIAN_HOME, else ~/.meridian.
func stateDir() (string, error) {
	if d := os.Getenv("MERIDIAN_HOME"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state directory: set MERIDIAN_HOME (%w)", err)
	}
	return filepath.Join(home, ".meridian"), nil
}

// client resolves the server and token: flags, then environment, then the
// configuration file's context (--context or its current one), then the
// state directory's client.json.
func (f *clientFlags) client() (*api.Client, error) {
	server, token := f.server, f.token
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
	if server == "" || token == "" {
		dir, err := stateDir()
		if err != nil {
			return nil, err
		}
		cfg, err := readClientConfig(dir)
		if err != nil {
			return nil, err
		}
		if server == "" {
			server = cfg.Server
		}
		if token == "" {
			token = cfg.Token
		}
	}
	return api.NewClient(server, token), nil
}

func readClientConfig(dir string) (clientConfig, error) {
	var cfg clientConfig
	path := filepath.Join(dir, clientFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, fmt.Errorf("no server configured: start `meridian serve`, or set --server/--token or MERIDIAN_SERVER/MERIDIAN_TOKEN (looked for %s)", path)
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
