package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"weak"
)

// internalErrorMsg starts the error returned when decoding panicked.
const internalErrorMsg = "internal error while reading YAML (please report this file)"

// Set is a collection of resources read from YAML files, in file order.
type Set struct {
	Organizations []*Organization
	Datasets      []*Dataset
	Sites         []*Site
	Jobs          []*TrainingJob

	// sitesChecked says that CheckSites found every site valid: a world
	// the set is added to does not validate them again.
	sitesChecked bool
}

// docSource is the text of the document a resource was read from, kept so
// that errors found after decoding (by World.Validate) can name the line of
// a field: the document is parsed again then, which is cheaper than keeping
// every document's tree in memory for the few that have errors. The tree
// of that parse is held weakly, so that the lookups that follow it (one
// per field of each of a site's thousands of pools) reuse it rather than
// each parsing the document again, while it is still in memory.
type docSource struct {
	mu     sync.Mutex
	tree   weak.Pointer[node] // the last parse's root, while it lives
	broken bool               // the text does not parse: there is no tree

	// data is the document's own text, which the values decoded from it
	// slice: never a slice of the file it came from, which would keep every
	// other document of the file alive as long as the resource.
	data      string
	firstLine int
	// lines holds, for a TrainingJob, the line of every mapping key path
	// reached without an alias (spec.constraints.sites): a job is small, and
	// every plan cites its fields, so they are noted while its tree exists.
	lines map[string]int
}

// maxJobLines bounds the paths noted for one job.
const maxJobLines = 256

// keyLines notes the line of each mapping key path under n, prefix first.
func keyLines(n *node, prefix string, out map[string]int) {
	if n == nil || n.kind != mappingNode {
		return
	}
	for i := 0; i+1 < len(n.items) && len(out) < maxJobLines; i += 2 {
		k, v := n.items[i], n.items[i+1]
		if k.kind != scalarNode {
			continue
		}
		path := k.value
		if prefix != "" {
			path = prefix + "." + k.value
		}
		out[path] = v.line       // 0: the document's line, as lineIn says
		if v.kind != aliasNode { // an alias: the line where it is used
			keyLines(v, path, out)
		}
	}
}

// Kinds lists the resource kinds a file may hold.
var Kinds = []string{KindOrganization, KindDataset, KindSite, KindTrainingJob}

// chunk is the text of one document of a file, "---" line included.
type chunk struct {
	data []byte
	line int // the file line data starts on
}

// splitDocuments cuts a file into its documents at the lines YAML reserves
// for that ("---" and "..." at the start of a line, alone or followed by a
// space), so that documents can be parsed in parallel and each within its
// own limits. A document's text never holds another's.
func splitDocuments(name string, data []byte) ([]chunk, error) {
	var out []chunk
	start, startLine := 0, 1
	line := 1
	for off := 0; off < len(data); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		l := data[off:next]
		if isMarker(l, "---") || isMarker(l, "...") {
			if off > start {
				out = append(out, chunk{data[start:off], startLine})
			}
			start, startLine = off, line
			if l[0] == '.' {
				start, startLine = next, line+1
			}
			if len(out) >= MaxDocuments {
				return nil, &FieldError{File: name, Line: line, Msg: fmt.Sprintf("more than %d documents in one file; split it", MaxDocuments)}
			}
		}
		off = next
	}
	if start < len(data) {
		out = append(out, chunk{data[start:], startLine})
	}
	return out, nil
}

