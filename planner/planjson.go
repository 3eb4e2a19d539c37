package planner

import (
	"bufio"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"strings"

	"meridian.dev/meridian/policy"
)

// WriteJSON writes the plan as encoding/json would (one line, compact, HTML
// characters escaped, a newline after), faster: a plan over thousands of
// sites carries every rejection, megabytes of reasons that repeat (10,649
// reasons, 94 distinct, in the 2,000-site cn benchmark), and each distinct
// reason, site name or country is encoded once. Rejections stream to w as
// they are written; a test holds the output to json.Marshal's, byte for
// byte.
func (p *Plan) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	e := planEncoder{w: bw, findings: map[policy.Finding][]byte{}, strs: map[string][]byte{}}
	v := reflect.ValueOf(p).Elem()
	t := v.Type()
	bw.WriteByte('{')
	first := true
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv := v.Field(i)
		if strings.Contains(opts, "omitempty") && fv.IsZero() {
			continue
		}
		if !first {
			bw.WriteByte(',')
		}
		first = false
		e.key(name)
		if name == "rejected" {
			e.rejected(p.Rejected)
			continue
		}
		b, err := json.Marshal(fv.Interface())
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString("}\n")
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

type planEncoder struct {
	w        *bufio.Writer
	findings map[policy.Finding][]byte
	strs     map[string][]byte
	err      error
}

func (e *planEncoder) key(name string) {
	e.w.WriteByte('"')
	e.w.WriteString(name) // the plan's own field names: nothing to escape
	e.w.WriteString(`":`)
}

// str writes s as a JSON string, encoding each distinct s once.
func (e *planEncoder) str(s string) {
	b, ok := e.strs[s]
	if !ok {
		var err error
		if b, err = json.Marshal(s); err != nil {
			e.err = err
			return
		}
		e.strs[s] = b
	}
	e.w.Write(b)
}

// rejected writes the rejections in Rejection's field order (site,
// country, accelerator, kind, reasons, resolution, candidates).
func (e *planEncoder) rejected(rs []Rejection) {
	if rs == nil {
		e.w.WriteString("null")
		return
	}
	e.w.WriteByte('[')
	var num []byte
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			e.w.WriteByte(',')
		}
		e.w.WriteString(`{"site":`)
		e.str(r.Site)
		e.w.WriteString(`,"country":`)
		e.str(r.Country)
		e.w.WriteString(`,"accelerator":`)
		e.str(r.Accelerator)
		e.w.WriteString(`,"kind":`)
		e.str(string(r.Kind))
		e.w.WriteString(`,"reasons":`)
		if r.Reasons == nil {
			e.w.WriteString("null")
		} else {
			e.w.WriteByte('[')
			for j, f := range r.Reasons {
				if j > 0 {
					e.w.WriteByte(',')
				}
				b, ok := e.findings[f]
				if !ok {
					var err error
					if b, err = json.Marshal(f); err != nil {
						e.err = err
						return
					}
					e.findings[f] = b
				}
				e.w.Write(b)
			}
			e.w.WriteByte(']')
		}
		e.w.WriteString(`,"resolution":`)
		e.str(r.Resolution.String())
		e.w.WriteString(`,"candidates":`)
		num = strconv.AppendInt(num[:0], int64(r.Candidates), 10)
		e.w.Write(num)
		e.w.WriteByte('}')
	}
	e.w.WriteByte(']')
}
