package dataset

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"meridian.dev/meridian/internal/textsafe"
	"meridian.dev/meridian/seal"
)

// ManifestVersion is the manifest format this build writes and reads.
const ManifestVersion = 1

// MaxManifestBytes is the largest stored manifest any reader accepts.
const MaxManifestBytes = 1 << 30

// Limits on what a manifest may describe; larger inputs are refused before
// any allocation proportional to them.
const (
	maxChunkSize = 64 << 20
	maxPathLen   = 4096
)

// maxManifestBytes is MaxManifestBytes, lowered by tests.
var maxManifestBytes = MaxManifestBytes

// Manifest lists a dataset's files, in path order, and the chunks that make
// each one, in order. It is stored beside the chunks, authenticated with the
// dataset's MAC key; it holds no secret, but reveals file names and sizes to
// whoever can read the store, so names should not be secret.
type Manifest struct {
	Version int    `json:"version"`
	Dataset string `json:"dataset"`
	Files   []File `json:"files"`
}

// File is one regular file of a dataset.
type File struct {
	Path   string     `json:"path"` // slash-separated, relative to the dataset root
	Size   int64      `json:"size"`
	Mode   uint32     `json:"mode"` // permission bits only
	Chunks []ChunkRef `json:"chunks"`
}

// ChunkRef is one chunk of a file: its id and plaintext size.
type ChunkRef struct {
	ID   seal.ID `json:"id"`
	Size int64   `json:"size"`
}

type chunkRefJSON struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

// MarshalJSON writes the id as hex.
func (c ChunkRef) MarshalJSON() ([]byte, error) {
	return json.Marshal(chunkRefJSON{ID: c.ID.String(), Size: c.Size})
}