// isMarker reports whether line starts with a document marker (--- or ...)
// that stands alone or is followed by white space.
func isMarker(line []byte, m string) bool {
	if !bytes.HasPrefix(line, []byte(m)) {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\n' || line[3] == '\r'
}

// decoded is what one document gave: a resource or errors.
type decoded struct {
	res  any // *Organization, *Dataset, *Site or *TrainingJob; nil for none
	errs Errors
}

// apiVersions is the accepted values of apiVersion, shared by the
// problems that name them.
var apiVersions = []string{APIVersion}

// decodeDocument parses and decodes one document.
func decodeDocument(file string, c chunk) (out decoded) {
	// A panic in a parser on hostile input must not take the process down.
	defer func() {
		if r := recover(); r != nil {
			out = decoded{errs: Errors{{File: file, Line: c.line, Msg: fmt.Sprintf("%s: %v", internalErrorMsg, r)}}}
		}
	}()
	if len(c.data) > MaxDocumentBytes {
		return decoded{errs: Errors{{File: file, Line: c.line, Msg: fmt.Sprintf("document is %d bytes, over the %d-byte limit for one document", len(c.data), MaxDocumentBytes)}}}
	}
	p := parsers.Get().(*fastParser)
	defer parsers.Put(p) // after decoding: the tree lives in p's arrays
	// The document's own copy of its text: its values and its position's
	// source are slices of it, not of the file.
	text := string(c.data)
	root, err := p.parseDocumentText(text, c.line)
	if err != nil {
		var pe *parseError
		if errors.As(err, &pe) {
			return decoded{errs: Errors{{File: file, Line: pe.line, Msg: pe.msg}}}
		}
		return decoded{errs: Errors{{File: file, Line: c.line, Msg: err.Error()}}}
	}
	if root == nil || isNull(root) {
		return decoded{}
	}
	if root.kind == aliasNode {
		root = root.target
	}
	if root.kind != mappingNode {
		return decoded{errs: Errors{{File: file, Line: root.line, Msg: "document is not a mapping: want apiVersion, kind, metadata and spec"}}}
	}
	pos := Position{File: file, Line: root.line, src: &docSource{data: text, firstLine: c.line}}
	apiVersion, kind, name := header(root)
	if apiVersion.value != APIVersion {
		msg := fmt.Sprintf("%q is not supported", apiVersion.value)
		if apiVersion.value == "" {
			msg = "required"
		}
		return decoded{errs: Errors{{File: file, Line: lineOr(apiVersion, pos.Line), Field: "apiVersion", Msg: msg, Accepted: apiVersions}}}
	}
	var target any
	switch kind.value {
	case KindOrganization:
		target = &Organization{Pos: pos}
	case KindDataset:
		target = &Dataset{Pos: pos}
	case KindSite:
		target = &Site{Pos: pos}
	case KindTrainingJob:
		pos.src.lines = map[string]int{}
		keyLines(root, "", pos.src.lines)
		target = &TrainingJob{Pos: pos}
	default:
		msg := fmt.Sprintf("%q is not a known kind", kind.value)
		if kind.value == "" {
			msg = "required"
		}
		return decoded{errs: Errors{{File: file, Line: lineOr(kind, pos.Line), Field: "kind", Msg: msg, Accepted: Kinds}}}
	}
	res := kind.value
	if name.value != "" {
		res += "/" + name.value
	}
	d := &decoder{file: file, res: res}
	d.decode(root, reflect.ValueOf(target).Elem(), 0)
	if d.hidden > 0 {
		d.errs = append(d.errs, moreProblems(file, d.hidden))
	}
	if len(d.errs) > 0 {
		return decoded{errs: d.errs}
	}
	return decoded{res: target}
}

// absentNode is header's answer for a key the document lacks: an empty
// value on no line. It is shared by every document and never written.
var absentNode = &node{}

// header reads apiVersion, kind and metadata.name before decoding, so that
// a broken body still gets a named resource in errors.
func header(root *node) (apiVersion, kind, name *node) {
	apiVersion, kind, name = absentNode, absentNode, absentNode
	scalar := func(n *node) *node {
		if n != nil && n.kind == aliasNode {
			n = n.target
		}
		if n == nil || n.kind != scalarNode {
			return &node{line: lineOr(n, 0)}
		}
		return n
	}
	if v := child(root, "apiVersion"); v != nil {
		apiVersion = scalar(v)
	}
	if v := child(root, "kind"); v != nil {
		kind = scalar(v)
	}
	if v := child(child(root, "metadata"), "name"); v != nil {
		name = scalar(v)
	}
	return apiVersion, kind, name
}

// child returns the value of key in mapping n, or nil.
func child(n *node, key string) *node {
	if n != nil && n.kind == aliasNode {
		n = n.target
	}
	if n == nil || n.kind != mappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.items); i += 2 {
		if k := n.items[i]; k.kind == scalarNode && k.value == key {
			return n.items[i+1]
		}
	}
	return nil
}

func lineOr(n *node, def int) int {
	if n == nil || n.line == 0 {
		return def
	}
	return n.line
}

