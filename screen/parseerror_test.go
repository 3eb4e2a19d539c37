package screen

import (
	"strings"
	"testing"
)

// TestParseErrorsBounded: an error about a list file quotes at most a
// clip of what it refuses: the file's source, a name, a header or an
// entity number of megabytes made an error (printed, logged) as large.
func TestParseErrorsBounded(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	for name, data := range map[string]string{
		"csv source":        "source,name\n" + big + ",Example\n",
		"csv source code":   "source,name\n(" + strings.ToUpper(big) + "),Example\n",
		"csv header":        strings.Repeat("col,", 1<<18) + "name\nx\n",
		"json source":       `{"results": [{"source": "` + big + `", "name": "Example"}]}`,
		"json name":         `{"results": [{"source": "nowhere", "name": "` + big + `"}]}`,
		"json entityNumber": `{"results": [{"source": "EL", "name": "Example", "entity_number": ["` + big + `"]}]}`,
	} {
		_, err := Parse("list", []byte(data))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if n := len(err.Error()); n > 1024 {
			t.Errorf("%s: error of %d bytes: %.200s...", name, n, err)
		}
	}
}
