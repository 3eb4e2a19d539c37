package policy

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"meridian.dev/meridian/internal/plainfile"
)

//go:embed packs/*.yaml
var builtinPacks embed.FS

// File is one rule file held in memory: the name its problems are reported
// under and its contents. A server that receives rule files (rules apply)
// loads them as Files, so nothing is written before they have passed every
// check.
type File struct {
	Name string
	Data []byte
	// builtin marks the embedded packs: they are reviewed and tested, so
	// their expressions are bounded by the load-time cost estimate alone
	// and skip the per-evaluation cost tracking user packs run under.
	builtin bool
}

// Options configures an Engine.
type Options struct {
	// Dirs are directories (or single files) of user rule files (*.yaml,
	// *.yml), added to the built-in packs (the --rules DIR flag). A user
	// rule may not reuse a built-in rule's id.
	Dirs []string
	// Files are rule files already in memory, loaded after Dirs.
	Files []File
	// NoBuiltin leaves the built-in packs out (tests of user packs).
	NoBuiltin bool
}

// Builtin returns an engine with the embedded packs only.
func Builtin() (*Engine, error) { return New(Options{}) }

// New loads, checks and compiles the built-in packs (unless
// opts.NoBuiltin), every rule file in opts.Dirs and opts.Files. Every
// check runs on every file: syntax and unknown fields, dates, sources,
// message placeholders, CEL compilation, the facts and vocabulary words a
// condition names, the estimated cost of each expression, and the size of
// each file. Any problem fails the whole load, and the error is Problems
// listing them all with file, line, rule and field; no engine is returned,
// so a caller that swaps engines changes nothing on failure.
func New(opts Options) (*Engine, error) {
	return NewContext(context.Background(), opts)
}

// NewContext is New stopping with ctx: between files, within a file
// between its stages and its rules, and between the conditions it
// compiles. A load at the bounds (MaxPackBytes a file) takes seconds of
// CPU, and a server loads on a request's behalf (rules apply, what-if).
// When ctx ends first the error wraps its cause (errors.Is
// context.Canceled or DeadlineExceeded) and is not Problems.
func NewContext(ctx context.Context, opts Options) (*Engine, error) {
	files, ps := gather(opts)
	e, more, err := load(ctx, files)
	if err != nil {
		return nil, err
	}
	var all problemList
	all.addAll(ps)
	all.addAll(more)
	if err := all.list().errOrNil(); err != nil {
		return nil, err
	}
	e.digest = FilesDigest(files)
	return e, nil
}

// FilesDigest is the hex SHA-256 of files, each name and content
// length-prefixed, in the order given: the same files give the same
// digest, and no two sets of files run together into one.
func FilesDigest(files []File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%d:%s%d:", len(f.Name), f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Lint runs every check New runs and returns every problem found (nil when
// the files would load). The built-in packs are loaded too unless
// opts.NoBuiltin, so a user file is checked against the ids and
// definitions it would meet.
func Lint(opts Options) Problems {
	files, ps := gather(opts)
	_, more, _ := load(context.Background(), files)
	var all problemList
	all.addAll(ps)
	all.addAll(more)
	return all.list().sorted()
}

// gather collects the files New and Lint read: built-in packs, then
// directories, then in-memory files. Files that cannot be read are problems.
func gather(opts Options) ([]File, Problems) {
	var files []File
	var ps Problems
	if !opts.NoBuiltin {
		fs, err := builtinFiles()
		if err != nil {
			return nil, Problems{{File: "built-in packs", Message: err.Error()}}
		}
		files = append(files, fs...)
	}
	for _, dir := range opts.Dirs {
		fs, err := ReadFiles(dir)
		if err != nil {
			var more Problems
			if errors.As(err, &more) {
				ps = append(ps, more...)
				continue
			}
			ps = append(ps, Problem{File: dir, Message: err.Error()})
			continue
		}
		files = append(files, fs...)
	}
	return append(files, opts.Files...), ps
}

func builtinFiles() ([]File, error) {
	entries, err := fs.ReadDir(builtinPacks, "packs")
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		data, err := builtinPacks.ReadFile("packs/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: "built-in:packs/" + e.Name(), Data: data, builtin: true})
	}
	return out, nil
}

// ReadFiles reads the rule files (*.yaml, *.yml) of a directory in name
// order, or one file. A file over MaxPackBytes is a problem and is not
// read. A directory without rule files is an error.
func ReadFiles(path string) ([]File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var names []string
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				names = append(names, filepath.Join(path, e.Name()))
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml rule files in the directory", path)
		}
	} else {
		names = []string{path}
	}
	sort.Strings(names)
	var files []File
	var ps Problems
	for _, name := range names {
		var data []byte
		var err error
		if st.IsDir() {
			data, err = plainfile.Read(name, MaxPackBytes)
		} else {
			// One file named by the person (rules apply -f, --rules,
			// rules lint): a pipe is read too (-f <(envsubst < pack.yaml)).
			// Files found in a directory stay regular files only: anyone
			// who may write there could leave a FIFO that never ends.
			data, err = plainfile.ReadNamed(name, MaxPackBytes)
		}
		if err != nil {
			// The problem names the file already.
			ps = append(ps, Problem{File: name, Message: strings.TrimPrefix(err.Error(), name+": ")})
			continue
		}
		files = append(files, File{Name: name, Data: data})
	}
	if len(ps) > 0 {
		return files, ps
	}
	return files, nil
}

// load parses every file and compiles the packs that parsed, collecting
// every problem. The engine is nil when there is any problem. The error
// is ctx's end (see NewContext).
func load(ctx context.Context, files []File) (*Engine, Problems, error) {
	var packs []*Pack
	var ps problemList
	for _, f := range files {
		p, err := parsePackContext(ctx, f.Name, f.Data)
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("loading the rule files stopped: %w", context.Cause(ctx))
		}
		if err != nil {
			var more Problems
			if errors.As(err, &more) {
				ps.addAll(more)
			} else {
				ps.add(Problem{File: f.Name, Message: err.Error()})
			}
			continue
		}
		p.builtin = f.builtin
		packs = append(packs, p)
	}
	return compileWith(ctx, packs, &ps)
}
