package slurm

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"

	"meridian.dev/meridian/backend"
)

// Capacity: what the site can give Meridian's jobs now, counted in the
// site's GRES (backend.gres or gresType; gpu without either) over the
// site's partition (the cluster's default partition when none is set):
//
//	capacity = Σ free GRES of the partition's nodes that take jobs
//	         + Σ GRES held by this server's own running jobs there
//
// A node takes jobs when its base state is idle, mixed or allocated and it
// carries none of the flags that stop new jobs (drain, fail, maint, not
// responding, powered down, reboot, …), and the partition is up. A node's
// free GRES are its configured ones of the site's kind less those in use
// (by anyone). Own jobs are those recorded in the backend's state
// directory (submitted or found by this server); while running or
// suspended, what they hold on the partition's nodes is added back, on a
// draining node too, since the controller counts those holds against the
// figure. Pending jobs hold nothing in Slurm (the controller counts its
// own pending ones as holds), and other users' pending jobs are not
// subtracted: Slurm decides who goes first among what is free. CPUs and
// memory are not counted.
//
// On the command path the state directory is written by the cluster's
// nodes, and a workload runs as the cluster user, so it can submit jobs
// of its own and write their records (handles/ID). Nothing else a poll
// could check is out of its reach: the job's name is its to set, and the
// job's command, which no one may update, is whatever script path it
// submits, in the state directory too (and squeue prints a command as it
// is, newlines included, so asking for it would let one job's command
// forge another job's line). The records are therefore signed under a key
// kept outside the state directory (seal.go): a record that does not
// verify is no record, and the job it names is not counted.

// Bounds on what a site's answer to a capacity poll may be.
const (
	// maxCapacityOutput bounds the output of one Slurm command.
	maxCapacityOutput = 64 << 20
	// maxCapacityLine bounds one line (one node or one job).
	maxCapacityLine = 64 << 10
	// maxGresPerEntry bounds one GRES count ("gpu:h100:8"): no node has
	// anything near 65,536 accelerators of one kind.
	maxGresPerEntry = 1 << 16
	// maxGresPerNode bounds a node's GRES of one kind, all entries together.
	maxGresPerNode = 1 << 20
	// maxCapacityNodes bounds the nodes of one partition or one job.
	maxCapacityNodes = 1 << 20
)

// gresKind is the GRES a site's jobs ask for: a name (gpu) and, when the
// site names one, a type (h100); without a type every type counts.
type gresKind struct{ name, typ string }

func kindOf(siteGres string) gresKind {
	if siteGres == "" {
		return gresKind{name: "gpu"}
	}
	name, typ, _ := strings.Cut(siteGres, ":")
	return gresKind{name: name, typ: typ}
}

func (k gresKind) String() string {
	if k.typ == "" {
		return k.name
	}
	return k.name + ":" + k.typ
}

// gresCount adds up the count of kind k in a GRES list as sinfo, scontrol
// and slurmrestd print a node's GRES and GRES in use: comma-separated
// entries name[:type][:count], each maybe followed by a parenthesised
// detail ("gpu:h100:8(S:0-1)", "gpu:h100:3(IDX:0-1,4)"). "(null)", "N/A" and
// "" are none. Entries of another name or type are skipped; an entry of
// kind k whose count is not a plain decimal number within bounds is an
// error.
func gresCount(list string, k gresKind) (int, error) {
	list = strings.TrimSpace(list)
	switch list {
	case "", "(null)", "N/A", "none":
		return 0, nil
	}
	if len(list) > maxCapacityLine {
		return 0, fmt.Errorf("GRES list of %d bytes, at most %d", len(list), maxCapacityLine)
	}
	entries, err := splitTop(list)
	if err != nil {
		return 0, fmt.Errorf("GRES %q: %w", clip(list), err)
	}
	total := 0
	for _, e := range entries {
		n, ok, err := gresEntry(e, k)
		if err != nil {
			return 0, fmt.Errorf("GRES %q: %w", clip(list), err)
		}
		if !ok {
			continue
		}
		total += n
		if total > maxGresPerNode {
			return 0, fmt.Errorf("GRES %q: more than %d of %s", clip(list), maxGresPerNode, k)
		}
	}
	return total, nil
}

