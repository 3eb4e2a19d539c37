package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	yaml3 "go.yaml.in/yaml/v3"
)

// The loader reads each YAML document into a small tree of nodes (below),
// then decodes the tree into Go values with strict, located errors
// (strict.go). Two parsers build the tree: a fast one for the block-style
// subset that catalog files are written in (mappings, lists, one-line plain
// and quoted scalars, one-line flow collections, comments), and
// go.yaml.in/yaml/v3 for everything else (anchors, tags, block and
// multi-line scalars, escapes). The fast parser gives up rather than guess:
// for any line it is not sure of, the whole document goes to yaml/v3.
// FuzzFastParser checks that both give the same tree wherever the fast one
// answers.

// nodeKind is what a node holds.
type nodeKind uint8

const (
	scalarNode nodeKind = iota + 1
	mappingNode
	sequenceNode
	aliasNode
)

// node is one YAML node.
type node struct {
	kind nodeKind
	// quoted is true for a quoted or block scalar, which is always a string;
	// a plain scalar may be a number, a boolean or null.
	quoted bool
	line   int    // 1-based, in the file
	value  string // the text of a scalar; the anchor's name for an alias
	tag    string // an explicit tag (!!str), "" when none
	// items are a sequence's values, or a mapping's keys and values
	// alternating.
	items  []*node
	target *node // what an alias refers to
}

// Limits on what one YAML document may make the loader do. A file within
// them costs time and memory in proportion to its size.
const (
	// MaxFileBytes bounds one resource file; larger files are refused rather than read.
	MaxFileBytes = 32 << 20
	// MaxDocumentBytes bounds one document of a file.
	MaxDocumentBytes = 1 << 20
	// MaxDocuments bounds the documents of one file.
	MaxDocuments = 100_000
	// MaxDepth bounds how deep mappings and lists nest in a document; the
	// deepest field of the schema is six levels down.
	MaxDepth = 32
	// MaxNodes bounds the nodes of one document as written.
	MaxNodes = 100_000
	// MaxAliasExpansion bounds the nodes that aliases add to a document
	// when they are expanded (an "alias bomb" multiplies them).
	MaxAliasExpansion = 10_000
	// MaxAliasExpansionBytes bounds the text that aliases add to a
	// document (one long anchored string used many times).
	MaxAliasExpansionBytes = 1 << 20
)

// errFallback says the fast parser does not handle a document.
var errFallback = errors.New("not in the fast parser's subset")

// parseError is a syntax error or a broken limit, on a line of the file.
type parseError struct {
	line int
	msg  string
}

