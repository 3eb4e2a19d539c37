package policy

import (
	"strings"

	celast "github.com/google/cel-go/common/ast"

	"meridian.dev/meridian/catalog"
)

// A class is a set of candidates the rules cannot tell apart. Its key is a
// classKey holding only the details of a candidate that some condition,
// definition or message reads; dims says which those are. One mask type,
// one projection (with):
//
//	full key      every detail of the candidate (fullKey)
//	coarse key    what conditions and definitions read, with the
//	              acquisition date reduced to its band: rule outcomes (a
//	              verdict) are cached per coarse key (Engine.coarse)
//	decision key  the coarse key plus what the fired rules' messages show
//	              (verdict.need): decisions are cached per decision key
//
// TestCoarseClassKey proves that a decision found through these keys is the
// decision a fresh evaluation of the candidate alone gives.

// dims names details of a candidate that may be part of a class key.
type dims uint16

const (
	dimCountry    dims = 1 << iota // site.country and what follows from it: groups, eu, eea
	dimOperatorHQ                  // site.operatorHQ, and the owner of operator-owned pools
	dimAcc                         // the accelerator
	dimOwner                       // pool.owner
	dimAcquired                    // pool.acquired (exact, or its band)
	dimOperator                    // site.operator, and owner.name of operator-owned pools
	dimName                        // site.name
	dimCity                        // site.city
	dimAll        dims = 1<<iota - 1

	// dimBase is always in the coarse key: cheap to compare and read by
	// nearly every rule.
	dimBase = dimCountry | dimOperatorHQ | dimAcc | dimOwner
)

// classKey holds the details of a candidate in dims; the others are zero.
// Strings are numbered by the session (Session.fullKey), so that the
// caches keyed by class keys hash and compare a few integers.
type classKey struct {
	country, operatorHQ, acc, owner uint32
	// acquired is the pool's acquisition date in Unix seconds; band is
	// where it sorts among the engine's bounds (see Engine.band), set
	// instead of acquired when conditions only compare the date with
	// constants.
	acquired   int64
	band       int32
	operator   uint32
	name, city uint32
}

// siteIDs are a site's numbered details, kept per site by the session.
type siteIDs struct{ country, operatorHQ, operator, name, city uint32 }

// fullKey is every detail of a candidate its facts are built from, with
// the acquisition date's band ready for coarse; s.mu is held.
func (s *Session) fullKey(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) classKey {
	ids, ok := s.siteIDs[site]
	if !ok {
		ids = siteIDs{s.id(site.Spec.Country), s.id(site.Spec.Operator.Headquarters), s.id(site.Spec.Operator.Name),
			s.id(site.Metadata.Name), s.id(site.Spec.City)}
		s.siteIDs[site] = ids
	}
	k := classKey{country: ids.country, operatorHQ: ids.operatorHQ, acc: s.id(acc.ID), owner: s.id(pool.Owner),
		operator: ids.operator, name: ids.name, city: ids.city}
	if s.e.condDims&dimAcquired != 0 {
		k.acquired = pool.Acquired.Unix()
		if !s.e.acqExact && !s.e.tune.exactDates {
			k.band = int32(s.e.band(pool.Acquired))
		}
	}
	return k
}

// id numbers a string for class keys (0 is the empty string); s.mu is held.
func (s *Session) id(v string) uint32 {
	if v == "" {
		return 0
	}
	n, ok := s.ids[v]
	if !ok {
		n = uint32(len(s.ids) + 1)
		s.ids[v] = n
	}
	return n
}

// with returns k with the details in d copied from src.
func (k classKey) with(src classKey, d dims) classKey {
	if d&dimCountry != 0 {
		k.country = src.country
	}
	if d&dimOperatorHQ != 0 {
		k.operatorHQ = src.operatorHQ
	}
	if d&dimAcc != 0 {
		k.acc = src.acc
	}
	if d&dimOwner != 0 {
		k.owner = src.owner
	}
	if d&dimAcquired != 0 {
		k.acquired, k.band = src.acquired, src.band
	}
	if d&dimOperator != 0 {
		k.operator = src.operator
	}
	if d&dimName != 0 {
		k.name = src.name
	}
	if d&dimCity != 0 {
		k.city = src.city
	}
	return k
}

