// Package engines compares CEL and Rego on Meridian's policy workload: the
// same eight rules (chip classification, destination, HQ, acquisition
// history, GP10, affiliates, GDPR transfer, AI Act threshold) evaluated over
// 10,000 candidates. It is a separate module so that OPA never enters the
// main module's dependency graph.
package engines

import "fmt"

// CELRules are the rule conditions in CEL, keyed by rule id.
var CELRules = map[string]string{
	"dest-d5":    `d5 && eccn == '3A090.a' && pool.acquired >= '2023-11-17'`,
	"aci-2022":   `site.country in ['CN', 'HK'] && acc.tpp >= 4800.0 && acc.io >= 600.0 && pool.acquired >= '2022-10-07' && pool.acquired < '2023-11-17'`,
	"hq":         `('D:5' in owner.groups || owner.hq in ['HK', 'MO']) && eccn == '3A090.a' && pool.acquired >= '2023-11-17'`,
	"gp10":       `acc.id in ['huawei-ascend-910b', 'huawei-ascend-910c'] && org.usPerson`,
	"affiliates": `org.restricted == 'affiliate-of-listed' && acc.origin == 'US' && asOf >= '2025-09-29' && !(asOf >= '2025-11-10' && asOf < '2026-11-10')`,
	"gdpr":       `dataset.personal && dataset.originEEA && !site.eea && !site.adequacy.exists(s, s != 'dpf-certified') && !('eu-scc' in dataset.bases)`,
	"ai-act":     `job.marketsEU && job.flops > 1e25`,
	"red-flag":   `('D:5' in org.groups) && pool.ownerKind == 'operator' && eccn in ['3A090.a', '3A090.b']`,
}

// CELEccn is the classification, computed once per candidate and passed to rules as eccn; d5 likewise.
const CELEccn = `(acc.tpp >= 4800.0 || (acc.tpp >= 1600.0 && acc.pd >= 5.92)) ? '3A090.a' : (((acc.tpp >= 2400.0 && acc.tpp < 4800.0 && acc.pd >= 1.6 && acc.pd < 5.92) || (acc.tpp >= 1600.0 && acc.pd >= 3.2 && acc.pd < 5.92)) ? '3A090.b' : 'not-controlled')`

// CELD5 says whether the site is in D:5 or Macau (Hong Kong as China).
const CELD5 = `'D:5' in site.groups || site.country in ['CN', 'HK', 'MO']`

// RegoModule is the same rule set in Rego.
const RegoModule = `package meridian

import rego.v1

eccn := "3A090.a" if {
	input.acc.tpp >= 4800
} else := "3A090.a" if {
	input.acc.tpp >= 1600
	input.acc.pd >= 5.92
} else := "3A090.b" if {
	input.acc.tpp >= 2400
	input.acc.tpp < 4800
	input.acc.pd >= 1.6
	input.acc.pd < 5.92
} else := "3A090.b" if {
	input.acc.tpp >= 1600
	input.acc.pd >= 3.2
	input.acc.pd < 5.92
} else := "not-controlled"

d5 if "D:5" in input.site.groups

d5 if input.site.country in {"CN", "HK", "MO"}

deny contains "dest-d5" if {
	d5
	eccn == "3A090.a"
	input.pool.acquired >= "2023-11-17"
}

deny contains "aci-2022" if {
	input.site.country in {"CN", "HK"}
	input.acc.tpp >= 4800
	input.acc.io >= 600
	input.pool.acquired >= "2022-10-07"
	input.pool.acquired < "2023-11-17"
}

owner_d5 if "D:5" in input.owner.groups

owner_d5 if input.owner.hq in {"HK", "MO"}

deny contains "hq" if {
	owner_d5
	eccn == "3A090.a"
	input.pool.acquired >= "2023-11-17"
}

deny contains "gp10" if {
	input.acc.id in {"huawei-ascend-910b", "huawei-ascend-910c"}
	input.org.usPerson
}

suspended if {
	input.asOf >= "2025-11-10"
	input.asOf < "2026-11-10"
}

deny contains "affiliates" if {
	input.org.restricted == "affiliate-of-listed"
	input.acc.origin == "US"
	input.asOf >= "2025-09-29"
	not suspended
}

adequate if {
	some s in input.site.adequacy
	s != "dpf-certified"
}

deny contains "gdpr" if {
	input.dataset.personal
	input.dataset.originEEA
	not input.site.eea
	not adequate
	not "eu-scc" in input.dataset.bases
}

deny contains "ai-act" if {
	input.job.marketsEU
	input.job.flops > 1e25
}

deny contains "red-flag" if {
	"D:5" in input.org.groups
	input.pool.ownerKind == "operator"
	eccn in {"3A090.a", "3A090.b"}
}
`

// Candidates builds n candidate inputs cycling through a few sites, chips,
// owners and dates, as JSON-like maps both engines read.
func Candidates(n int) []map[string]any {
	type country struct {
		iso      string
		groups   []any
		eea      bool
		adequacy []any
	}
	countries := []country{
		{"CN", []any{"D:1", "D:3", "D:4", "D:5"}, false, []any{}},
		{"MY", []any{"D:1"}, false, []any{}},
		{"SG", []any{}, false, []any{}},
		{"DE", []any{}, true, []any{}},
		{"US", []any{}, false, []any{"dpf-certified"}},
		{"JP", []any{}, false, []any{"full"}},
	}
	accs := []map[string]any{
		{"id": "nvidia-h100-sxm", "tpp": 15832.0, "pd": 19.45, "io": 900.0, "origin": "US"},
		{"id": "nvidia-h800", "tpp": 15831.0, "pd": 19.4, "io": 400.0, "origin": "US"},
		{"id": "nvidia-h20", "tpp": 2368.0, "pd": 2.9, "io": 900.0, "origin": "US"},
		{"id": "huawei-ascend-910b", "tpp": 5120.0, "pd": 7.7, "io": 392.0, "origin": "CN"},
	}
	dates := []string{"2022-01-10", "2023-06-01", "2024-03-01", "2025-02-01"}
	out := make([]map[string]any, n)
	for i := range out {
		c := countries[i%len(countries)]
		acc := accs[(i/len(countries))%len(accs)]
		ownerKind, ownerHQ, ownerGroups := "operator", "SG", []any{}
		if i%7 == 0 {
			ownerKind, ownerHQ, ownerGroups = "self", "CN", []any{"D:1", "D:3", "D:4", "D:5"}
		}
		out[i] = map[string]any{
			"asOf":    "2025-10-15",
			"site":    map[string]any{"name": fmt.Sprintf("site-%d", i), "country": c.iso, "groups": c.groups, "eea": c.eea, "adequacy": c.adequacy},
			"acc":     acc,
			"pool":    map[string]any{"acquired": dates[(i/3)%len(dates)], "ownerKind": ownerKind},
			"owner":   map[string]any{"hq": ownerHQ, "groups": ownerGroups},
			"org":     map[string]any{"usPerson": i%2 == 0, "restricted": []string{"none", "affiliate-of-listed"}[i%2], "groups": []any{"D:1", "D:3", "D:4", "D:5"}},
			"dataset": map[string]any{"personal": true, "originEEA": true, "bases": []any{}},
			"job":     map[string]any{"marketsEU": true, "flops": 3e25},
		}
	}
	return out
}