// lineFor returns the line of field (a path like spec.pools[0].count) in
// the document the resource was read from; a missing field is reported on
// the line of its nearest parent.
func (p Position) lineFor(field string) int {
	return p.lineIn(p.root(), field)
}

// root is the tree of the document the resource was read from (nil when
// its text was not kept or does not parse): the tree of an earlier call
// while it is still in memory, else a new parse.
func (p Position) root() *node {
	s := p.src
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return nil
	}
	if root := s.tree.Value(); root != nil {
		return root
	}
	root, err := parseSource(s)
	if err != nil {
		s.broken = true
		return nil
	}
	s.tree = weak.Make(root)
	return root
}

// parseSource parses a document's kept text.
var parseSource = func(s *docSource) (*node, error) {
	return new(fastParser).parseDocumentText(s.data, s.firstLine)
}

// lineIn is lineFor in the parsed document root.
func (p Position) lineIn(root *node, field string) int {
	if root == nil {
		return p.Line
	}
	n := root
	for field != "" && n != nil {
		if n.kind == aliasNode {
			n = n.target
		}
		var next *node
		switch {
		case field[0] == '[' && n.kind == sequenceNode:
			end := strings.IndexByte(field, ']')
			i, err := strconv.Atoi(field[1:max(end, 1)])
			if end < 0 || err != nil || i < 0 || i >= len(n.items) {
				return lineOr(n, p.Line)
			}
			next, field = n.items[i], field[end+1:]
		case n.kind == mappingNode:
			// Keys may hold dots (assumption names, labels): take the
			// longest key the path starts with.
			best := -1
			for i := 0; i+1 < len(n.items); i += 2 {
				k := n.items[i].value
				if strings.HasPrefix(field, k) && (len(field) == len(k) || field[len(k)] == '.' || field[len(k)] == '[') &&
					(best < 0 || len(k) > len(n.items[best].value)) {
					best = i
				}
			}
			if best < 0 {
				return lineOr(n, p.Line)
			}
			next, field = n.items[best+1], field[len(n.items[best].value):]
		default:
			return lineOr(n, p.Line)
		}
		field = strings.TrimPrefix(field, ".")
		if next.kind == aliasNode {
			return lineOr(next, p.Line) // where the alias is used
		}
		n = next
	}
	return lineOr(n, p.Line)
}

// Decode reads every YAML document in data, name naming it in errors. It
// checks syntax, types, unknown fields and the limits of this package
// (MaxFileBytes, MaxDocuments, MaxDocumentBytes, MaxDepth, MaxNodes,
// MaxAliasExpansion); meaning (countries, references) is checked by
// World.Validate. Every problem is reported at once, as Errors.
func Decode(name string, data []byte) (*Set, error) {
	if len(data) > MaxFileBytes {
		return nil, &FieldError{File: name, Msg: fmt.Sprintf("file is %d bytes, over the %d-byte limit", len(data), MaxFileBytes)}
	}
	chunks, err := splitDocuments(name, data)
	if err != nil {
		return nil, err
	}
	return decodeAll([]fileChunks{{name, chunks}})
}

type fileChunks struct {
	name   string
	chunks []chunk
}