// coarse keeps of a full key what conditions and definitions read, with
// the acquisition date replaced by its band when they only compare it with
// constants: candidates with one coarse key meet every rule the same way.
func (e *Engine) coarse(k classKey) classKey {
	c := classKey{}.with(k, dimBase|e.condDims)
	if e.condDims&dimAcquired != 0 && !e.acqExact && !e.tune.exactDates {
		c.acquired = 0 // its band (set by fullKey) stays
	}
	return c
}

// band places a date among acqBounds: -1 when there is no date, else twice
// the number of bounds below it, plus one when it equals a bound. Every
// comparison (<, <=, >, >=, ==, !=) of the date with a bound has the same
// outcome for dates of one band.
func (e *Engine) band(d catalog.Date) int {
	if d.IsZero() {
		return -1
	}
	var buf [32]byte
	s := d.AppendFormat(buf[:0], catalog.DateLayout)
	lo, hi := 0, len(e.acqBounds) // first bound >= s
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e.acqBounds[m] < string(s) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	b := 2 * lo
	if lo < len(e.acqBounds) && e.acqBounds[lo] == string(s) {
		b++
	}
	return b
}

// dimsOf says which details of a candidate the facts an expression reads
// ("var.field" or "var.*") depend on; defs are the definitions compiled
// so far. Anything it does not know depends on every detail.
func dimsOf(reads map[string]bool, defs []*compiledDef) dims {
	var m dims
	for r := range reads {
		v, field, _ := strings.Cut(r, ".")
		switch v {
		case "asOf", "org", "job", "threshold":
		case "acc":
			m |= dimAcc
		case "site":
			switch field {
			case "country", "groups", "eu", "eea":
				m |= dimCountry
			case "operatorHQ", "operatorHQGroups":
				m |= dimOperatorHQ
			case "operator":
				m |= dimOperator
			case "name":
				m |= dimName
			case "city":
				m |= dimCity
			default:
				m |= dimCountry | dimOperatorHQ | dimOperator | dimName | dimCity
			}
		case "pool":
			switch field {
			case "owner", "ownerKind":
				m |= dimOwner
			case "acquired":
				m |= dimAcquired
			default:
				m |= dimOwner | dimAcquired
			}
		case "owner":
			// An operator-owned pool's owner is the operator: its name is
			// the operator's, its headquarters the operator's.
			m |= dimOwner | dimOperatorHQ
			if field == "name" || field == "*" {
				m |= dimOperator
			}
		case "def":
			found := false
			for _, d := range defs {
				if field == "*" || d.Name == field {
					m |= d.dims
					found = true
				}
			}
			if !found {
				m |= dimAll
			}
		default:
			m |= dimAll
		}
	}
	return m
}

// acquiredUse is how an expression reads pool.acquired: bounds are the
// string constants it compares it with; exact is true when it reads it in
// any other way (or reads pool as a whole), so only the exact date will do.
type acquiredUse struct {
	bounds []string
	exact  bool
}

// comparisons are the CEL operators whose result on a string and a
// constant depends only on where the string sorts relative to the constant.
var comparisons = map[string]bool{"_<_": true, "_<=_": true, "_>_": true, "_>=_": true, "_==_": true, "_!=_": true}

func isAcquired(x celast.Expr) bool {
	if x.Kind() != celast.SelectKind {
		return false
	}
	s := x.AsSelect()
	return s.Operand().Kind() == celast.IdentKind && s.Operand().AsIdent() == "pool" && s.FieldName() == "acquired"
}

// acquiredUses finds every read of pool.acquired in a checked expression.
func acquiredUses(root celast.Expr, reads map[string]bool) acquiredUse {
	var u acquiredUse
	all, compared := 0, 0
	celast.PostOrderVisit(root, celast.NewExprVisitor(func(x celast.Expr) {
		switch x.Kind() {
		case celast.SelectKind:
			if isAcquired(x) {
				all++
				if x.AsSelect().IsTestOnly() {
					u.exact = true // has(pool.acquired): presence is in the key anyway, but stay simple
				}
			}
		case celast.CallKind:
			call := x.AsCall()
			args := call.Args()
			if !comparisons[call.FunctionName()] || len(args) != 2 || call.IsMemberFunction() {
				return
			}
			for i, a := range args {
				other := args[1-i]
				if !isAcquired(a) || other.Kind() != celast.LiteralKind {
					continue
				}
				str, isStr := other.AsLiteral().Value().(string)
				if !isStr {
					continue
				}
				compared++
				u.bounds = append(u.bounds, str)
			}
		}
	}))
	if compared != all || reads["pool.*"] {
		u.exact = true
	}
	return u
}