func (e *parseError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// parseDocument parses one document: data holds its text (one chunk of a
// file, see splitDocuments) and firstLine the file line data starts on. It
// returns nil for an empty document.
func parseDocument(data []byte, firstLine int) (*node, error) {
	return new(fastParser).parseDocument(data, firstLine)
}

// parseDocument is parseDocument with p's memory: the tree it returns is
// valid until p parses again.
func (p *fastParser) parseDocument(data []byte, firstLine int) (*node, error) {
	n, err := p.parse(data, firstLine)
	if err == errFallback {
		return parseYAML3(data, firstLine)
	}
	return n, err
}

// parsers keeps fast parsers for reuse: a catalog of thousands of
// documents then parses them into the same few arrays.
var parsers = sync.Pool{New: func() any { return new(fastParser) }}

// ---- the fast parser ----

type srcLine struct {
	num    int    // line number in the file
	indent int    // leading spaces
	text   string // the rest of the line, trailing spaces removed
}

// fastParser holds the state of the fast parser. Its arrays are reused
// by the next document it parses, so a tree lives until then.
type fastParser struct {
	lines []srcLine
	pos   int
	nodes int
	// Nodes and the items of collections are taken from these arrays
	// in turn; used counts what the current document took.
	nodeStore []node
	nodesUsed int
	itemStore []*node
	itemsUsed int
	// scratch collects the items of the collections being parsed (nested
	// ones above their parent's); each collection copies its own out to
	// itemStore, exactly sized, when it ends.
	scratch []*node
}

// finish gives collection n the items collected since mark.
func (p *fastParser) finish(n *node, mark int) {
	k := len(p.scratch) - mark
	if p.itemsUsed+k > len(p.itemStore) {
		// A new array; the old one stays with the nodes that use it.
		p.itemStore, p.itemsUsed = make([]*node, max(k, 4096)), 0
	}
	n.items = p.itemStore[p.itemsUsed : p.itemsUsed+k : p.itemsUsed+k]
	p.itemsUsed += k
	copy(n.items, p.scratch[mark:])
	p.scratch = p.scratch[:mark]
}

// parseFast parses data when it is within the fast parser's subset, and
// returns errFallback when it is not.
func parseFast(data []byte, firstLine int) (*node, error) {
	return new(fastParser).parse(data, firstLine)
}

// parse is parseFast with p's memory.
func (p *fastParser) parse(data []byte, firstLine int) (*node, error) {
	if !fastText(data) {
		return nil, errFallback
	}
	return p.parseText(string(data), firstLine) // one copy; lines and values are slices of it
}

// parseDocumentText is parseDocument over text already held as a string,
// which the fast parser's lines and values slice without copying it.
func (p *fastParser) parseDocumentText(text string, firstLine int) (*node, error) {
	if fastText(text) {
		if n, err := p.parseText(text, firstLine); err != errFallback {
			return n, err
		}
	}
	return parseYAML3([]byte(text), firstLine)
}

// parseText is parse over src, which fastText accepts.
func (p *fastParser) parseText(src string, firstLine int) (*node, error) {
	p.lines, p.pos, p.nodes, p.scratch = p.lines[:0], 0, 0, p.scratch[:0]
	p.nodesUsed, p.itemsUsed = 0, 0
	start, num := 0, firstLine
	for start < len(src) {
		end := strings.IndexByte(src[start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		raw := src[start:end]
		start, num = end+1, num+1
		text := strings.TrimLeft(raw, " ")
		indent := len(raw) - len(text)
		text = strings.TrimRight(text, " ")
		if text == "" || text[0] == '#' {
			continue
		}
		if indent == 0 && (strings.HasPrefix(text, "---") || strings.HasPrefix(text, "...") || text[0] == '%') {
			if len(p.lines) == 0 && (text == "---" || strings.HasPrefix(text, "--- #")) {
				continue
			}
			return nil, errFallback
		}
		p.lines = append(p.lines, srcLine{num: num - 1, indent: indent, text: text})
	}
	if len(p.lines) == 0 {
		return nil, nil
	}
	root, err := p.block(p.lines[0].indent, 1)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.lines) {
		return nil, errFallback
	}
	return root, nil
}

// fastText reports whether data holds only what the fast parser reads:
// printable ASCII, spaces, newlines and well-formed UTF-8 text, with no
// tabs, carriage returns or byte-order marks (YAML gives those meanings the
// fast parser does not implement).
func fastText[T string | []byte](data T) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\n') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		var r rune
		var size int
		switch d := any(data[i:]).(type) {
		case string:
			r, size = utf8.DecodeRuneInString(d)
		case []byte:
			r, size = utf8.DecodeRune(d)
		}
		if r == utf8.RuneError || !yamlPrintable(r) {
			return false
		}
		i += size
	}
	return true
}

// yamlPrintable reports whether YAML allows r in a document as it is,
// without a line-break meaning (NEL, LS and PS are line breaks to YAML 1.1).
func yamlPrintable(r rune) bool {
	switch {
	case r < 0xa0:
		return false
	case r == 0x2028 || r == 0x2029 || r == 0xfeff:
		return false
	case r >= 0xd800 && r <= 0xdfff, r == 0xfffe, r == 0xffff:
		return false
	}
	return r <= 0x10ffff
}

