package kubernetes

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// maxIndexedCompletions is the most completions an Indexed Job may have
// (the API server's own bound): a list of indexes past it is not read.
const maxIndexedCompletions = 100_000

// maxSucceededIndexes bounds the list of indexes a record keeps
// (record.SucceededIndexes): one past it is not written, and an attempt
// whose successes it would have held fails closed (uncountedSuccess). It
// is the longest list of indexes below maxIndexedCompletions, runs of two
// one apart ("0-1,3-4,…", 392,593 bytes at most), which an honest attempt
// whose pods succeed out of order nears half way through: at 16 KiB, an
// attempt of some 6,000 pods lost indexes for good, and read lost once its
// pods were deleted and the backend restarted. It is within
// maxRecordBytes with the rest of a record (TestTheLongestListOfIndexesFitsTheRecord).
const maxSucceededIndexes = 384 << 10

// indexRange is the completion indexes from lo to hi, both included.
type indexRange struct{ lo, hi int }

// parseIndexes reads s, completion indexes as the Job controller writes
// them in status.completedIndexes ("1,3-5,7": ascending, apart), each
// below n; false where s is not such a list.
func parseIndexes(s string, n int) ([]indexRange, bool) {
	if s == "" {
		return nil, true
	}
	var out []indexRange
	for part := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.Atoi(b)
		}
		if err1 != nil || err2 != nil || lo < 0 || hi < lo || hi >= n {
			return nil, false
		}
		if k := len(out); k > 0 && lo <= out[k-1].hi+1 {
			return nil, false // not ascending and apart
		}
		out = append(out, indexRange{lo, hi})
	}
	return out, true
}

// formatIndexes writes rs as parseIndexes reads it.
func formatIndexes(rs []indexRange) string {
	var sb strings.Builder
	for i, r := range rs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(r.lo))
		if r.hi > r.lo {
			sb.WriteByte('-')
			sb.WriteString(strconv.Itoa(r.hi))
		}
	}
	return sb.String()
}

// addIndex returns rs with i in it, ascending and apart.
func addIndex(rs []indexRange, i int) []indexRange {
	out := make([]indexRange, 0, len(rs)+1)
	placed := false
	for _, r := range rs {
		switch {
		case placed || r.hi < i-1:
			out = append(out, r)
		case r.lo > i+1:
			out = append(out, indexRange{i, i}, r)
			placed = true
		default:
			out = append(out, indexRange{min(r.lo, i), max(r.hi, i)})
			placed = true
		}
		// Two ranges that i joined are merged.
		if k := len(out); k > 1 && out[k-2].hi+1 >= out[k-1].lo {
			out[k-2].hi = max(out[k-2].hi, out[k-1].hi)
			out = out[:k-1]
		}
	}
	if !placed {
		out = append(out, indexRange{i, i})
	}
	return out
}

// hasIndex reports whether i is in rs.
func hasIndex(rs []indexRange, i int) bool {
	for _, r := range rs {
		if r.lo <= i && i <= r.hi {
			return true
		}
	}
	return false
}

// unionIndexes is the indexes in a or b, ascending and apart.
func unionIndexes(a, b []indexRange) []indexRange {
	all := slices.Concat(a, b)
	slices.SortFunc(all, func(x, y indexRange) int { return cmp.Compare(x.lo, y.lo) })
	var out []indexRange
	for _, r := range all {
		if k := len(out); k > 0 && r.lo <= out[k-1].hi+1 {
			out[k-1].hi = max(out[k-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// coversIndexes reports whether rs, ascending and apart, holds every
// index of r.
func coversIndexes(rs []indexRange, r indexRange) bool {
	i, _ := slices.BinarySearchFunc(rs, r.lo, func(x indexRange, lo int) int {
		if x.hi < lo {
			return -1
		}
		if x.lo > lo {
			return 1
		}
		return 0
	})
	return i < len(rs) && rs[i].lo <= r.lo && r.hi <= rs[i].hi
}

// podIndex is p's completion index in its Indexed Job, and whether it has
// one.
func podIndex(p *apiPod) (int, bool) {
	v, ok := p.Annotations[completionIndexAnnotation]
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i >= maxIndexedCompletions {
		return 0, false
	}
	return i, true
}