// UnmarshalJSONFrom reads a chunk reference from a streaming decoder, as
// decodeBody reads a manifest: {"id": 64 hex digits, "size": an integer},
// each member once and no other, as Encode writes it. The id is decoded
// from the input's bytes: a manifest holds millions of chunks, and a
// string for each id would double what checking it allocates.
func (c *ChunkRef) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return fmt.Errorf("chunk: want an object, got %s", tok.Kind())
	}
	var haveID, haveSize bool
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		switch name.String() {
		case "id":
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if haveID || len(v) != 2*seal.IDSize+2 || v[0] != '"' {
				return errors.New("chunk: field id: want 64 lower-case hex digits, once")
			}
			digits := v[1 : len(v)-1]
			if bytes.ContainsFunc(digits, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') }) {
				return errors.New("chunk: field id: want 64 lower-case hex digits")
			}
			hex.Decode(c.ID[:], digits)
			haveID = true
		case "size":
			v, err := dec.ReadValue()
			if err != nil {
				return err
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if haveSize || err != nil {
				return fmt.Errorf("chunk: field size: %s: want an integer, once", v)
			}
			c.Size, haveSize = n, true
		default:
			return fmt.Errorf("chunk: unknown field %q", name.String())
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if !haveID || !haveSize {
		return errors.New("chunk: fields id and size are required")
	}
	return nil
}

// UnmarshalJSON reads the hex id.
func (c *ChunkRef) UnmarshalJSON(b []byte) error {
	var j chunkRefJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	id, err := seal.ParseID(j.ID)
	if err != nil {
		return err
	}
	c.ID, c.Size = id, j.Size
	return nil
}

// UniqueChunks returns every distinct chunk of the manifest once, in first-use order.
func (m *Manifest) UniqueChunks() []ChunkRef {
	seen := map[seal.ID]bool{}
	var out []ChunkRef
	for _, f := range m.Files {
		for _, c := range f.Chunks {
			if !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// TotalBytes is the sum of the files' sizes.
func (m *Manifest) TotalBytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// envelope is the stored form: the manifest body as written, and its MAC.
type envelope struct {
	Body json.RawMessage `json:"manifest"`
	MAC  string          `json:"mac"`
}

// Encode returns the stored, authenticated form of m: the envelope
// {"manifest":BODY,"mac":HEX} and a newline.
//
// The body is written a token at a time straight into the envelope, and
// the MAC taken over it there: marshalling it whole and then marshalling
// the envelope around it allocated nine and a half bytes for each byte of
// manifest (some 10 GiB for one of 1 GiB, which a workload can make of a
// checkpoint's, on the agent that seals it). The bytes are those the
// standard encoder writes (null for an empty list, <, > and & escaped),
// so a manifest encodes as it always has.
func (m *Manifest) Encode(s *seal.Sealer) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	const head = `{"manifest":`
	var out bytes.Buffer
	out.Grow(m.encodedSizeBound())
	out.WriteString(head)
	// Written through a plain io.Writer: handed the *bytes.Buffer itself,
	// the encoder grows it by its own steps past the size made ready.
	if err := jsonv2.MarshalWrite(struct{ io.Writer }{&out}, m, jsonv2.FormatNilSliceAsNull(true), jsontext.EscapeForHTML(true), jsontext.EscapeForJS(true)); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	mac := s.MAC(out.Bytes()[len(head):])
	out.WriteString(`,"mac":"`)
	out.WriteString(hex.EncodeToString(mac))
	out.WriteString("\"}\n")
	if out.Len() > maxManifestBytes {
		// No reader would take it: the dataset (or checkpoint) would be
		// stored and never read back. Its writer is told now.
		return nil, fmt.Errorf("manifest: %d bytes for %d files, over the %d bytes any reader accepts: too many files or chunks for one dataset (split it)", out.Len(), len(m.Files), maxManifestBytes)
	}
	return out.Bytes(), nil
}

// encodedSizeBound is about the most Encode writes for m, so that its
// buffer is allocated once: every number at its longest, and paths as
// they are (one that escapes characters grows the buffer once more).
func (m *Manifest) encodedSizeBound() int {
	n := 256 + len(m.Dataset)
	for _, f := range m.Files {
		n += 64 + len(f.Path) + len(f.Chunks)*(2*seal.IDSize+40)
	}
	return min(n, maxManifestBytes)
}

// MarshalJSONTo writes a chunk reference as MarshalJSON does, without
// allocating for it: a manifest holds millions.
func (c ChunkRef) MarshalJSONTo(enc *jsontext.Encoder) error {
	var id [2*seal.IDSize + 2]byte
	id[0], id[len(id)-1] = '"', '"'
	hex.Encode(id[1:len(id)-1], c.ID[:])
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return err
	}
	if err := enc.WriteToken(jsontext.String("id")); err != nil {
		return err
	}
	if err := enc.WriteValue(id[:]); err != nil {
		return err
	}
	if err := enc.WriteToken(jsontext.String("size")); err != nil {
		return err
	}
	if err := enc.WriteToken(jsontext.Int(c.Size)); err != nil {
		return err
	}
	return enc.WriteToken(jsontext.EndObject)
}

// ErrManifestAuth means a manifest's MAC did not verify: it was altered, or
// the key (or dataset name) is wrong.
var ErrManifestAuth = errors.New("manifest authentication failed (altered, or wrong key or dataset)")

// ParseManifest checks the MAC of a stored manifest under s, then decodes and
// validates it. The MAC is checked before the body is parsed.
//
// Neither step copies the manifest: the body is found in place, and is
// decoded a token at a time into the Manifest, so checking a manifest
// costs little more than the stored bytes and what it describes. (A
// decoder that buffers each value whole held the stored form three times
// over besides: 6 GiB at its peak for a manifest of 1 GiB.)
func ParseManifest(data []byte, s *seal.Sealer) (*Manifest, error) {
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("manifest: %d bytes, over the %d limit", len(data), maxManifestBytes)
	}
	// The envelope's members are taken as spans of data, not copied: the
	// standard decoder hands an Unmarshaler the bytes of its value within
	// the input, and nothing else writes to data.
	var env map[string]span
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	for k := range env {
		if k != "manifest" && k != "mac" {
			// The envelope is read before it is authenticated: the
			// store chose the name, up to the manifest's size.
			return nil, fmt.Errorf("manifest: unknown field %q", clipKey(k))
		}
	}
	var macHex string
	if err := json.Unmarshal(env["mac"], &macHex); err != nil || env["mac"] == nil {
		return nil, errors.New("manifest: field mac: want 64 hex digits")
	}
	mac, err := hex.DecodeString(macHex)
	if err != nil || len(mac) != 32 {
		return nil, errors.New("manifest: field mac: want 64 hex digits")
	}
	body := env["manifest"]
	if body == nil {
		return nil, errors.New("manifest: field manifest: missing")
	}
	if err := s.CheckMAC(body, mac); err != nil {
		return nil, ErrManifestAuth
	}
	return decodeBody(body)
}

// span is a JSON value as it lies in the input it was decoded from.
type span []byte

// UnmarshalJSON keeps b itself: ParseManifest's input outlives it and is
// not written to.
func (v *span) UnmarshalJSON(b []byte) error {
	*v = b
	return nil
}

// decodeBody parses and validates an (already authenticated) manifest body.
// It reads the body in place a token at a time: no copy of it is made.
func decodeBody(body []byte) (*Manifest, error) {
	var m Manifest
	if err := jsonv2.Unmarshal(body, &m, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks a manifest's structure: version, safe relative paths in
// strictly increasing order, chunk sizes that add up to each file's size.
func (m *Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("manifest: field version: %d, want %d", m.Version, ManifestVersion)
	}
	if err := CheckName(m.Dataset); err != nil {
		return fmt.Errorf("manifest: field dataset: %w", err)
	}
	for i, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return fmt.Errorf("manifest: files[%d].path: %w", i, err)
		}
		if i > 0 && m.Files[i-1].Path >= f.Path {
			return fmt.Errorf("manifest: files[%d].path %q: paths must be unique and sorted", i, f.Path)
		}
		if f.Mode&^0o777 != 0 {
			return fmt.Errorf("manifest: files[%d].mode %o: only permission bits allowed", i, f.Mode)
		}
		var sum int64
		for j, c := range f.Chunks {
			if c.Size <= 0 || c.Size > maxChunkSize {
				return fmt.Errorf("manifest: files[%d].chunks[%d].size %d: want 1..%d", i, j, c.Size, maxChunkSize)
			}
			sum += c.Size
		}
		if f.Size < 0 || sum != f.Size {
			return fmt.Errorf("manifest: files[%d] %q: size %d but chunks add up to %d", i, f.Path, f.Size, sum)
		}
	}
	// No file may also be a directory of another. The paths are sorted,
	// so those beneath a file "d" (starting "d/") lie together, and a
	// binary search finds the first of them: the cost is a few
	// comparisons a file. Walking each path's parents instead cost time
	// in its depth times its length, 20 ms for each 4 KiB path of 2,000
	// parts, so a manifest of such paths (a checkpoint's, sealed from a
	// workload's tar) held a core for hours.
	for i, f := range m.Files {
		dir := f.Path + "/"
		j := i + 1 + sort.Search(len(m.Files)-i-1, func(k int) bool { return m.Files[i+1+k].Path >= dir })
		if j < len(m.Files) && strings.HasPrefix(m.Files[j].Path, dir) {
			return fmt.Errorf("manifest: files[%d].path %q: %q is both a file and a directory", j, m.Files[j].Path, f.Path)
		}
	}
	return nil
}

