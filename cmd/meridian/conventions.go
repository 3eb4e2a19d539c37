package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// conventions gives every verb what users of kubectl, sky and dstack
// expect: --version, --context and --color on every command, exit code 2
// for every usage error (unknown flag, missing argument, unknown verb), and
// completion of dynamic values. It runs once the tree is built.
func conventions(root *cobra.Command) {
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&contextFlag, "context", "", "context of the configuration file to use (meridian config get-contexts)")
	pf.StringVar(&colorMode, "color", "auto", "colour: auto (on a terminal, unless NO_COLOR is set), always or never")
	_ = root.RegisterFlagCompletionFunc("color", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp
	})
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		switch colorMode {
		case "auto", "always", "never":
			interruptible(cmd)
			return nil
		}
		return badInput(fmt.Errorf("--color %q: want auto, always or never", colorMode))
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return badInput(fmt.Errorf("%s: %w (usage: %s)", cmd.CommandPath(), err, cmd.UseLine()))
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	wireCompletions(root)
}

// cobraUsage recognises the usage errors cobra returns as plain errors (an
// unknown verb is found before any hook of ours runs).
var cobraUsage = []string{"unknown command ", "unknown flag", "unknown shorthand flag", "flag needs an argument",
	"invalid argument ", "bad flag syntax", "required flag"}

// exitStatus maps a command's error to the process's exit status: the code a
// codeError carries, 2 for a usage error, else 1.
func exitStatus(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	for _, p := range cobraUsage {
		if strings.HasPrefix(err.Error(), p) {
			return exitBadInput
		}
	}
	return exitError
}