func (p *fastParser) newNode(kind nodeKind, line int, depth int) (*node, error) {
	p.nodes++
	if p.nodes > MaxNodes {
		return nil, &parseError{line, fmt.Sprintf("more than %d nodes in one document", MaxNodes)}
	}
	if depth > MaxDepth {
		return nil, &parseError{line, fmt.Sprintf("nested deeper than %d levels", MaxDepth)}
	}
	if p.nodesUsed == len(p.nodeStore) {
		// A new array; the old one stays with the nodes that use it.
		p.nodeStore, p.nodesUsed = make([]node, max(1024, 3*len(p.lines))), 0
	}
	n := &p.nodeStore[p.nodesUsed]
	p.nodesUsed++
	*n = node{kind: kind, line: line}
	return n, nil
}

// block parses the block node starting at the current line, which is
// indented by indent.
func (p *fastParser) block(indent, depth int) (*node, error) {
	l := p.lines[p.pos]
	if isSeqEntry(l.text) {
		return p.sequence(indent, depth)
	}
	if _, _, ok, err := splitKey(l.text); err != nil {
		return nil, err
	} else if ok {
		return p.mapping(indent, depth)
	}
	// A lone scalar or flow collection.
	n, err := p.inline(l.text, l.num, depth)
	if err != nil {
		return nil, err
	}
	p.pos++
	return n, nil
}

func isSeqEntry(text string) bool {
	return text == "-" || strings.HasPrefix(text, "- ")
}

// sequence parses a block sequence whose dashes are indented by indent.
func (p *fastParser) sequence(indent, depth int) (*node, error) {
	seq, err := p.newNode(sequenceNode, p.lines[p.pos].num, depth)
	if err != nil {
		return nil, err
	}
	mark := len(p.scratch)
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent || (l.indent == indent && !isSeqEntry(l.text)) {
			break
		}
		if l.indent > indent {
			return nil, errFallback
		}
		rest := strings.TrimLeft(l.text[1:], " ")
		var item *node
		switch {
		case rest == "" || rest[0] == '#':
			p.pos++
			if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
				if item, err = p.block(p.lines[p.pos].indent, depth+1); err != nil {
					return nil, err
				}
			} else if item, err = p.newNode(scalarNode, l.num, depth+1); err != nil {
				return nil, err
			}
		case isSeqEntry(rest):
			return nil, errFallback // "- - a": rare; left to yaml/v3
		default:
			col := l.indent + len(l.text) - len(rest)
			if _, _, ok, err := splitKey(rest); err != nil {
				return nil, err
			} else if ok {
				// A mapping that starts on the dash's line: read it as if
				// its first key were on a line of its own.
				p.lines[p.pos] = srcLine{num: l.num, indent: col, text: rest}
				if item, err = p.mapping(col, depth+1); err != nil {
					return nil, err
				}
				break
			}
			if item, err = p.inline(rest, l.num, depth+1); err != nil {
				return nil, err
			}
			p.pos++
			if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
				return nil, errFallback // a continued scalar
			}
		}
		p.scratch = append(p.scratch, item)
	}
	p.finish(seq, mark)
	return seq, nil
}

// mapping parses a block mapping whose keys are indented by indent.
func (p *fastParser) mapping(indent, depth int) (*node, error) {
	m, err := p.newNode(mappingNode, p.lines[p.pos].num, depth)
	if err != nil {
		return nil, err
	}
	mark := len(p.scratch)
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent || isSeqEntry(l.text) {
			return nil, errFallback
		}
		key, rest, ok, err := splitKey(l.text)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errFallback
		}
		k, err := p.keyNode(key, l.num, depth+1)
		if err != nil {
			return nil, err
		}
		var v *node
		if rest == "" || rest[0] == '#' {
			p.pos++
			switch {
			case p.pos < len(p.lines) && p.lines[p.pos].indent > indent:
				v, err = p.block(p.lines[p.pos].indent, depth+1)
			case p.pos < len(p.lines) && p.lines[p.pos].indent == indent && isSeqEntry(p.lines[p.pos].text):
				v, err = p.sequence(indent, depth+1)
			default:
				v, err = p.newNode(scalarNode, l.num, depth+1)
			}
			if err != nil {
				return nil, err
			}
		} else {
			if v, err = p.inline(rest, l.num, depth+1); err != nil {
				return nil, err
			}
			p.pos++
			if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
				return nil, errFallback // a continued scalar
			}
		}
		p.scratch = append(p.scratch, k, v)
	}
	p.finish(m, mark)
	return m, nil
}

