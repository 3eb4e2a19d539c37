package api

import (
	"bufio"
	"encoding/json"
	"net/http"
)

// rawPage is a page's items as JSON, each encoded once: the encoding that
// measures an item against the page's byte bound is the one written.
// Encoding each again to write the page doubled the cost of a page.
type rawPage struct {
	items []json.RawMessage
	// size is the items' bytes, each counted with the comma or bracket
	// after it.
	size int
}

// add encodes v and keeps it, unless the page holds an item already and
// v would take the page's items past bound bytes; ok says it was kept.
func (p *rawPage) add(v any, bound int) (ok bool, err error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	if len(p.items) > 0 && p.size+len(b)+1 > bound {
		return false, nil
	}
	p.size += len(b) + 1
	p.items = append(p.items, b)
	return true, nil
}

// pageField is a field of a page's answer after its list: a string or an
// int64, left out when empty or zero (as omitempty does).
type pageField struct {
	name  string
	value any
}

// pageWriteBuffer is how much of a page is gathered before it is written.
const pageWriteBuffer = 32 << 10

// writePage answers 200 with what writeJSON writes of a struct whose first
// field is the list items under key, and whose other fields, each omitempty,
// are tail: the same bytes, from the items' JSON as encoded (rawPage).
func writePage(w http.ResponseWriter, key string, items []json.RawMessage, tail ...pageField) {
	writeJSONHeader(w, http.StatusOK)
	bw := bufio.NewWriterSize(w, pageWriteBuffer)
	bw.WriteString(`{"`)
	bw.WriteString(key)
	bw.WriteString(`":[`)
	for i, b := range items {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(b)
	}
	bw.WriteByte(']')
	for _, f := range tail {
		switch v := f.value.(type) {
		case string:
			if v == "" {
				continue
			}
		case int64:
			if v == 0 {
				continue
			}
		}
		b, _ := json.Marshal(f.value) // a string or a number
		bw.WriteString(`,"`)
		bw.WriteString(f.name)
		bw.WriteString(`":`)
		bw.Write(b)
	}
	bw.WriteString("}\n")
	bw.Flush()
}