// CheckPath accepts a slash-separated relative path with no "..", ".", empty
// or absolute part, no backslash and no character textsafe holds unsafe to
// show (controls, bidirectional formatting, line separators): a path that
// cannot leave the directory it is joined to, nor show as another.
func CheckPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case len(p) > maxPathLen:
		return fmt.Errorf("path longer than %d bytes", maxPathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q is not UTF-8", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Errorf("path %q contains a backslash or NUL", p)
	}
	// The characters no place that shows text lets through as themselves
	// (textsafe): a control (C0, C1 or DEL), a bidirectional override,
	// embedding or isolate, which shows the name after it in another
	// order than it is stored ("report-\u202efdp.exe" shown as
	// "report-exe.pdf"), a line or paragraph separator, which forges
	// a line wherever the name is shown, or an invisible character (a
	// zero-width space; a joiner or mark where no word needs it), which
	// makes two names that differ read the same.
	if i := textsafe.Index(p); i >= 0 {
		r, _ := utf8.DecodeRuneInString(p[i:])
		return fmt.Errorf("path %q contains %U at byte %d (a control, bidirectional, line-separator or invisible character)", p, r, i)
	}
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "":
			return fmt.Errorf("path %q has an empty element", p)
		case ".", "..":
			return fmt.Errorf("path %q escapes or is not clean (%q)", p, part)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("path %q is not clean", p)
	}
	return nil
}

// shownPath is p, checked by CheckPath, as an error shows it: as it is
// when each of its characters is drawn (strconv.IsPrint), else quoted as
// Go quotes it. CheckPath lets through what names written in some scripts
// need (a zero-width joiner or non-joiner, a direction mark), which a
// terminal draws as nothing: shown as it is, "state\u200b.bin" would
// read as another file's name.
func shownPath(p string) string {
	for _, r := range p {
		if !strconv.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}

// CheckName accepts a DNS label: [a-z0-9-], 1–63, not starting or ending in '-'.
func CheckName(n string) error {
	if n == "" || len(n) > 63 || n[0] == '-' || n[len(n)-1] == '-' {
		return fmt.Errorf("name %q: want a DNS label ([a-z0-9-], 1 to 63, no leading or trailing '-')", n)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("name %q: want a DNS label ([a-z0-9-], 1 to 63, no leading or trailing '-')", n)
		}
	}
	return nil
}
