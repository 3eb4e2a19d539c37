// Command build bundles the console's TypeScript and CSS with esbuild (its
// Go library, so no esbuild binary is needed) into dist/, which the console
// package embeds. It needs the npm dependencies in node_modules (npm ci).
//
//	go generate ./console           # writes console/dist
//	go run ./console/build -out DIR # writes elsewhere (the up-to-date check)
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

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
	return os.WriteFile(filepath.Join(out, "index.html"), html, 0o644)
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}
