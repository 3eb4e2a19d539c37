package backend

import "testing"

// TestLogInfoReplaced: output whose identity lost or changed a piece, or
// whose head differs, is another output; output that gained a piece at its
// end (a job's next pod), grew, or was emptied is the same.
func TestLogInfoReplaced(t *testing.T) {
	pod := func(s string) LogInfo { return LogInfo{Size: -1, ID: s} }
	for _, tc := range []struct {
		name      string
		prev, cur LogInfo
		want      bool
	}{
		{"grown", LogInfo{Size: 3, ID: "file 1:2;", Head: []byte("abc")}, LogInfo{Size: 9, ID: "file 1:2;", Head: []byte("abcdefghi")}, false},
		{"another file", LogInfo{ID: "file 1:2;"}, LogInfo{ID: "file 1:23;"}, true},
		{"written anew", LogInfo{ID: "file 1:2;", Head: []byte("abc")}, LogInfo{ID: "file 1:2;", Head: []byte("xbcdef")}, true},
		{"emptied", LogInfo{ID: "file 1:2;", Head: []byte("abc")}, LogInfo{ID: "file 1:2;"}, false},
		{"next pod", pod("p0/u0/c0/0;"), pod("p0/u0/c0/0;p1/u1/c1/0;"), false},
		{"container restarted", pod("p0/u0/c0/0;p1/u1/c1/0;"), pod("p0/u0/c2/1;p1/u1/c1/0;"), true},
		{"pod gone from the front", pod("p0/u0/c0/0;p1/u1/c1/0;"), pod("p1/u1/c1/0;"), true},
		{"job gone", pod("p0/u0/c0/0;"), pod(""), false},
	} {
		if got := tc.prev.Replaced(tc.cur); got != tc.want {
			t.Errorf("%s: replaced %v, want %v", tc.name, got, tc.want)
		}
	}
}