// decodeAll decodes the documents of files on one goroutine per CPU, in
// batches of neighbouring documents, and assembles the set in file order.
func decodeAll(files []fileChunks) (*Set, error) {
	type job struct {
		file string
		c    chunk
	}
	n := 0
	for _, f := range files {
		n += len(f.chunks)
	}
	jobs := make([]job, 0, n)
	for _, f := range files {
		for _, c := range f.chunks {
			jobs = append(jobs, job{f.name, c})
		}
	}
	out := make([]decoded, len(jobs))
	const batch = 32
	workers := min(runtime.GOMAXPROCS(0), (len(jobs)+batch-1)/batch)
	if workers <= 1 {
		for i, j := range jobs {
			out[i] = decodeDocument(j.file, j.c)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					lo := int(next.Add(batch)) - batch
					if lo >= len(jobs) {
						return
					}
					for i := lo; i < min(lo+batch, len(jobs)); i++ {
						out[i] = decodeDocument(jobs[i].file, jobs[i].c)
					}
				}
			}()
		}
		wg.Wait()
	}
	set := &Set{}
	var errs Errors
	// Past MaxProblemsPerFile problems of a file, the documents after are
	// counted, not kept: documents come in file order, so the problems
	// errOrNil keeps are among those kept here.
	kept, hidden := map[string]int{}, map[string]int{}
	for i, d := range out {
		if len(d.errs) > 0 {
			file := jobs[i].file
			if kept[file] >= MaxProblemsPerFile {
				for _, e := range d.errs {
					hidden[file] += max(e.more, 1)
				}
			} else {
				kept[file] += len(d.errs)
				errs = append(errs, d.errs...)
			}
		}
		switch r := d.res.(type) {
		case *Organization:
			set.Organizations = append(set.Organizations, r)
		case *Dataset:
			set.Datasets = append(set.Datasets, r)
		case *Site:
			set.Sites = append(set.Sites, r)
		case *TrainingJob:
			set.Jobs = append(set.Jobs, r)
		}
		out[i] = decoded{}
	}
	for _, f := range files {
		if n := hidden[f.name]; n > 0 {
			errs = append(errs, moreProblems(f.name, n))
			delete(hidden, f.name)
		}
	}
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return set, nil
}

// Merge appends o's resources to s.
func (s *Set) Merge(o *Set) {
	if o == nil {
		return
	}
	s.Organizations = append(s.Organizations, o.Organizations...)
	s.Datasets = append(s.Datasets, o.Datasets...)
	s.Sites = append(s.Sites, o.Sites...)
	s.Jobs = append(s.Jobs, o.Jobs...)
}

// LoadFiles reads resources from files and directories (every *.yaml and
// *.yml inside, sorted by name). "-" reads standard input. Files are read
// whole, cut into documents, and the documents of all files decoded in
// parallel; every problem of every file is reported at once.
func LoadFiles(paths ...string) (*Set, error) {
	var names []string
	for _, p := range paths {
		found, err := expand(p)
		if err != nil {
			return nil, err
		}
		names = append(names, found...)
	}
	return loadNamed(names, func(f string) string { return f })
}

// ServerCatalogName is the name a server's catalog directory is shown by
// to its tenants (LoadDir): "catalog/sites.yaml:12".
const ServerCatalogName = "catalog"

// LoadDir is LoadFiles of one directory whose files are named, in
// positions and errors, as shown/ followed by their path within dir (with
// forward slashes) rather than as they lie on this machine. A server reads
// its catalog so: the positions of its sites are cited in the plans its
// tenants read, which should say which catalog file a rule of the operator
// comes from without disclosing where the server keeps it.
func LoadDir(dir, shown string) (*Set, error) {
	names, err := expand(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", shown, unwrapPath(err))
	}
	root := filepath.Clean(dir)
	return loadNamed(names, func(f string) string {
		rel, err := filepath.Rel(root, f)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(os.PathSeparator)) {
			// Not reached: expand lists files under dir only.
			rel = filepath.Base(f)
		}
		return path.Join(shown, filepath.ToSlash(rel))
	})
}

// unwrapPath is err's cause without the path an *fs.PathError names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadNamed reads files (as found on this machine) and decodes them, name
// giving each file's name in positions and errors.
func loadNamed(paths []string, name func(string) string) (*Set, error) {
	var files []fileChunks
	var errs Errors
	for _, f := range paths {
		shown := name(f)
		data, err := readFile(f)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.File = shown
				errs = append(errs, fe)
				continue
			}
			if shown != f {
				return nil, fmt.Errorf("read %s: %w", shown, unwrapPath(err))
			}
			return nil, err
		}
		chunks, err := splitDocuments(shown, data)
		if err != nil {
			errs = append(errs, err.(*FieldError))
			continue
		}
		files = append(files, fileChunks{shown, chunks})
	}
	set, err := decodeAll(files)
	if err != nil {
		var es Errors
		if errors.As(err, &es) {
			errs = append(errs, es...)
		} else {
			return nil, err
		}
	}
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return set, nil
}