// gresEntry is the count of one entry, and whether it is of kind k.
func gresEntry(e string, k gresKind) (int, bool, error) {
	if i := strings.IndexByte(e, '('); i >= 0 {
		e = e[:i]
	}
	f := strings.Split(strings.TrimSpace(e), ":")
	if f[0] != k.name || len(f) > 3 {
		return 0, false, nil
	}
	typ, count := "", "1"
	switch len(f) {
	case 2:
		if isDigits(f[1]) {
			count = f[1]
		} else {
			typ = f[1]
		}
	case 3:
		typ, count = f[1], f[2]
	}
	if k.typ != "" && typ != k.typ {
		return 0, false, nil
	}
	if !isDigits(count) || len(count) > 7 {
		return 0, false, fmt.Errorf("count %q of %s is not a number from 0 to %d", count, k, maxGresPerEntry)
	}
	n, _ := strconv.Atoi(count)
	if n > maxGresPerEntry {
		return 0, false, fmt.Errorf("count %d of %s is over %d", n, k, maxGresPerEntry)
	}
	return n, true, nil
}

// tresGresCount is the count of kind k in a job's TRES per node: Slurm
// 22.05 prints "gres:gpu:h100:3", later versions "gres/gpu:h100=3"; both
// may list several, comma-separated.
func tresGresCount(list string, k gresKind) (int, error) {
	list = strings.TrimSpace(list)
	if list == "" || list == "(null)" || list == "N/A" {
		return 0, nil
	}
	if len(list) > maxCapacityLine {
		return 0, fmt.Errorf("TRES list of %d bytes, at most %d", len(list), maxCapacityLine)
	}
	var b strings.Builder
	for i, e := range strings.Split(list, ",") {
		if i > 0 {
			b.WriteByte(',')
		}
		e = strings.TrimSpace(e)
		switch {
		case strings.HasPrefix(e, "gres:"):
			e = e[len("gres:"):]
		case strings.HasPrefix(e, "gres/"):
			e = strings.Replace(e[len("gres/"):], "=", ":", 1)
		default:
			continue // cpu=…, mem=…, license/…: not a GRES
		}
		b.WriteString(e)
	}
	return gresCount(b.String(), k)
}

// splitTop splits s at the commas outside parentheses.
func splitTop(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, errors.New("unbalanced parentheses")
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, errors.New("unbalanced parentheses")
	}
	return append(out, s[start:]), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens a site's text for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// takesJobs reports whether a node in base state base with flags takes
// new jobs. A base state not known here is taken to mean no: a figure too
// low makes runs wait, one too high makes them queue at the site.
func takesJobs(base string, flags []string) bool {
	switch strings.ToLower(strings.TrimRight(base, "*~#!%$@^-")) {
	case "idle", "mixed", "allocated", "alloc", "mix":
	default:
		return false
	}
	for _, f := range flags {
		if flagStopsJobs(f) {
			return false
		}
	}
	return true
}

// stateTakesJobs is takesJobs of a node's state as sinfo prints it
// (StateComplete: BASE+FLAG+...), its flags walked in place: split, a
// line's 64 KiB of "+" cost 512 KiB of string headers.
func stateTakesJobs(state string) bool {
	base, flags, more := strings.Cut(state, "+")
	if !takesJobs(base, nil) {
		return false
	}
	if more {
		for f := range strings.SplitSeq(flags, "+") {
			if flagStopsJobs(f) {
				return false
			}
		}
	}
	return true
}

// flagStopsJobs says whether a node with the state flag f takes no jobs.
func flagStopsJobs(f string) bool {
	switch strings.ToLower(f) {
	case "drain", "draining", "drained", "fail", "failing", "maint", "not_responding",
		"power_down", "powered_down", "powering_down", "powering_up", "power_up",
		"reboot_requested", "reboot_issued", "invalid", "invalid_reg", "down", "future", "unknown":
		return true
	}
	return false
}