// splitKey splits "key: rest" (the key plain or quoted). ok is false when
// the text is not a mapping entry the fast parser reads.
func splitKey(text string) (key, rest string, ok bool, err error) {
	switch text[0] {
	case '"', '\'':
		end, ok := quotedEnd(text)
		if !ok {
			return "", "", false, nil
		}
		after := strings.TrimLeft(text[end:], " ")
		if !strings.HasPrefix(after, ":") || (len(after) > 1 && after[1] != ' ') {
			return "", "", false, nil
		}
		return text[:end], strings.TrimLeft(after[1:], " "), true, nil
	}
	if !plainStart(text, false) {
		return "", "", false, nil
	}
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case ':':
			if i+1 == len(text) || text[i+1] == ' ' {
				key = strings.TrimRight(text[:i], " ")
				if len(key) > 1024 {
					return "", "", false, nil
				}
				return key, strings.TrimLeft(text[i+1:], " "), true, nil
			}
		case '#':
			if i > 0 && text[i-1] == ' ' {
				return "", "", false, nil
			}
		}
	}
	return "", "", false, nil
}

// plainStart reports whether text may begin a plain scalar (in flow
// context when flow is set).
func plainStart(text string, flow bool) bool {
	switch c := text[0]; c {
	case '-', '?', ':':
		if len(text) == 1 || (flow && c != '-') {
			return false // in flow context "?" and ":" always indicate
		}
		n := text[1]
		return n != ' ' && !(flow && strings.IndexByte(",[]{}", n) >= 0)
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	}
	return true
}

// quotedEnd returns the index after the closing quote of the one-line
// quoted scalar at the start of s. ok is false for escapes ('\' in double
// quotes) and unclosed quotes, which are left to yaml/v3.
func quotedEnd(s string) (end int, ok bool) {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case q == '"' && c == '\\':
			return 0, false
		case c == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case c == q:
			return i + 1, true
		}
	}
	return 0, false
}

func (p *fastParser) keyNode(key string, line, depth int) (*node, error) {
	k, err := p.newNode(scalarNode, line, depth)
	if err != nil {
		return nil, err
	}
	if key[0] == '"' || key[0] == '\'' {
		k.value = unquote(key)
		k.quoted = true
	} else {
		k.value = key
	}
	return k, nil
}

// unquote returns the value of a quoted scalar that quoted accepted.
func unquote(s string) string {
	if s[0] == '"' {
		return s[1 : len(s)-1]
	}
	return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
}

// inline parses a scalar or flow collection that fills the rest of a line
// (a trailing comment aside).
func (p *fastParser) inline(text string, line, depth int) (*node, error) {
	switch text[0] {
	case '[', '{':
		n, i, err := p.flow(text, 0, line, depth)
		if err != nil {
			return nil, err
		}
		if !restIsComment(text[i:]) {
			return nil, errFallback
		}
		return n, nil
	case '"', '\'':
		end, ok := quotedEnd(text)
		if !ok || !restIsComment(text[end:]) {
			return nil, errFallback
		}
		n, err := p.newNode(scalarNode, line, depth)
		if err != nil {
			return nil, err
		}
		n.value, n.quoted = unquote(text[:end]), true
		return n, nil
	}
	if !plainStart(text, false) {
		return nil, errFallback
	}
	end := len(text)
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case ':':
			if i+1 == len(text) || text[i+1] == ' ' {
				return nil, errFallback
			}
		case '#':
			if text[i-1] == ' ' {
				end = i
				i = len(text)
			}
		}
	}
	n, err := p.newNode(scalarNode, line, depth)
	if err != nil {
		return nil, err
	}
	n.value = strings.TrimRight(text[:end], " ")
	return n, nil
}

