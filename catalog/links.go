package catalog

import (
	"fmt"
	"sync"
)

// Link is the sustained throughput one bulk transfer gets from one
// country to another: From and To are ISO codes, or "*" for any other.
type Link struct {
	From   string  `yaml:"from" json:"from"`
	To     string  `yaml:"to" json:"to"`
	Gbps   float64 `yaml:"gbps" json:"gbps"`
	Status string  `yaml:"status" json:"status"`
	Source string  `yaml:"source" json:"source"`
}

// Links is the built-in table of cross-border links (data/links.yaml).
type Links struct {
	// CrossBorder applies to every border the table names no link for.
	CrossBorder Link   `yaml:"crossBorder" json:"crossBorder"`
	Links       []Link `yaml:"links" json:"links"`
}

var (
	linksOnce sync.Once
	links     *Links
	linksErr  error
)

// BuiltinLinks returns the embedded cross-border link table, checked.
func BuiltinLinks() (*Links, error) {
	linksOnce.Do(func() {
		var l Links
		if err := readEmbedded("data/links.yaml", &l); err != nil {
			linksErr = err
			return
		}
		if err := l.check(); err != nil {
			linksErr = fmt.Errorf("built-in links: %w", err)
			return
		}
		links = &l
	})
	return links, linksErr
}

func (l *Links) check() error {
	all := append([]Link{l.CrossBorder}, l.Links...)
	for i, k := range all {
		switch {
		case !(k.Gbps > 0) || k.Gbps > maxGbps:
			return fmt.Errorf("link %d: gbps %v: want more than 0, at most %d", i, k.Gbps, maxGbps)
		case k.Source == "":
			return fmt.Errorf("link %d: source is required", i)
		case k.Status != "assumption" && k.Status != "measured":
			return fmt.Errorf("link %d: status %q: want assumption or measured", i, k.Status)
		case i > 0 && (k.From == "" || k.To == "" || k.From == k.To):
			return fmt.Errorf("link %d: from %q to %q: want two places, or * for any other", i, k.From, k.To)
		}
	}
	return nil
}

// Between returns the link a transfer from country from to country to is
// limited by: the table's most specific entry (both countries named, then
// one), else the cross-border default (whose From and To are empty). ok is
// false within one country.
func (l *Links) Between(from, to string) (link Link, ok bool) {
	if from == to {
		return Link{}, false
	}
	best, score := l.CrossBorder, 0
	for _, k := range l.Links {
		s := 0
		switch k.From {
		case from:
			s += 2
		case "*":
		default:
			continue
		}
		switch k.To {
		case to:
			s += 2
		case "*":
		default:
			continue
		}
		if s > score {
			best, score = k, s
		}
	}
	return best, true
}