// expandHostlist expands a Slurm host list ("node[01-03,07],gpu-[1-2]x")
// into names, refusing one that names more than limit hosts or a host name
// longer than maxNodeText bytes.
func expandHostlist(s string, limit int) ([]string, error) {
	var out []string
	_, err := eachHostlist(s, limit, func(name string) { out = append(out, name) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachHostlist calls yield with each name of a Slurm host list, as
// expandHostlist, and returns how many. Each of its host expressions is
// checked whole before any of its names is made, and a name is made only
// when yield is called with it; a list in error may have yielded some.
func eachHostlist(s string, limit int, yield func(string)) (int, error) {
	if len(s) > maxCapacityLine {
		return 0, fmt.Errorf("host list of %d bytes, at most %d", len(s), maxCapacityLine)
	}
	n := 0
	for _, item := range splitBrackets(s) {
		if item == "" {
			continue
		}
		k, err := eachHost(item, limit-n, yield)
		if err != nil {
			return n, fmt.Errorf("host list %q: %w", clip(s), err)
		}
		n += k
	}
	return n, nil
}

// eachHost calls yield with each name of one host expression,
// prefix[ranges]suffix…, and returns how many; more than limit names, or
// one longer than maxNodeText bytes, is an error found before any name
// is made.
func eachHost(item string, limit int, yield func(string)) (int, error) {
	type span struct {
		lo, hi, width int
	}
	// An expression is literals each followed by a bracket of ranges,
	// but for the last.
	type part struct {
		lit   string
		spans []span
	}
	var parts []part
	n, longest := 1, 0
	for rest := item; ; {
		open := strings.IndexByte(rest, '[')
		if open < 0 {
			if strings.ContainsAny(rest, "]") {
				return 0, errors.New("unbalanced brackets")
			}
			parts = append(parts, part{lit: rest})
			longest += len(rest)
			break
		}
		end := strings.IndexByte(rest[open:], ']')
		if end < 0 {
			return 0, errors.New("unbalanced brackets")
		}
		end += open
		prefix, ranges := rest[:open], rest[open+1:end]
		if strings.ContainsAny(prefix, "]") || strings.ContainsAny(ranges, "[") {
			return 0, errors.New("unbalanced brackets")
		}
		var spans []span
		count, digits := 0, 0
		for _, r := range strings.Split(ranges, ",") {
			a, b, isRange := strings.Cut(r, "-")
			if !isRange {
				b = a
			}
			if !isDigits(a) || !isDigits(b) || len(a) > 9 || len(b) > 9 {
				return 0, fmt.Errorf("range %q is not n or n-m", r)
			}
			lo, _ := strconv.Atoi(a)
			hi, _ := strconv.Atoi(b)
			if hi < lo {
				return 0, fmt.Errorf("range %q runs backwards", r)
			}
			if count += hi - lo + 1; count > limit {
				return 0, fmt.Errorf("more than %d hosts", maxCapacityNodes)
			}
			spans = append(spans, span{lo, hi, len(a)})
			digits = max(digits, len(a), len(strconv.Itoa(hi)))
		}
		if n *= count; n > limit {
			return 0, fmt.Errorf("more than %d hosts", maxCapacityNodes)
		}
		longest += len(prefix) + digits
		parts = append(parts, part{prefix, spans})
		rest = rest[end+1:]
	}
	if n > limit {
		return 0, fmt.Errorf("more than %d hosts", maxCapacityNodes)
	}
	if longest > maxNodeText {
		return 0, fmt.Errorf("a host name of %d bytes, at most %d", longest, maxNodeText)
	}
	// The names, in order, each made in buf as it is yielded.
	buf := make([]byte, 0, longest)
	var walk func(i int)
	walk = func(i int) {
		p := parts[i]
		mark := len(buf)
		buf = append(buf, p.lit...)
		if i == len(parts)-1 {
			yield(string(buf))
		}
		for _, sp := range p.spans {
			for v := sp.lo; v <= sp.hi; v++ {
				m := len(buf)
				buf = appendPadded(buf, v, sp.width)
				walk(i + 1)
				buf = buf[:m]
			}
		}
		buf = buf[:mark]
	}
	walk(0)
	return n, nil
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// splitBrackets splits s at the commas outside brackets.
func splitBrackets(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// capNode is one node of the partition as a capacity poll sees it.
type capNode struct {
	name        string
	takesJobs   bool
	total, used int // of the site's GRES kind
}

// capacityOf adds up what the site can give: the free GRES of the nodes
// that take jobs (none when the partition is not up) and what the own jobs
// hold on the partition's nodes, as noted in t.
func capacityOf(partitionUp bool, nodes []capNode, t *capTally) int {
	t.nodes = slices.Grow(t.nodes, len(nodes))
	for _, nd := range nodes {
		t.node(partitionUp, nd)
	}
	return t.total()
}

// capTally adds up a capacity poll as it is read: first what this
// server's running jobs hold on each node, then the partition's nodes one
// at a time, a node listed more than once counted once (the listing with
// the fewest free GRES: a site that lists a node twice, differently, gets
// the lower figure). It keeps no node name, only a keyed 128-bit hash of
// each (maphash, with seeds of its own that a site cannot know, so it
// cannot make two names meet): a partition of a million nodes of long
// names costs 16-byte keys, not the names. What the own jobs hold, and
// the free GRES of the partition's nodes, are arrays of 20 bytes a node
// (holdEntry), each sorted once the nodes are listed and looked up by
// binary search: at the bound of a million nodes, a map of either took
// about 56 MB.
type capTally struct {
	seed    [2]maphash.Seed
	holds   []holdEntry         // GRES the own jobs hold, per node
	settled bool                // holds sorted by key, one entry a node
	nodes   []holdEntry         // the partition's nodes listed, and their free GRES
	jobs    map[string]struct{} // the own jobs counted
	n       int
}

type nodeKey [2]uint64

// holdEntry is what the own jobs hold on one node: the node's key
// (nodeKey, as four 32-bit words, so that an entry takes 20 bytes rather
// than 24) and the GRES held.
type holdEntry struct {
	k [4]uint32
	n uint32
}

func (k nodeKey) words() [4]uint32 {
	return [4]uint32{uint32(k[0] >> 32), uint32(k[0]), uint32(k[1] >> 32), uint32(k[1])}
}

func cmpWords(a, b [4]uint32) int {
	for i := range a {
		if a[i] != b[i] {
			return cmp.Compare(a[i], b[i])
		}
	}
	return 0
}

func newCapTally() *capTally {
	return &capTally{
		seed: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		jobs: make(map[string]struct{}),
	}
}

// firstListing says whether the own job id is listed for the first time:
// a job listed again holds nothing more. (There are no more entries than
// own jobs, each of which has a record.)
func (t *capTally) firstListing(id string) bool {
	if _, dup := t.jobs[id]; dup {
		return false
	}
	t.jobs[id] = struct{}{}
	return true
}

func (t *capTally) key(name string) nodeKey {
	return nodeKey{maphash.String(t.seed[0], name), maphash.String(t.seed[1], name)}
}

// hold notes that an own job holds per of the site's GRES on node name.
// (Callers bound the names noted, maxCapacityNodes in all.)
func (t *capTally) hold(name string, per int) {
	if per > 0 {
		t.holds = append(t.holds, holdEntry{t.key(name).words(), uint32(min(per, math.MaxUint32))})
		t.settled = false
	}
}

// settle sorts the holds by key and adds up those of one node into one
// entry (a sum past 2^32-1 stays there).
func (t *capTally) settle() {
	slices.SortFunc(t.holds, func(a, b holdEntry) int { return cmpWords(a.k, b.k) })
	out := t.holds[:0]
	for _, e := range t.holds {
		if last := len(out) - 1; last >= 0 && out[last].k == e.k {
			out[last].n = uint32(min(uint64(out[last].n)+uint64(e.n), math.MaxUint32))
			continue
		}
		out = append(out, e)
	}
	t.holds, t.settled = out, true
}

// held is what the own jobs hold on the node of key k.
func (t *capTally) held(k nodeKey) int {
	if !t.settled {
		t.settle()
	}
	return t.heldWords(k.words())
}

// heldWords is held of a key as words, the holds settled.
func (t *capTally) heldWords(w [4]uint32) int {
	i, ok := slices.BinarySearchFunc(t.holds, w, func(e holdEntry, w [4]uint32) int { return cmpWords(e.k, w) })
	if !ok {
		return 0
	}
	return int(t.holds[i].n)
}

// node notes a node of the partition: its free GRES when it takes jobs
// and the partition is up (none otherwise). total counts it.
// (Callers bound the nodes noted, maxCapacityNodes in all.)
func (t *capTally) node(partitionUp bool, nd capNode) {
	free := 0
	if partitionUp && nd.takesJobs && nd.total > nd.used {
		free = nd.total - nd.used
	}
	t.nodes = append(t.nodes, holdEntry{t.key(nd.name).words(), uint32(min(free, math.MaxUint32))})
}

// total is the capacity: for each node noted, once however often it was
// listed (its listing with the fewest free), its free GRES and what the
// own jobs hold there. The nodes are counted once, and let go.
func (t *capTally) total() int {
	if t.nodes == nil {
		return t.n
	}
	if !t.settled {
		t.settle()
	}
	slices.SortFunc(t.nodes, func(a, b holdEntry) int {
		if c := cmpWords(a.k, b.k); c != 0 {
			return c
		}
		return cmp.Compare(a.n, b.n)
	})
	for i, e := range t.nodes {
		if i > 0 && t.nodes[i-1].k == e.k {
			continue
		}
		t.n += int(e.n) + t.heldWords(e.k)
	}
	t.nodes = nil
	return t.n
}

// ownJobs tells which of the jobs a capacity poll lists are this
// server's: those with a record (records.liveKeyOf). The site lists any
// number of running jobs, each any number of times; the records are
// listed once a poll, and a listed job's record is read only when there
// is one, once: a poll reads no more state files than there are records.
//
// A job whose id was another attempt's of this state directory first
// (handle ID:KEY) has a record of its own, handles/ID:KEY: the id's
// record names the earlier attempt, and once that attempt's job was
// cleaned up (ended/ID) the later attempt's running job was not counted
// as the server's, so the site reported less than it could give.
//
// A record that is also under ended/ for the same attempt is not counted
// (records.retired): its job was cleaned up, and a workload, as the
// cluster user, can put a copy it kept of the signed record back.
type ownJobs struct {
	rec      records
	recorded map[uint64]struct{} // ids with a record, as listed
	later    map[uint64][]string // ids with a later attempt's record (handles/ID:KEY), and its keys
	known    map[uint64]bool     // ids whose record was read, and whether it names an attempt
}

func newOwnJobs(rec records) (*ownJobs, error) {
	ids, later, err := rec.recordedIDs()
	if err != nil {
		return nil, fmt.Errorf("job records: %w", err)
	}
	return &ownJobs{rec: rec, recorded: ids, later: later, known: make(map[uint64]bool)}, nil
}

// own says whether job id is this server's.
func (o *ownJobs) own(id string) bool {
	n, ok := jobNumber(id)
	if !ok {
		return false
	}
	_, plain := o.recorded[n]
	keys := o.later[n]
	if !plain && len(keys) == 0 {
		return false
	}
	if v, ok := o.known[n]; ok {
		return v
	}
	v := false
	if plain {
		key := o.rec.liveKeyOf(id)
		v = key != "" && !o.rec.retired(id, key)
	}
	for _, key := range keys {
		if v {
			break
		}
		v = o.rec.liveLater(id, key) && !o.rec.retired(id+handleSep+key, key)
	}
	o.known[n] = v
	return v
}

// sinfoCapacityFormat is what Capacity asks sinfo for, one node a line;
// fields without a width are printed whole.
const sinfoCapacityFormat = "NodeList:|,Partition:|,Available:|,StateComplete:|,Gres:|,GresUsed:|"

// parseSinfoCapacity reads sinfo's lines (sinfoCapacityFormat) for
// partition ("" for the default one, which sinfo marks with a '*'): the
// nodes, and whether the partition is up.
func parseSinfoCapacity(out, partition string, k gresKind) (nodes []capNode, up bool, err error) {
	up = true
	found := false
	var f [7]string
	// A line at a time, each split in place (outputLines, fieldsInto).
	for i, line := range outputLines(out) {
		if i > maxListedLines {
			return nil, false, fmt.Errorf("sinfo: more than %d lines", maxListedLines)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(line) > maxCapacityLine {
			return nil, false, fmt.Errorf("sinfo line %d: %d bytes, at most %d", i, len(line), maxCapacityLine)
		}
		if n := fieldsInto(line, "|", f[:]); n != len(f) || f[6] != "" {
			return nil, false, fmt.Errorf("sinfo line %d: %q is not %d fields separated by |", i, clip(line), 6)
		}
		name, part, avail, state := f[0], f[1], f[2], f[3]
		isDefault := strings.HasSuffix(part, "*")
		part = strings.TrimSuffix(part, "*")
		if partition == "" && !isDefault || partition != "" && part != partition {
			continue
		}
		if name == "" || strings.ContainsAny(name, " \t[],") {
			return nil, false, fmt.Errorf("sinfo line %d: %q is not a node name", i, clip(name))
		}
		found = true
		up = up && avail == "up"
		total, err := gresCount(f[4], k)
		if err != nil {
			return nil, false, fmt.Errorf("sinfo line %d (node %s): %w", i, name, err)
		}
		used, err := gresCount(f[5], k)
		if err != nil {
			return nil, false, fmt.Errorf("sinfo line %d (node %s): %w", i, name, err)
		}
		if len(nodes) >= maxCapacityNodes {
			return nil, false, fmt.Errorf("sinfo: more than %d nodes", maxCapacityNodes)
		}
		nodes = append(nodes, capNode{name: name, takesJobs: stateTakesJobs(state), total: total, used: used})
	}
	if !found {
		if partition == "" {
			return nil, false, errors.New("sinfo lists no default partition")
		}
		return nil, false, fmt.Errorf("partition %s: not found in sinfo", partition)
	}
	return nodes, up, nil
}

// squeueCapacityFormat is what Capacity asks squeue for about this user's
// running jobs.
const squeueCapacityFormat = "JobID:|,NodeList:|,tres-per-node:|"

// parseSqueueCapacity reads squeue's lines (squeueCapacityFormat) and
// notes in t what the jobs that own says are this server's hold, on each
// of their nodes. Lines of other jobs are not parsed beyond their job id.
func parseSqueueCapacity(out string, own func(id string) bool, k gresKind, t *capTally) error {
	budget := maxCapacityNodes // node names of all own jobs together
	var f [3]string
	// A line at a time, each split in place (outputLines, fieldsInto).
	for i, line := range outputLines(out) {
		if i > maxListedLines {
			return fmt.Errorf("squeue: more than %d lines", maxListedLines)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		id, rest, _ := strings.Cut(line, "|")
		if !isJobID(id) || !own(id) || !t.firstListing(id) {
			continue
		}
		if len(line) > maxCapacityLine {
			return fmt.Errorf("squeue line %d (job %s): %d bytes, at most %d", i, id, len(line), maxCapacityLine)
		}
		if n := fieldsInto(rest, "|", f[:]); n != len(f) || f[2] != "" {
			return fmt.Errorf("squeue line %d (job %s): %q is not %d fields separated by |", i, id, clip(line), 3)
		}
		per, err := tresGresCount(f[1], k)
		if err != nil {
			return fmt.Errorf("squeue line %d (job %s): %w", i, id, err)
		}
		// Each name noted as it is made: a line of 64 KiB names a
		// million hosts.
		n, err := eachHostlist(f[0], budget, func(name string) { t.hold(name, per) })
		if err != nil {
			return fmt.Errorf("squeue line %d (job %s): %w", i, id, err)
		}
		budget -= n
	}
	return nil
}

// Capacity reports how many of the site's GRES its jobs can have now (see
// the comment at the top of this file), keyed backend.SiteAccelerator.
// It runs sinfo once and squeue once (this user's running jobs only).
func (s *Slurm) Capacity(ctx context.Context) (map[string]int, error) {
	k := kindOf(s.gres)
	args := []string{"-N", "-h", "-O", sinfoCapacityFormat}
	if s.partition != "" {
		args = append(args, "-p", s.partition)
	}
	out, err := s.runLimited(ctx, "sinfo", args...)
	if err != nil {
		return nil, fmt.Errorf("slurm capacity: %w", err)
	}
	nodes, up, err := parseSinfoCapacity(out, s.partition, k)
	if err != nil {
		return nil, fmt.Errorf("slurm capacity: %w", err)
	}
	out, err = s.runLimited(ctx, "squeue", "--me", "-h", "-t", "RUNNING,SUSPENDED", "-O", squeueCapacityFormat)
	if err != nil {
		return nil, fmt.Errorf("slurm capacity: %w", err)
	}
	// The state directory opened once for the poll (records.held): the
	// records list and each own job's record and retired copy read
	// through it, rather than an open each.
	rec, release := s.rec.held()
	defer release()
	own, err := newOwnJobs(rec)
	if err != nil {
		return nil, fmt.Errorf("slurm capacity: %w", err)
	}
	t := newCapTally()
	if err := parseSqueueCapacity(out, own.own, k, t); err != nil {
		return nil, fmt.Errorf("slurm capacity: %w", err)
	}
	return map[string]int{backend.SiteAccelerator: capacityOf(up, nodes, t)}, nil
}

// runLimited is run with the output bounded by maxCapacityOutput.
func (s *Slurm) runLimited(ctx context.Context, name string, args ...string) (string, error) {
	return s.runCapped(ctx, nil, maxCapacityOutput, name, args...)
}

// errOverCap stops the copy of a client's output once it is over its bound.
var errOverCap = errors.New("output over its bound")

// capped keeps at most max bytes and notes whether more came. Past max it
// fails the write, which closes the client's pipe (it gets SIGPIPE or
// EPIPE) rather than reading on until it ends or times out; keepGoing
// (for stderr, of which only the start is wanted) drops the rest instead.
type capped struct {
	b         bytes.Buffer
	max       int
	over      bool
	keepGoing bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); len(p) > room {
		c.over = true
		c.b.Write(p[:max(room, 0)])
		if c.keepGoing {
			return len(p), nil
		}
		return 0, errOverCap
	}
	return c.b.Write(p)
}

// Capacity reports how many of the site's GRES its jobs can have now (see
// the comment at the top of this file), keyed backend.SiteAccelerator. It
// asks slurmrestd for the partitions, the jobs and the nodes (three GETs;
// the lists are read one element at a time). Of the jobs it keeps what
// the own ones hold per node; of the nodes, which may be a gigabyte of
// them, nothing but the tally (capTally).
func (r *REST) Capacity(ctx context.Context) (map[string]int, error) {
	k := kindOf(r.gres)
	partition, up, err := r.capacityPartition(ctx)
	if err != nil {
		return nil, fmt.Errorf("slurm capacity: %w", err)
	}
	// As on the command path, the state directory opened once for the
	// poll, held across the listing of the jobs.
	rec, release := r.rec.held()
	defer release()
	own, err := newOwnJobs(rec)
	if err != nil {
		return nil, fmt.Errorf("slurm capacity: %w", err)
	}
	t := newCapTally()
	budget := maxCapacityNodes // node names of all own jobs together
	err = listOf(ctx, r.c, apiPath("jobs"), "jobs", func(j *restCapJob) error {
		if st := strings.ToUpper(string(j.State)); st != "RUNNING" && st != "SUSPENDED" {
			return nil
		}
		id := strconv.FormatInt(j.JobID, 10)
		if j.JobID <= 0 || !own.own(id) || !t.firstListing(id) {
			return nil
		}
		per, err := tresGresCount(j.TresPerNode, k)
		if err != nil {
			return fmt.Errorf("job %s: tres_per_node: %w", id, err)
		}
		hold := func(name string) { t.hold(name, per) }
		names := j.nodeNames()
		n := len(names)
		if n == 0 && j.Nodes != "" {
			// Each name held as it is made: a host list of 64 KiB
			// names a million hosts.
			if n, err = eachHostlist(j.Nodes, budget, hold); err != nil {
				return fmt.Errorf("job %s: nodes: %w", id, err)
			}
		}
		if budget -= n; budget < 0 {
			return fmt.Errorf("this server's running jobs are on more than %d nodes", maxCapacityNodes)
		}
		for _, name := range names {
			hold(name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("slurm capacity: jobs: %w", err)
	}
	count := 0
	err = listOf(ctx, r.c, apiPath("nodes"), "nodes", func(raw *restCapNodeJSON) error {
		n, ok, err := restCapNode(raw, partition, k)
		if err != nil || !ok {
			return err
		}
		if count++; count > maxCapacityNodes {
			return fmt.Errorf("more than %d nodes", maxCapacityNodes)
		}
		t.node(up, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("slurm capacity: nodes: %w", err)
	}
	return map[string]int{backend.SiteAccelerator: t.total()}, nil
}

// restCapJob is what Capacity reads of a job of slurmrestd's GET jobs.
type restCapJob struct {
	apiJob
	TresPerNode string `json:"tres_per_node"`
}

// restCapNodeJSON is what Capacity reads of a node of slurmrestd's GET
// nodes.
type restCapNodeJSON struct {
	Name       string          `json:"name"`
	State      string          `json:"state"`
	Flags      json.RawMessage `json:"state_flags"`
	Partitions json.RawMessage `json:"partitions"`
	Gres       string          `json:"gres"`
	GresUsed   string          `json:"gres_used"`
}

// restCapNode reads one node of slurmrestd's GET nodes, and whether it is
// in partition.
func restCapNode(n *restCapNodeJSON, partition string, k gresKind) (capNode, bool, error) {
	if in, err := jsonHas(n.Partitions, partition); err != nil || !in {
		return capNode{}, false, err
	}
	if n.Name == "" || len(n.Name) > maxNodeText {
		return capNode{}, false, fmt.Errorf("node name %q is not a node name", clip(n.Name))
	}
	total, err := gresCount(n.Gres, k)
	if err != nil {
		return capNode{}, false, fmt.Errorf("node %s: gres: %w", n.Name, err)
	}
	used, err := gresCount(n.GresUsed, k)
	if err != nil {
		return capNode{}, false, fmt.Errorf("node %s: gres_used: %w", n.Name, err)
	}
	blocked := false
	if err := eachJSONString(n.Flags, func(f []byte) { blocked = blocked || flagStopsJobs(string(f)) }); err != nil {
		return capNode{}, false, fmt.Errorf("node %s: state_flags: %w", n.Name, err)
	}
	return capNode{name: n.Name, takesJobs: !blocked && takesJobs(n.State, nil), total: total, used: used}, true, nil
}

// capacityPartition is the site's partition (the cluster's default one
// when the site sets none) and whether it is up.
func (r *REST) capacityPartition(ctx context.Context) (string, bool, error) {
	found := false
	var name, state string
	err := r.c.one(ctx, apiPath("partitions"), "partitions", func(raw json.RawMessage) error {
		var p struct {
			Name  string          `json:"name"`
			State string          `json:"state"`
			Flags json.RawMessage `json:"flags"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		def, err := jsonHas(p.Flags, "default")
		if err != nil {
			return fmt.Errorf("partition flags: %w", err)
		}
		if !found && (r.partition == p.Name || r.partition == "" && def) {
			found, name, state = true, p.Name, p.State
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("partitions: %w", err)
	}
	if found {
		return name, strings.EqualFold(state, "UP"), nil
	}
	if r.partition == "" {
		return "", false, errors.New("slurmrestd lists no default partition")
	}
	return "", false, fmt.Errorf("backend.partition: slurmrestd lists no partition %q", r.partition)
}
