package store

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"strings"

	"modernc.org/sqlite"
)

// SQLite computes a run's hold_key column (migration 18) with this
// function, from the row's state and data, whoever writes the row: no
// writer can give the column another value. A connection that has not
// registered it (another program's) cannot write a held run's row at all,
// rather than write one the column misreads.
func init() {
	sqlite.MustRegisterDeterministicScalarFunction("meridian_hold_key", 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		state, _ := args[0].(string)
		data, isText := args[1].(string)
		if state != "held" {
			return nil, nil
		}
		if !isText {
			return HoldKeyUnknown, nil // bytes (a BLOB) or NULL: no run's data
		}
		if k, ok := holdKeyOf([]byte(data)); ok {
			return k, nil
		}
		return nil, nil
	})
}

// keyAskStart and keyAskMid are the words around the dataset's name in
// the reason of a hold for a key written before Hold.KeyDataset existed
// (run.keyHoldAsk): "send the key of dataset NAME again (meridian dataset
// send-key NAME): ".
const (
	keyAskStart = "send the key of dataset "
	keyAskMid   = " again (meridian dataset send-key "
)

// holdKeyOf is the dataset whose key a held run with data waits for, read
// as the run package reads it (encoding/json: keys in any case, the last
// of a key written twice, a hold written twice merged): the hold's
// keyDataset when it is a string that is not empty; else, on a hold whose
// reason asks for a key, the dataset it names, the ask whole and once.
// HoldKeyUnknown when the data cannot be told (not a JSON object, a hold,
// keyDataset or reason of another type, an ask otherwise written); ok
// false when the hold waits for no key.
func holdKeyOf(data []byte) (key string, ok bool) {
	holds, err := holdMembers(data)
	if err != nil {
		return HoldKeyUnknown, true
	}
	var d struct {
		Hold *struct {
			KeyDataset json.RawMessage `json:"keyDataset"`
			Reason     json.RawMessage `json:"reason"`
		} `json:"hold"`
	}
	if err := json.Unmarshal(holds, &d); err != nil {
		return HoldKeyUnknown, true
	}
	if d.Hold == nil {
		return "", false
	}
	var name, reason string
	if err := unmarshalOptional(d.Hold.KeyDataset, &name); err != nil {
		return HoldKeyUnknown, true
	}
	if name != "" {
		return name, true
	}
	if err := unmarshalOptional(d.Hold.Reason, &reason); err != nil {
		return HoldKeyUnknown, true
	}
	return keyAskOf(reason)
}

// errNotObject is holdMembers' answer for data that is not a JSON object
// it can read.
var errNotObject = errors.New("not a JSON object")

// holdMembers is the JSON object of data's top-level members that
// encoding/json could decode into a field named "hold" (a key equal to it
// in any case; one holding any other letter than ASCII, to be safe), in
// their order: what the run package's decoder reads its Hold from. The
// other members, the documents among them (megabytes, written at each
// update of a held run), are passed over by their strings' quotes and
// their brackets, not decoded: a JSON parse of them cost an update of a
// held run with 1 MB of documents several times the write.
func holdMembers(data []byte) ([]byte, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, errNotObject
	}
	out := []byte{'{'}
	for i = skipSpace(data, i+1); ; {
		if i < len(data) && data[i] == '}' && len(out) == 1 {
			return append(out, '}'), nil
		}
		if i >= len(data) || data[i] != '"' {
			return nil, errNotObject
		}
		keyEnd, err := skipString(data, i)
		if err != nil {
			return nil, err
		}
		var key string
		if err := json.Unmarshal(data[i:keyEnd], &key); err != nil {
			return nil, err
		}
		j := skipSpace(data, keyEnd)
		if j >= len(data) || data[j] != ':' {
			return nil, errNotObject
		}
		j = skipSpace(data, j+1)
		end, err := skipValue(data, j)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(key, "hold") || !isASCII(key) {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(append(append(out, data[i:keyEnd]...), ':'), data[j:end]...)
		}
		i = skipSpace(data, end)
		if i < len(data) && data[i] == '}' {
			if skipSpace(data, i+1) != len(data) {
				return nil, errNotObject
			}
			return append(out, '}'), nil
		}
		if i >= len(data) || data[i] != ',' {
			return nil, errNotObject
		}
		i = skipSpace(data, i+1)
	}
}

// skipSpace is the index of data's first byte from i that is not JSON
// white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString is the index just past the JSON string that begins at i (a
// quote): the next quote not escaped.
func skipString(data []byte, i int) (int, error) {
	for i++; i < len(data); {
		k := bytes.IndexAny(data[i:], `"\`)
		if k < 0 {
			break
		}
		i += k
		if data[i] == '"' {
			return i + 1, nil
		}
		i += 2 // an escape: its next byte is never a quote that ends the string
	}
	return 0, errNotObject
}

// skipValue is the index just past the JSON value that begins at i: a
// string, an object or array (to its matching bracket, strings inside
// passed over whole), or a number or literal (to the next delimiter).
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errNotObject
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			k := bytes.IndexAny(data[i:], `"{}[]`)
			if k < 0 {
				break
			}
			i += k
			switch data[i] {
			case '"':
				end, err := skipString(data, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				depth++
			default:
				depth--
			}
			i++
			if depth == 0 {
				return i, nil
			}
		}
		return 0, errNotObject
	}
	start := i
	for i < len(data) && !bytes.ContainsRune([]byte(",}] \t\n\r"), rune(data[i])) {
		i++
	}
	if i == start {
		return 0, errNotObject
	}
	return i, nil
}

// isASCII reports whether s holds ASCII alone.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// unmarshalOptional decodes raw into s unless raw is absent or null, as
// encoding/json leaves a string field for them.
func unmarshalOptional(raw json.RawMessage, s *string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return json.Unmarshal(raw, s)
}

// keyAskOf is the dataset a hold's reason asks the key of: ok false when
// it asks for none, HoldKeyUnknown when it asks otherwise than whole and
// once.
func keyAskOf(reason string) (string, bool) {
	p := strings.Index(reason, keyAskStart)
	if p < 0 {
		return "", false
	}
	rest := reason[p+len(keyAskStart):]
	q := strings.Index(rest, keyAskMid)
	if q <= 0 || strings.Contains(rest, keyAskStart) {
		return HoldKeyUnknown, true
	}
	name := rest[:q]
	if !strings.HasPrefix(rest, name+keyAskMid+name+"): ") {
		return HoldKeyUnknown, true
	}
	return name, true
}