// restIsComment reports whether s is blank or spaces and a comment.
func restIsComment(s string) bool {
	t := strings.TrimLeft(s, " ")
	return t == "" || (t[0] == '#' && len(t) < len(s))
}

// flow parses a one-line flow collection starting at s[i] ('[' or '{') and
// returns it and the index after its closing bracket.
func (p *fastParser) flow(s string, i, line, depth int) (*node, int, error) {
	isMap := s[i] == '{'
	kind, closing := sequenceNode, byte(']')
	if isMap {
		kind, closing = mappingNode, '}'
	}
	n, err := p.newNode(kind, line, depth)
	if err != nil {
		return nil, 0, err
	}
	i = skipSpaces(s, i+1)
	if i < len(s) && s[i] == closing {
		return n, i + 1, nil
	}
	mark := len(p.scratch)
	for {
		var item *node
		if item, i, err = p.flowItem(s, i, line, depth+1, isMap); err != nil {
			return nil, 0, err
		}
		i = skipSpaces(s, i)
		if isMap {
			if item.kind != scalarNode || i+1 >= len(s) || s[i] != ':' || s[i+1] != ' ' {
				return nil, 0, errFallback
			}
			p.scratch = append(p.scratch, item)
			if item, i, err = p.flowItem(s, skipSpaces(s, i+1), line, depth+1, false); err != nil {
				return nil, 0, err
			}
			i = skipSpaces(s, i)
		}
		p.scratch = append(p.scratch, item)
		if i >= len(s) {
			return nil, 0, errFallback
		}
		switch s[i] {
		case ',':
			i = skipSpaces(s, i+1)
			if i >= len(s) || s[i] == closing || s[i] == ',' {
				return nil, 0, errFallback
			}
		case closing:
			p.finish(n, mark)
			return n, i + 1, nil
		default:
			return nil, 0, errFallback
		}
	}
}

// flowItem parses one scalar or nested collection inside a flow collection.
func (p *fastParser) flowItem(s string, i, line, depth int, key bool) (*node, int, error) {
	if i >= len(s) {
		return nil, 0, errFallback
	}
	switch s[i] {
	case '[', '{':
		if key {
			return nil, 0, errFallback
		}
		return p.flow(s, i, line, depth)
	case '"', '\'':
		end, ok := quotedEnd(s[i:])
		if !ok {
			return nil, 0, errFallback
		}
		n, err := p.newNode(scalarNode, line, depth)
		if err != nil {
			return nil, 0, err
		}
		n.value, n.quoted = unquote(s[i:i+end]), true
		return n, i + end, nil
	}
	if !plainStart(s[i:], true) {
		return nil, 0, errFallback
	}
	j := i
loop:
	for ; j < len(s); j++ {
		switch s[j] {
		case ',', '[', ']', '{', '}':
			break loop
		case ':':
			if j+1 == len(s) || s[j+1] == ' ' || strings.IndexByte(",[]{}", s[j+1]) >= 0 {
				break loop
			}
		case '#':
			if s[j-1] == ' ' {
				return nil, 0, errFallback
			}
		}
	}
	v := strings.TrimRight(s[i:j], " ")
	if v == "" {
		return nil, 0, errFallback
	}
	n, err := p.newNode(scalarNode, line, depth)
	if err != nil {
		return nil, 0, err
	}
	n.value = v
	return n, j, nil
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// ---- yaml/v3 for the rest ----

var yaml3Line = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML3 parses a document with go.yaml.in/yaml/v3, which bounds
// nesting itself (10,000 levels) and does not expand aliases while
// building its tree.
func parseYAML3(data []byte, firstLine int) (*node, error) {
	var doc yaml3.Node
	dec := yaml3.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, yaml3Error(err, data, firstLine)
	}
	// The splitter gives each document its own text; a second document
	// here means a line break YAML knows and the splitter does not (a
	// lone carriage return).
	var more yaml3.Node
	if err := dec.Decode(&more); err != io.EOF {
		return nil, &parseError{firstLine + max(more.Line, 1) - 1, "a second document without a \"---\" line before it (lines end in a carriage return?)"}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	if r := doc.Content[0]; r.Kind == yaml3.ScalarNode && r.Value == "" && r.Style == 0 && r.Anchor == "" {
		return nil, nil // an empty document, as the fast parser says
	}
	c := &converter{firstLine: firstLine, seen: map[*yaml3.Node]*node{}}
	return c.convert(doc.Content[0], 1)
}

// yaml3Error locates a yaml/v3 error in the file.
func yaml3Error(err error, data []byte, firstLine int) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := firstLine
	if m := yaml3Line.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		line, msg = firstLine+n-1, m[2]
		if strings.HasPrefix(msg, "did not find expected") {
			// Parser (not scanner) errors count lines from 0 in
			// yaml/v3, and name where the unfinished list or mapping
			// began.
			line++
		}
	}
	switch {
	case strings.HasPrefix(msg, "exceeded max depth"):
		msg = fmt.Sprintf("nested deeper than %d levels", MaxDepth)
	case strings.HasPrefix(msg, "unknown anchor '"):
		// yaml/v3 does not say where; the first use of the alias is.
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		if i := aliasUse(data, name); i >= 0 {
			line += strings.Count(string(data[:i]), "\n")
		}
		msg = fmt.Sprintf("alias *%s refers to no anchor defined before it", name)
	}
	return &parseError{line, msg}
}