// expand lists the files a path names: itself, or the *.yaml and *.yml
// files under a directory, sorted.
func expand(p string) ([]string, error) {
	if p == "-" {
		return []string{"-"}, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var out []string
	// A directory named through a link (releases/current → releases/42)
	// is walked where it leads: WalkDir does not follow a link at its
	// root, and found no files there.
	root := p
	if !strings.HasSuffix(root, string(os.PathSeparator)) {
		root += string(os.PathSeparator)
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", p, err)
	}
	sort.Strings(out)
	return out, nil
}

// readFile reads a resource file whole. It opens without blocking and
// refuses anything but a regular file, so that a FIFO, a device or a
// socket in a catalog directory is an error rather than a hang; "-" reads
// standard input.
func readFile(path string) ([]byte, error) {
	var r io.Reader
	var buf bytes.Buffer
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if !st.Mode().IsRegular() {
			return nil, &FieldError{File: path, Msg: fmt.Sprintf("not a regular file (%s); refused", fileType(st.Mode()))}
		}
		if st.Size() > MaxFileBytes {
			return nil, &FieldError{File: path, Msg: fmt.Sprintf("file is %d bytes, over the %d-byte limit", st.Size(), MaxFileBytes)}
		}
		r = f
		buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n > MaxFileBytes {
		return nil, &FieldError{File: path, Msg: fmt.Sprintf("file is over the %d-byte limit", MaxFileBytes)}
	}
	return buf.Bytes(), nil
}

func fileType(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "not a plain file"
}

// CheckYAML parses data, a file of YAML documents, under the loader's
// limits on nesting, nodes and alias expansion (MaxDepth, MaxNodes,
// MaxAliasExpansion, MaxAliasExpansionBytes) and returns the first syntax
// error or broken limit, with its line. Readers of other YAML files (rule
// packs) call it first, so that a hostile file costs them no more than it
// would cost the loader.
func CheckYAML(name string, data []byte) error {
	chunks, err := splitDocuments(name, data)
	if err != nil {
		return err
	}
	p := parsers.Get().(*fastParser)
	defer parsers.Put(p)
	for _, c := range chunks {
		n, err := p.parseDocument(c.data, c.line)
		if err != nil {
			return err
		}
		memo := map[*node]expansion{}
		if expandedSize(n, memo).nodes > MaxNodes+MaxAliasExpansion {
			return &parseError{c.line, fmt.Sprintf("aliases expand to more than %d values; refused", MaxAliasExpansion)}
		}
		// One long anchored string used many times is few nodes but costs
		// every reader that copies or prints the values (a rule's sources
		// as JSON) its length that many times.
		added := 0
		if line := aliasBytesOver(n, memo, &added); line != 0 {
			return &parseError{line, fmt.Sprintf("aliases add more than %d bytes of text to the document; refused", MaxAliasExpansionBytes)}
		}
	}
	return nil
}

// aliasBytesOver walks n as written, adding to added the text each alias
// stands for, and returns the line of the alias that takes it past
// MaxAliasExpansionBytes, or 0. memo is expandedSize's.
func aliasBytesOver(n *node, memo map[*node]expansion, added *int) int {
	if n == nil {
		return 0
	}
	if n.kind == aliasNode {
		if *added += expandedSize(n.target, memo).bytes; *added > MaxAliasExpansionBytes {
			return n.line
		}
		return 0
	}
	for _, it := range n.items {
		if line := aliasBytesOver(it, memo, added); line != 0 {
			return line
		}
	}
	return 0
}

// expansion is what a node stands for with its aliases expanded: how many
// nodes, and how many bytes of scalar text.
type expansion struct{ nodes, bytes int }

// expandedSize is n's expansion, each node sized once (memo), so that a
// bomb is sized without expanding it.
func expandedSize(n *node, memo map[*node]expansion) expansion {
	if n == nil {
		return expansion{}
	}
	if v, ok := memo[n]; ok {
		return v
	}
	memo[n] = expansion{1, 0} // an alias cannot refer to its own ancestor; this guards it anyway
	size := expansion{nodes: 1}
	if n.kind == aliasNode {
		t := expandedSize(n.target, memo)
		size = expansion{1 + t.nodes, t.bytes}
	} else if n.kind == scalarNode {
		size.bytes = len(n.value)
	}
	for _, it := range n.items {
		e := expandedSize(it, memo)
		size.nodes = min(size.nodes+e.nodes, 1<<40)
		size.bytes = min(size.bytes+e.bytes, 1<<40)
	}
	memo[n] = size
	return size
}
