package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// Shell completion of the values users type most (`meridian completion
// bash|zsh|fish|powershell` prints the script): run ids from the server,
// site names from the catalog (the command's own --catalog and -f),
// countries, accelerators, rule ids and contexts. They are wired here, by
// command path and flag, so that each verb's file stays as it is.
type completer func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// argCompleters complete positional arguments, by command path.
var argCompleters = map[string]completer{
	"meridian logs":               completeRunIDs,
	"meridian cancel":             completeRunIDs,
	"meridian get":                completeGet,
	"meridian describe":           completeDescribe,
	"meridian catalog sites":      firstArg(completeSites),
	"meridian catalog countries":  firstArg(completeCountries),
	"meridian rules show":         firstArg(completeRules),
	"meridian config use-context": firstArg(completeContexts),
}

// flagCompleters complete flag values, by command path and flag name.
var flagCompleters = map[string]map[string]completer{
	"meridian plan":           {"explain": completeSites},
	"meridian estimate":       {"accelerator": completeAccelerators, "site": completeSites},
	"meridian catalog sites":  {"country": completeCountries, "accelerator": completeAccelerators},
	"meridian dataset stage":  {"to": completeSites},
	"meridian dataset verify": {"at": completeSites},
	"meridian dataset unseal": {"at": completeSites},
	"meridian dataset add":    {"origin": completeOrigins},
	"meridian serve":          {"local-country": completeCountries, "local-accelerator": completeAccelerators},
	"meridian audit log":      {"run": completeRunIDs},
}

// wireCompletions registers the completers on root's tree.
func wireCompletions(root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("context", completeContexts)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f, ok := argCompleters[c.CommandPath()]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = f
		}
		for name, f := range flagCompleters[c.CommandPath()] {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func firstArg(f completer) completer {
	return func(cmd *cobra.Command, args []string, to string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(cmd, args, to)
	}
}

func noFiles(list []string) ([]string, cobra.ShellCompDirective) {
	return list, cobra.ShellCompDirectiveNoFileComp
}

// completeRunIDs asks the server for the caller's runs, with each one's job
// and state as the description; nothing when the server cannot be reached.
func completeRunIDs(cmd *cobra.Command, args []string, to string) ([]string, cobra.ShellCompDirective) {
	var cf clientFlags
	cf.server, _ = cmd.Flags().GetString("server")
	cf.token, _ = cmd.Flags().GetString("token")
	cf.fingerprint, _ = cmd.Flags().GetString("tls-fingerprint")
	cf.insecureHTTP, _ = cmd.Flags().GetBool("insecure-http")
	c, err := cf.client()
	if err != nil {
		return noFiles(nil)
	}
	return runIDs(c, args, to)
}

func runIDs(c *api.Client, args []string, to string) ([]string, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	runs, err := c.List(ctx)
	if err != nil {
		return noFiles(nil)
	}
	given := map[string]bool{}
	for _, a := range args {
		given[a] = true
	}
	var out []string
	for _, r := range runs {
		// An id the server gave with a control character (a newline
		// would make another candidate, an escape would reach the
		// terminal) is no run's id: it is left out.
		if strings.HasPrefix(r.ID, to) && !given[r.ID] && shown(r.ID) == r.ID {
			out = append(out, r.ID+"\t"+shown(r.Job+" "+string(r.State)))
		}
	}
	return noFiles(out)
}

// completeGet: the resource, then run ids.
func completeGet(cmd *cobra.Command, args []string, to string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return noFiles([]string{"runs"})
	}
	return completeRunIDs(cmd, args[1:], to)
}

// completeDescribe: "run", then one run id.
func completeDescribe(cmd *cobra.Command, args []string, to string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return noFiles([]string{"run"})
	case 1:
		return completeRunIDs(cmd, nil, to)
	}
	return noFiles(nil)
}

// completeSites lists the sites of the catalog the command would load.
func completeSites(cmd *cobra.Command, args []string, to string) ([]string, cobra.ShellCompDirective) {
	dir, _ := cmd.Flags().GetString("catalog")
	files, _ := cmd.Flags().GetStringArray("file")
	w, err := loadWorld(dir, files...)
	if err != nil {
		if w, err = catalog.Builtin(); err != nil {
			return noFiles(nil)
		}
	}
	var out []string
	for _, s := range w.Sites {
		if strings.HasPrefix(s.Metadata.Name, to) {
			out = append(out, s.Metadata.Name+"\t"+s.Spec.Country+", "+s.AccessTerms())
		}
	}
	return noFiles(out)
}

func completeCountries(_ *cobra.Command, _ []string, to string) ([]string, cobra.ShellCompDirective) {
	w, err := catalog.Builtin()
	if err != nil {
		return noFiles(nil)
	}
	var out []string
	for _, c := range w.CountryCodes() {
		if strings.HasPrefix(c, strings.ToUpper(to)) {
			out = append(out, c+"\t"+w.Countries[c].Name)
		}
	}
	return noFiles(out)
}

// completeOrigins is countries and the regions a dataset may come from.
func completeOrigins(cmd *cobra.Command, args []string, to string) ([]string, cobra.ShellCompDirective) {
	out, d := completeCountries(cmd, args, to)
	w, err := catalog.Builtin()
	if err == nil {
		for _, r := range w.RegionCodes() {
			if strings.HasPrefix(r, strings.ToUpper(to)) {
				out = append(out, r+"\t"+w.Countries[r].Name)
			}
		}
	}
	return out, d
}

func completeAccelerators(_ *cobra.Command, _ []string, to string) ([]string, cobra.ShellCompDirective) {
	accs, err := catalog.BuiltinAccelerators()
	if err != nil {
		return noFiles(nil)
	}
	var out []string
	for _, id := range sortedIDs(accs) {
		if strings.HasPrefix(id, to) {
			out = append(out, id)
		}
	}
	return noFiles(out)
}

// completeRules lists the built-in rules and those of the command's --rules.
func completeRules(cmd *cobra.Command, _ []string, to string) ([]string, cobra.ShellCompDirective) {
	dirs, _ := cmd.Flags().GetStringArray("rules")
	e, err := policy.New(policy.Options{Dirs: dirs})
	if err != nil {
		return noFiles(nil)
	}
	var out []string
	today, _ := parseAsOf("")
	for _, r := range e.Rules(today) {
		if strings.HasPrefix(r.ID, to) {
			out = append(out, r.ID+"\t"+r.Jurisdiction+" "+string(r.Effect))
		}
	}
	return noFiles(out)
}

func completeContexts(_ *cobra.Command, _ []string, to string) ([]string, cobra.ShellCompDirective) {
	cfg, _, err := loadConfig()
	if err != nil {
		return noFiles(nil)
	}
	var out []string
	for _, c := range cfg.Contexts {
		if strings.HasPrefix(c.Name, to) {
			out = append(out, c.Name+"\t"+c.Server)
		}
	}
	return noFiles(out)
}
