package main

import (
	"bufio"
	"io"
)

// pagedOut writes a listing that arrives a page at a time ({"key": [...]})
// as it arrives, in render's formats: the JSON and YAML are byte for byte
// what render writes for the whole listing, and the table is printed a
// page at a time with its columns kept from one page to the next. Only
// the page being written is held, so a listing of any length prints in
// the memory of one page.
type pagedOut[T any] struct {
	w      io.Writer
	bw     *bufio.Writer
	format string
	key    string
	// header and row are the table: its header line and an element's
	// line, tab-separated.
	header string
	row    func(T) string
	n      int  // elements written
	headed bool // the table's header is written
	p      jsonPiece
	cols   []int
	yamlIn []byte // the list's indentation under its key in YAML
	// leads are the fields written before the list ({"run": …, "key":
	// [...]}), in order.
	leads []leadField
}

// leadField is a field of the listing's object before its list.
type leadField struct {
	name string
	v    any
}

// lead adds a field written before the list, as render writes a struct
// field before the list's: call it before the first page.
func (o *pagedOut[T]) lead(name string, v any) { o.leads = append(o.leads, leadField{name, v}) }

func newPagedOut[T any](w io.Writer, format, key, header string, row func(T) string) (*pagedOut[T], error) {
	switch format {
	case "json", "yaml", "table", "wide", "":
	default:
		return nil, badFormat(format)
	}
	return &pagedOut[T]{w: w, bw: bufio.NewWriterSize(w, 64<<10), format: format, key: key, header: header, row: row}, nil
}

// page writes the elements of one page and flushes them out.
func (o *pagedOut[T]) page(items []T) error {
	switch o.format {
	case "json":
		for _, it := range items {
			if o.n == 0 {
				if err := o.jsonHead(); err != nil {
					return err
				}
				o.bw.WriteString("\n")
			} else {
				o.bw.WriteString(",\n")
			}
			b, err := o.p.encode(it, "    ")
			if err != nil {
				return err
			}
			o.bw.WriteString("    ")
			o.bw.Write(b)
			o.n++
		}
	case "yaml":
		for _, it := range items {
			if o.n == 0 {
				if err := o.yamlLeads(); err != nil {
					return err
				}
				in, err := yamlListKey(o.bw, o.key)
				if err != nil {
					return err
				}
				o.yamlIn = in
			}
			if err := yamlListElem(o.bw, &o.p, o.yamlIn, it); err != nil {
				return err
			}
			o.n++
		}
	default:
		if err := o.bw.Flush(); err != nil {
			return err
		}
		tw := newTab(o.w)
		tw.cols = &o.cols
		if !o.headed {
			io.WriteString(tw, o.header+"\n")
			o.headed = true
		}
		for _, it := range items {
			io.WriteString(tw, o.row(it)+"\n")
			o.n++
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return o.bw.Flush()
}

// jsonHead writes the listing's opening, up to its list's "[".
func (o *pagedOut[T]) jsonHead() error {
	o.bw.WriteString("{\n")
	for _, f := range o.leads {
		key, err := o.p.encode(f.name, "")
		if err != nil {
			return err
		}
		o.bw.WriteString("  ")
		o.bw.Write(key)
		o.bw.WriteString(": ")
		b, err := o.p.encode(f.v, "  ")
		if err != nil {
			return err
		}
		o.bw.Write(b)
		o.bw.WriteString(",\n")
	}
	key, err := o.p.encode(o.key, "")
	if err != nil {
		return err
	}
	o.bw.WriteString("  ")
	o.bw.Write(key)
	o.bw.WriteString(": [")
	return nil
}

// yamlLeads writes the fields before the list in YAML, as render does.
func (o *pagedOut[T]) yamlLeads() error {
	for _, f := range o.leads {
		b, err := o.p.encode(map[string]any{f.name: f.v}, "")
		if err != nil {
			return err
		}
		y, err := jsonToYAML(b, &o.p.plain)
		if err != nil {
			return err
		}
		o.bw.Write(y)
	}
	return nil
}

// end closes the listing once its last page is written.
func (o *pagedOut[T]) end() error {
	switch o.format {
	case "json":
		if o.n == 0 {
			if err := o.jsonHead(); err != nil {
				return err
			}
			o.bw.WriteString("]\n}\n")
		} else {
			o.bw.WriteString("\n  ]\n}\n")
		}
	case "yaml":
		if o.n == 0 {
			if err := o.yamlLeads(); err != nil {
				return err
			}
			y, err := jsonToYAML(mustJSON(map[string][]int{o.key: {}}), nil)
			if err != nil {
				return err
			}
			o.bw.Write(y)
		}
	default:
		if !o.headed {
			return o.page(nil)
		}
	}
	return o.bw.Flush()
}
