package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { register(newVersionCmd) }

// version is stamped into release builds:
//
//	go build -ldflags "-X main.version=v0.4.0" ./cmd/meridian
//
// scripts/build-release.sh does it with the tag git describes. Without it
// the version is "dev" and the build's VCS revision says which commit.
var version = ""

// buildInfo is what `meridian version` prints.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commitTime,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if b.Version == "" {
		b.Version = "dev"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	return b
}

// versionString is one line: "meridian v0.4.0 (commit 1a2b3c4d5e6f, 2026-12-01T10:00:00Z, go1.26.8 linux/amd64)".
func versionString() string {
	b := readBuildInfo()
	s := "meridian " + b.Version + " ("
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += "commit " + c
		if b.Modified {
			s += " with local changes"
		}
		if b.Time != "" {
			s += ", " + b.Time
		}
		s += ", "
	}
	return s + b.Go + " " + b.Platform + ")"
}

func newVersionCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version stamped into this binary, its commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return render(cmd.OutOrStdout(), out, readBuildInfo(), func(w io.Writer) error {
				_, err := fmt.Fprintln(w, versionString())
				return err
			})
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}
