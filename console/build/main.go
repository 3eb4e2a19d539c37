// Command build bundles the console's TypeScript and CSS with esbuild (its
// Go library, so no esbuild binary is needed) into dist/, which the console
// package embeds. It needs the npm dependencies in node_modules (npm ci).
//
//	go generate ./console           # writes console/dist
//	go run ./console/build -out DIR # writes elsewhere (the up-to-date check)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

func main() {
	root := flag.String("root", ".", "the console directory (holds src/, package.json, node_modules/)")
	out := flag.String("out", "", "output directory (default ROOT/dist)")
	flag.Parse()
	if err := build(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "console build:", err)
		os.Exit(1)
	}
}

func build(root, out string) error {
	if out == "" {
		out = filepath.Join(root, "dist")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "d3-geo", "package.json")); err != nil {
		return fmt.Errorf("%s: the npm dependencies are missing: run `npm ci --ignore-scripts` there first", filepath.Join(root, "node_modules"))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	res := api.Build(api.BuildOptions{
		AbsWorkingDir:     mustAbs(root),
		EntryPoints:       []string{"src/main.ts", "src/style.css"},
		Bundle:            true,
		MinifySyntax:      true,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		Target:            api.ES2020,
		Format:            api.FormatIIFE,
		Platform:          api.PlatformBrowser,
		LegalComments:     api.LegalCommentsEndOfFile,
		Charset:           api.CharsetUTF8,
		Loader:            map[string]api.Loader{".json": api.LoaderJSON},
		EntryNames:        "[name]",
		Outdir:            mustAbs(out),
		Write:             true,
		LogLevel:          api.LogLevelWarning,
		Metafile:          true,
	})
	if len(res.Errors) > 0 {
		for _, e := range res.Errors {
			loc := ""
			if e.Location != nil {
				loc = fmt.Sprintf("%s:%d:%d: ", e.Location.File, e.Location.Line, e.Location.Column)
			}
			fmt.Fprintf(os.Stderr, "%s%s\n", loc, e.Text)
		}
		return fmt.Errorf("%d errors", len(res.Errors))
	}
	html, err := os.ReadFile(filepath.Join(root, "src", "index.html"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "index.html"), html, 0o644); err != nil {
		return err
	}
	return writeLicences(root, out, res.Metafile)
}

// writeLicences writes LICENSES.txt: the licence of every npm package
// whose code or data is in the bundle (their licences ask that the notice
// travel with every copy), as the build's metafile lists its inputs.
func writeLicences(root, out, metafile string) error {
	var meta struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(metafile), &meta); err != nil {
		return fmt.Errorf("esbuild metafile: %w", err)
	}
	pkgs := map[string]bool{}
	for in := range meta.Inputs {
		_, rest, ok := strings.Cut(in, "node_modules/")
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, "/", 3)
		name := parts[0]
		if strings.HasPrefix(name, "@") && len(parts) > 1 {
			name += "/" + parts[1]
		}
		pkgs[name] = true
	}
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("The Meridian console bundles these npm packages; their licences follow.\n")
	for _, n := range names {
		dir := filepath.Join(root, "node_modules", filepath.FromSlash(n))
		var pj struct{ Version, License string }
		if data, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil {
			json.Unmarshal(data, &pj)
		}
		text, err := os.ReadFile(filepath.Join(dir, "LICENSE"))
		if err != nil {
			return fmt.Errorf("npm package %s is bundled but has no LICENSE file: %w", n, err)
		}
		fmt.Fprintf(&b, "\n==== %s %s (%s) ====\n\n%s", n, pj.Version, pj.License, strings.TrimSpace(string(text))+"\n")
	}
	return os.WriteFile(filepath.Join(out, "LICENSES.txt"), []byte(b.String()), 0o644)
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}