// aliasUse returns the offset of the first "*name" in data, or -1.
func aliasUse(data []byte, name string) int {
	s := string(data)
	for off := 0; ; {
		i := strings.Index(s[off:], "*"+name)
		if i < 0 {
			return -1
		}
		j := off + i + 1 + len(name)
		if j == len(s) || strings.IndexByte(" \n,]}", s[j]) >= 0 {
			return off + i
		}
		off = j
	}
}

// converter turns a yaml/v3 tree into nodes, checking depth and size.
type converter struct {
	firstLine int
	nodes     int
	seen      map[*yaml3.Node]*node
}

func (c *converter) convert(y *yaml3.Node, depth int) (*node, error) {
	line := c.firstLine + y.Line - 1
	c.nodes++
	if c.nodes > MaxNodes {
		return nil, &parseError{line, fmt.Sprintf("more than %d nodes in one document", MaxNodes)}
	}
	if depth > MaxDepth {
		return nil, &parseError{line, fmt.Sprintf("nested deeper than %d levels", MaxDepth)}
	}
	n := &node{line: line}
	if y.Anchor != "" {
		c.seen[y] = n
	}
	if y.Style&yaml3.TaggedStyle != 0 {
		n.tag = y.Tag
	}
	switch y.Kind {
	case yaml3.ScalarNode:
		n.kind, n.value = scalarNode, y.Value
		n.quoted = y.Style&(yaml3.DoubleQuotedStyle|yaml3.SingleQuotedStyle|yaml3.LiteralStyle|yaml3.FoldedStyle) != 0
	case yaml3.AliasNode:
		n.kind, n.value = aliasNode, y.Value
		if n.target = c.seen[y.Alias]; n.target == nil {
			return nil, &parseError{line, fmt.Sprintf("alias *%s refers to no anchor defined before it", y.Value)}
		}
	case yaml3.MappingNode, yaml3.SequenceNode:
		n.kind = mappingNode
		if y.Kind == yaml3.SequenceNode {
			n.kind = sequenceNode
		}
		n.items = make([]*node, len(y.Content))
		for i, ch := range y.Content {
			var err error
			if n.items[i], err = c.convert(ch, depth+1); err != nil {
				return nil, err
			}
		}
	default:
		return nil, &parseError{line, "unexpected YAML node"}
	}
	return n, nil
}
