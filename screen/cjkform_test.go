package screen

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestLegalFormBetweenHanLetters: a legal form written between letters of
// Han or kana is left out and leaves them one word, as the name is written
// without it. Before, they stayed apart: Normalize was not its own normal
// form (the fuzzed "示 Z 有" gave "示 有", and that "示有"), and an
// organisation whose name was a listed Chinese name with "Ltd" between
// each letter matched nothing.
func TestLegalFormBetweenHanLetters(t *testing.T) {
	for in, want := range map[string]string{
		"示\xe4Z Z Z 有": "示有",
		"示 Z 有":        "示有",
		"深圳示例 Ltd 先进计算有限公司":      "深圳示例先进计算",
		"深 Ltd 圳 Ltd 示 Co. 例":    "深圳示例",
		"Example Ltd 示例 GmbH 科技": "exarnple 示例科技", // skeletons: m is rn
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	l := &List{Entries: []Entry{{ID: "1", List: "EL", Name: "深圳示例先进计算有限公司"}}}
	for _, name := range []string{"深圳示例先进计算有限公司", "深 Ltd 圳 Ltd 示 Ltd 例 Ltd 先 Ltd 进 Ltd 计 Ltd 算"} {
		o := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN", LegalName: name}}
		if r := Screen("", o, l, nil); len(r.Matches) == 0 {
			t.Errorf("%q: no match of the listed 深圳示例先进计算有限公司 (%s)", name, r.Status)
		}
	}
}
