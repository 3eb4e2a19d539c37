// Package planner turns a job and the world into a Plan: candidates →
// feasibility → estimate → rank, keeping every rejection with its reasons.
package planner

import (
	"errors"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// Options tune one planning call.
type Options struct {
	AsOf catalog.Date
	// ExcludeSites are never considered (a lost site during recovery).
	ExcludeSites []string
	// Rules is the law engine; nil means the built-in packs.
	Rules any
}

// DataMove is one dataset travelling to the chosen site.
type DataMove struct {
	Dataset string  `json:"dataset"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	Bytes   float64 `json:"bytes"`
	Basis   string  `json:"basis,omitempty"`
}

// Placement is one lawful, feasible way to run the job (SCHEMA.md plan -o json).
type Placement struct {
	Rank             int              `json:"rank"`
	Site             string           `json:"site"`
	Country          string           `json:"country"`
	Accelerator      string           `json:"accelerator"`
	Count            int              `json:"count"`
	Hours            float64          `json:"hours"`
	AcceleratorHours float64          `json:"acceleratorHours"`
	CostUSD          float64          `json:"costUSD"`
	ComputeCostUSD   float64          `json:"computeCostUSD"`
	DataCostUSD      float64          `json:"dataCostUSD"`
	DataMoves        []DataMove       `json:"dataMoves"`
	Obligations      []policy.Finding `json:"obligations"`
	Advisories       []policy.Finding `json:"advisories"`
}

// Rejection is one candidate that lost, with why.
type Rejection struct {
	Site        string           `json:"site"`
	Country     string           `json:"country"`
	Accelerator string           `json:"accelerator"`
	Kind        string           `json:"kind"`
	Reasons     []policy.Finding `json:"reasons"`
}

// Summary counts candidates and rejections by kind.
type Summary struct {
	Candidates     int            `json:"candidates"`
	Placements     int            `json:"placements"`
	RejectedByKind map[string]int `json:"rejectedByKind"`
}

// Plan is the planner's answer (SCHEMA.md plan -o json).
type Plan struct {
	Job        string      `json:"job"`
	AsOf       string      `json:"asOf"`
	Placements []Placement `json:"placements"`
	Rejected   []Rejection `json:"rejected"`
	Summary    Summary     `json:"summary"`
}

// ErrNotImplemented is returned until the planner lands.
var ErrNotImplemented = errors.New("planner: not implemented yet")

// Make plans job against the world.
func Make(w *catalog.World, job *catalog.TrainingJob, opts Options) (*Plan, error) {
	return nil, ErrNotImplemented
}
