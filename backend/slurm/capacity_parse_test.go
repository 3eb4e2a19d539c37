package slurm

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGresCount(t *testing.T) {
	h100, anyGPU := gresKind{"gpu", "h100"}, gresKind{name: "gpu"}
	tests := []struct {
		list    string
		k       gresKind
		want    int
		wantErr string
	}{
		{"gpu:h100:8", h100, 8, ""},
		{"gpu:h100:8(S:0-1)", h100, 8, ""},
		{"gpu:h100:3(IDX:0-1,4)", h100, 3, ""},
		{"gpu:h100:0(IDX:N/A)", h100, 0, ""},
		{"gpu:h100:4,gpu:a100:4", h100, 4, ""},
		{"gpu:h100:4(S:0),gpu:a100:4(S:1)", anyGPU, 8, ""},
		{"gpu:a100:4", h100, 0, ""},
		{"gpu:8", h100, 0, ""}, // untyped GPUs do not answer a request for gpu:h100
		{"gpu:8", anyGPU, 8, ""},
		{"gpu", anyGPU, 1, ""},
		{"gpu:h100", h100, 1, ""},
		{"shard:h100:64,gpu:h100:2", h100, 2, ""},
		{"(null)", h100, 0, ""},
		{"N/A", h100, 0, ""},
		{"", h100, 0, ""},
		{"gpu:h100:-3", h100, 0, "not a number"},
		{"gpu:h100:99999999999999999999", h100, 0, "not a number"},
		{"gpu:h100:70000", h100, 0, "over 65536"},
		{"gpu:h100:8K", h100, 0, "not a number"},
		{"gpu:h100:8(IDX:0", h100, 0, "unbalanced"},
		{"gpu:h100:8)", h100, 0, "unbalanced"},
		{strings.Repeat("gpu:h100:65536,", 20), h100, 0, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			got, err := gresCount(tt.list, tt.k)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("gresCount(%q) = %d, %v; want an error with %q", tt.list, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("gresCount(%q, %v) = %d, %v; want %d", tt.list, tt.k, got, err, tt.want)
			}
		})
	}
}

func TestTresGresCount(t *testing.T) {
	h100 := gresKind{"gpu", "h100"}
	tests := []struct {
		list string
		want int
	}{
		{"gres:gpu:h100:3", 3},              // Slurm 22.05
		{"gres/gpu:h100=3", 3},              // later versions
		{"gres/gpu=3", 0},                   // untyped: not the site's type
		{"cpu=4,gres/gpu:h100=2,mem=1G", 2}, // other TRES skipped
		{"gres:gpu:h100:1,gres:gpu:a100:5", 1},
		{"", 0},
		{"(null)", 0},
	}
	for _, tt := range tests {
		got, err := tresGresCount(tt.list, h100)
		if err != nil || got != tt.want {
			t.Errorf("tresGresCount(%q) = %d, %v; want %d", tt.list, got, err, tt.want)
		}
	}
	if _, err := tresGresCount("gres:gpu:h100:-1", h100); err == nil {
		t.Error("a negative count was accepted")
	}
}

