package catalog

import (
	"strings"
	"testing"
)

func TestBuiltinSites(t *testing.T) {
	w, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(testKeys); err != nil {
		t.Fatalf("built-in world does not validate:\n%v", err)
	}
	// A name defined in two built-in files would silently replace the first.
	if n, u := len(builtin.sites.Sites), len(w.Sites); n != u {
		t.Errorf("%d built-in site documents but %d distinct names", n, u)
	}
	if len(w.Sites) < 60 {
		t.Errorf("%d built-in sites, want at least 60", len(w.Sites))
	}
	countries := map[string]int{}
	for _, s := range w.Sites {
		countries[s.Spec.Country]++
	}
	if len(countries) < 30 {
		t.Errorf("built-in sites cover %d countries, want at least 30", len(countries))
	}
	for _, c := range []string{"US", "CA", "GB", "NO", "CH", "JP", "KR", "TW", "SG", "MY", "TH", "ID",
		"VN", "IN", "AE", "SA", "IL", "AU", "BR", "CN", "HK", "RU", "KZ"} {
		if countries[c] == 0 {
			t.Errorf("no built-in site in %s", c)
		}
	}
	eu := 0
	for c := range countries {
		if w.Countries[c].EU {
			eu++
		}
	}
	if eu < 5 {
		t.Errorf("built-in sites cover %d EU members, want at least 5", eu)
	}
	if s := w.Site("my-johor-1"); s == nil || s.Spec.Country != "MY" || s.Spec.Pools[0].Accelerator != "nvidia-h100-sxm" {
		t.Errorf("my-johor-1 missing or changed: %+v", s)
	}

	var ascend, cambricon, preBan bool
	for _, s := range w.Sites {
		t.Run(s.Metadata.Name, func(t *testing.T) {
			// Every number is sourced or labelled: the contract's example
			// site too, which plans rank like any other.
			if !strings.Contains(strings.ToLower(s.Spec.Source), "illustrative") {
				t.Errorf("source %q does not label the site's numbers as illustrative", s.Spec.Source)
			}
			if s.Spec.Network.Source == "" {
				t.Errorf("network: egressPerGB %g and gbps %g have no source", s.Spec.Network.EgressPerGB, s.Spec.Network.Gbps)
			}
			if s.Spec.City == "" || s.Spec.Operator.Name == "" {
				t.Errorf("city and operator are required for built-in sites")
			}
			// Built-in sites are for planning: a job shown at 2,048 GB200s
			// in Texas must never run as a process on this machine.
			if s.Runnable() {
				t.Errorf("backend %q: a built-in site has no backend (planning only)", s.Spec.Backend.Type)
			}
			// An allocation's price is notional, and the site says so.
			notional := false
			for _, p := range s.Spec.Pools {
				notional = notional || strings.Contains(p.PriceSource, "notional")
			}
			if notional != (s.AccessTerms() == AccessAllocation) {
				t.Errorf("access %s, but pool prices notional = %v", s.AccessTerms(), notional)
			}
			for i, p := range s.Spec.Pools {
				if p.PriceSource == "" {
					t.Errorf("pools[%d]: no priceSource", i)
				}
				if p.Acquired.IsZero() {
					t.Errorf("pools[%d]: no acquired date", i)
				}
				a := w.Accelerators[p.Accelerator]
				if a != nil && a.Year > 0 && p.Acquired.Year() < a.Year {
					t.Errorf("pools[%d]: %s acquired %s, before the chip's year %d", i, p.Accelerator, p.Acquired, a.Year)
				}
			}
		})
		if s.Spec.Country != "CN" {
			continue
		}
		for _, p := range s.Spec.Pools {
			switch p.Accelerator {
			case "huawei-ascend-910b", "huawei-ascend-910c":
				ascend = true
			case "cambricon-mlu370-x8", "cambricon-mlu590":
				cambricon = true
			case "nvidia-a800", "nvidia-h800":
				preBan = preBan || p.Acquired.Before(MustDate("2023-11-17"))
			case "nvidia-a100-40gb", "nvidia-a100-80gb":
				preBan = preBan || p.Acquired.Before(MustDate("2022-10-07"))
			}
		}
	}
	if !ascend || !cambricon || !preBan {
		t.Errorf("mainland China sites: ascend=%v cambricon=%v pre-ban Nvidia=%v, want all", ascend, cambricon, preBan)
	}
}

// Jobs added in several sets keep file order, and a name already in the
// world, or twice in one set, is refused naming both places, the first
// job staying the one Job finds.
func TestAddJobsDuplicates(t *testing.T) {
	w, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	job := func(name string, line int) *TrainingJob {
		j := &TrainingJob{Pos: Position{File: "jobs.yaml", Line: line}}
		j.Metadata.Name = name
		return j
	}
	a, b := job("a", 1), job("b", 2)
	if err := w.Add(&Set{Jobs: []*TrainingJob{a, b}}); err != nil {
		t.Fatal(err)
	}
	err = w.Add(&Set{Jobs: []*TrainingJob{job("c", 3), job("a", 4), job("c", 5)}})
	if err == nil || !strings.Contains(err.Error(), "jobs.yaml:4") || !strings.Contains(err.Error(), "jobs.yaml:5") {
		t.Fatalf("duplicates not refused at both lines: %v", err)
	}
	var names []string
	for _, j := range w.Jobs {
		names = append(names, j.Metadata.Name)
	}
	if got := strings.Join(names, ","); got != "a,b,c" {
		t.Errorf("jobs %s, want a,b,c", got)
	}
	if w.Job("a") != a || w.Job("c").Pos.Line != 3 {
		t.Errorf("Job(a) = %+v, Job(c) = %+v", w.Job("a"), w.Job("c"))
	}
}