func TestExpandHostlist(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"n1", []string{"n1"}, ""},
		{"n[1-3]", []string{"n1", "n2", "n3"}, ""},
		{"n[08-10],m", []string{"n08", "n09", "n10", "m"}, ""},
		{"r[1-2]n[1,3]", []string{"r1n1", "r1n3", "r2n1", "r2n3"}, ""},
		{"gpu-[1-2]x", []string{"gpu-1x", "gpu-2x"}, ""},
		{"", nil, ""},
		{"n[3-1]", nil, "backwards"},
		{"n[1-", nil, "unbalanced"},
		{"n]", nil, "unbalanced"},
		{"n[a-b]", nil, "not n or n-m"},
		{"n[]", nil, "not n or n-m"},
		{"n[-1]", nil, "not n or n-m"},
		{"n[0-999999999]", nil, "more than"},
		{"a[0-9999]b[0-9999]", nil, "more than"},
		// A host name is at most maxNodeText bytes: a long prefix before
		// a range made as many long names as the range asked for.
		{strings.Repeat("a", 254) + "[1-999]", nil, "host name of 257 bytes"},
		{strings.Repeat("a", 1000) + "[1-1000]", nil, "host name of"},
		{"r[1-2]" + strings.Repeat("a", 300) + "[1-2]", nil, "host name of"},
		{strings.Repeat("a", 300), nil, "host name of"},
	}
	for _, tt := range tests {
		t.Run(clip(tt.in), func(t *testing.T) {
			got, err := expandHostlist(tt.in, maxCapacityNodes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("expandHostlist(%q) = %d names, %v; want an error with %q", clip(tt.in), len(got), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("expandHostlist(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	// At the bound: names of maxNodeText bytes.
	if got, err := expandHostlist(strings.Repeat("a", 253)+"[1-999]", maxCapacityNodes); err != nil || len(got) != 999 || len(got[998]) != maxNodeText {
		t.Errorf("names of %d bytes: %d names, %v; want 999", maxNodeText, len(got), err)
	}
}

func TestTakesJobs(t *testing.T) {
	tests := []struct {
		state string
		want  bool
	}{
		{"idle", true}, {"mixed", true}, {"allocated", true},
		{"mixed+completing", true}, {"idle+planned", true}, {"idle+reserved", true},
		{"idle+drain", false}, {"mixed+drain", false}, {"allocated+drain", false},
		{"down", false}, {"down+not_responding", false}, {"idle+not_responding", false},
		{"idle+maint", false}, {"idle+cloud+powered_down", false}, {"idle+fail", false},
		{"future", false}, {"unknown", false}, {"", false},
	}
	for _, tt := range tests {
		w := strings.Split(tt.state, "+")
		if got := takesJobs(w[0], w[1:]); got != tt.want {
			t.Errorf("takesJobs(%q) = %v", tt.state, got)
		}
	}
	// slurmrestd v0.0.38: a lower-case base state and upper-case flags.
	if takesJobs("mixed", []string{"DRAIN"}) || !takesJobs("idle", nil) {
		t.Error("slurmrestd's states misread")
	}
}

func TestCapacityFromOutput(t *testing.T) {
	h100 := gresKind{"gpu", "h100"}
	sinfo := strings.Join([]string{
		"n1|gpu|up|idle|gpu:h100:8|gpu:h100:0(IDX:N/A)|",
		"n2|gpu|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|",       // 3 free; 2 of the 5 are ours
		"n3|gpu|up|idle+drain|gpu:h100:8|gpu:h100:0(IDX:N/A)|",  // takes no jobs
		"n4|gpu|up|mixed+drain|gpu:h100:8|gpu:h100:4(IDX:0-3)|", // draining: our 4 still count
		"n5|other*|up|idle|gpu:h100:8|gpu:h100:0(IDX:N/A)|",     // another partition
		"n6|gpu|up|down+not_responding|gpu:h100:8|gpu:h100:0(IDX:N/A)|",
		"n2|gpu|up|idle|gpu:h100:8|gpu:h100:0(IDX:N/A)|", // n2 again: counted once, its fewer free
		"",
	}, "\n")
	nodes, up, err := parseSinfoCapacity(sinfo, "gpu", h100)
	if err != nil || !up || len(nodes) != 6 {
		t.Fatalf("parseSinfoCapacity: %d nodes, up %v, %v", len(nodes), up, err)
	}
	squeue := strings.Join([]string{
		"11|n2|gres:gpu:h100:2|",
		"12|n4|gres:gpu:h100:4|",
		"13|n[1-2]|gres:gpu:h100:1|", // not ours
		"14|n5|gres:gpu:h100:8|",     // ours, but not on the partition
		"11|n2|gres:gpu:h100:2|",     // 11 again: holds nothing more
		"bad|line",                   // not a job id: skipped
		"",
	}, "\n")
	own := map[string]bool{"11": true, "12": true, "14": true}
	holds := func() *capTally {
		t.Helper()
		ct := newCapTally()
		if err := parseSqueueCapacity(squeue, func(id string) bool { return own[id] }, h100, ct); err != nil {
			t.Fatal(err)
		}
		return ct
	}
	// n1: 8 free; n2: 3 free + 2 ours; n4: 4 ours.
	if got := capacityOf(up, nodes, holds()); got != 8+3+2+4 {
		t.Fatalf("capacity %d, want 17", got)
	}
	if got := capacityOf(false, nodes, holds()); got != 2+4 {
		t.Fatalf("capacity of a partition that is down: %d, want our 6", got)
	}
	// The default partition, when the site names none.
	nodes, _, err = parseSinfoCapacity(sinfo, "", h100)
	if err != nil || len(nodes) != 1 || nodes[0].name != "n5" {
		t.Fatalf("default partition: %+v, %v", nodes, err)
	}
	for _, bad := range []string{
		"n1|gpu|up|idle|gpu:h100:8|",                           // a field missing
		"n1|gpu|up|idle|gpu:h100:8|gpu:h100:0|extra|",          // one too many
		"n1|gpu|up|idle|gpu:h100:-8|gpu:h100:0(IDX:N/A)|",      // negative
		"n[1-2]|gpu|up|idle|gpu:h100:8|gpu:h100:0(IDX:N/A)|",   // not one node
		"n1|gpu|up|idle|gpu:h100:1000000|gpu:h100:0(IDX:N/A)|", // huge
	} {
		if _, _, err := parseSinfoCapacity(bad, "gpu", h100); err == nil {
			t.Errorf("sinfo line %q accepted", bad)
		}
	}
	if _, _, err := parseSinfoCapacity(sinfo, "nope", h100); err == nil || !strings.Contains(err.Error(), "partition nope: not found") {
		t.Errorf("unknown partition: %v", err)
	}
	if err := parseSqueueCapacity("11|n[1-|gres:gpu:h100:2|", func(string) bool { return true }, h100, newCapTally()); err == nil {
		t.Error("a broken host list of our job was accepted")
	}
}

// FuzzCapacityOutput feeds hostile sinfo and squeue output to the parsers:
// they must not panic, and what they accept must stay within bounds.
func FuzzCapacityOutput(f *testing.F) {
	f.Add("n1|gpu|up|mixed|gpu:h100:8(S:0-1)|gpu:h100:3(IDX:0-1,4)|\n", "7|n[1-2]|gres:gpu:h100:3|\n")
	f.Add("n1|gpu*|down|idle+drain|gpu:8,gpu:h100:4|N/A|\n", "7|n1|gres/gpu:h100=2,cpu=3|\n")
	f.Add("n1|gpu|up|idle|gpu:h100:99999999999|(null)|\n", "7|r[1-2]n[01-99]|gres:gpu:h100:65536|\n")
	f.Fuzz(func(t *testing.T, sinfo, squeue string) {
		k := gresKind{"gpu", "h100"}
		nodes, up, err := parseSinfoCapacity(sinfo, "gpu", k)
		if err == nil {
			for _, n := range nodes {
				if n.total < 0 || n.used < 0 || n.total > maxGresPerNode || n.used > maxGresPerNode || n.name == "" {
					t.Fatalf("node %+v out of bounds", n)
				}
			}
		}
		ct := newCapTally()
		if err := parseSqueueCapacity(squeue, func(string) bool { return true }, k, ct); err == nil {
			for _, e := range ct.holds {
				if e.n == 0 {
					t.Fatalf("a hold of %d out of bounds", e.n)
				}
			}
		}
		if n := capacityOf(up, nodes, ct); n < 0 {
			t.Fatalf("capacity %d", n)
		}
		gresCount(sinfo, gresKind{name: "gpu"}) //nolint:errcheck // must not panic
		expandHostlist(squeue, 1<<12)           //nolint:errcheck // must not panic
	})
}

// FuzzRESTCapNode feeds hostile nodes of slurmrestd's GET nodes to the
// capacity reader: no panic, and what it accepts is within bounds.
func FuzzRESTCapNode(f *testing.F) {
	f.Add([]byte(`{"name":"n1","state":"mixed","state_flags":["DRAIN"],"partitions":["gpu"],"gres":"gpu:h100:8(S:0-1)","gres_used":"gpu:h100:3(IDX:0-2)"}`))
	f.Add([]byte(`{"name":"","partitions":["gpu"],"gres":"gpu:h100:-1","gres_used":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw restCapNodeJSON
		if json.Unmarshal(data, &raw) != nil {
			return
		}
		n, ok, err := restCapNode(&raw, "gpu", gresKind{"gpu", "h100"})
		if err != nil || !ok {
			return
		}
		if n.name == "" || n.total < 0 || n.used < 0 || n.total > maxGresPerNode || n.used > maxGresPerNode {
			t.Fatalf("node %+v out of bounds", n)
		}
	})
}
