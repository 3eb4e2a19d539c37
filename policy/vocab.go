package policy

import (
	"fmt"
	"sort"
	"strings"

	celast "github.com/google/cel-go/common/ast"

	"meridian.dev/meridian/catalog"
)

// factFields are the fields each variable has (facts.go builds them). A
// condition or message that names another field is refused at load: a
// typo must not read as a fact that is always missing.
var factFields = map[string][]string{
	"org": {"name", "hq", "parentHQ", "hqGroups", "parentGroups", "restricted", "restrictedSource",
		"usPerson", "licences", "attributes", "affiliates"},
	"job": {"name", "flops", "markets", "marketsEU", "openWeights", "stateFunded", "method",
		"hasBase", "baseName", "baseOrigin", "baseLicense", "baseOpenWeights", "baseTrainingFLOPs", "weightsDelivery"},
	"site":  {"name", "city", "country", "groups", "eu", "eea", "operator", "operatorHQ", "operatorHQGroups"},
	"pool":  {"owner", "ownerKind", "acquired"},
	"owner": {"kind", "name", "hq", "parentHQ", "hqGroups", "parentGroups", "restricted", "restrictedSource", "usPerson", "licences", "attributes", "affiliates"},
	"acc": {"id", "vendor", "origin", "dataCenter", "tpp", "pd", "dieAreaMM2", "scaleUpGBs", "memoryBandwidthGBs",
		"bf16TFLOPS", "fp8TFLOPS", "memoryGB"},
	"dataset": {"name", "origin", "originEEA", "location", "class", "personal", "subjects",
		"originSubjects", "originSensitiveSubjects", "originDeidentifiedSubjects", "bases"},
	"transfer": {"from", "to", "toEEA", "toEU", "toGroups", "toAdequacy"},
	"delivery": {"to", "toEEA", "toEU", "toGroups", "toAdequacy"},
}

// vocabularyOf returns the words a fact may hold, or nil when it is not
// a vocabulary fact. Each list is defined once, in package catalog.
func vocabularyOf(fact string) []string {
	switch fact {
	case "dataset.bases":
		return catalog.TransferBases
	case "dataset.class":
		return catalog.Classifications
	case "org.restricted", "owner.restricted":
		return catalog.RestrictedPartyStatuses
	case "org.attributes", "owner.attributes":
		return catalog.OrgAttributeIDs
	case "job.baseLicense":
		return catalog.ModelLicenceIDs
	case "job.method":
		return catalog.Methods
	case "pool.ownerKind":
		return []string{"operator", "self", "organization"}
	}
	return nil
}

func retiredNote(word string) string {
	if why, ok := catalog.RetiredBases[word]; ok {
		return " (retired: " + why + ")"
	}
	return ""
}

// selectOf returns "var.field" when x selects a field of a variable.
func selectOf(x celast.Expr) string {
	if x.Kind() != celast.SelectKind {
		return ""
	}
	s := x.AsSelect()
	if s.Operand().Kind() != celast.IdentKind {
		return ""
	}
	return s.Operand().AsIdent() + "." + s.FieldName()
}

func stringLit(x celast.Expr) (string, bool) {
	if x.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := x.AsLiteral().Value().(string)
	return s, ok
}

// vocabularyProblems finds words compared with a vocabulary fact that
// are not in its vocabulary, in the forms fact == 'w', fact != 'w',
// 'w' in fact and fact in ['w', ...], and in the class argument of the
// ledger functions.
func vocabularyProblems(root celast.Expr) []string {
	var out []string
	check := func(fact, word string) {
		if vocab := vocabularyOf(fact); vocab != nil && !contains(vocab, word) {
			out = append(out, fmt.Sprintf("%s is compared with %q, which is not in its vocabulary%s (accepted: %s)",
				fact, word, retiredNote(word), strings.Join(vocab, ", ")))
		}
	}
	celast.PostOrderVisit(root, celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() != celast.CallKind {
			return
		}
		call := x.AsCall()
		args := call.Args()
		switch fn := call.FunctionName(); {
		case fn == "_==_" || fn == "_!=_":
			for i := range args {
				if w, ok := stringLit(args[1-i]); ok {
					check(selectOf(args[i]), w)
				}
			}
		case fn == "@in" && len(args) == 2:
			if w, ok := stringLit(args[0]); ok {
				check(selectOf(args[1]), w)
			}
			if f := selectOf(args[0]); f != "" && args[1].Kind() == celast.ListKind {
				for _, el := range args[1].AsList().Elements() {
					if w, ok := stringLit(el); ok {
						check(f, w)
					}
				}
			}
		case call.IsMemberFunction() && isLedgerCount(fn) && len(args) == 3:
			if w, ok := stringLit(args[2]); ok {
				check("dataset.class", w)
			}
		}
	}))
	sort.Strings(out)
	return out
}

// AcceptedBases maps each legal basis that some loaded rule counts to
// the ids of those rules: a basis in a rule's liftedBy.bases, or one its
// condition tests dataset.bases for.
func (e *Engine) AcceptedBases() map[string][]string {
	out := map[string][]string{}
	add := func(b, id string) {
		if !contains(out[b], id) {
			out[b] = append(out[b], id)
		}
	}
	env, err := newEnv()
	if err != nil {
		return out
	}
	for _, c := range e.rules {
		if c.LiftedBy != nil {
			for _, b := range c.LiftedBy.Bases {
				add(b, c.ID)
			}
		}
		checked, iss := env.Compile(c.Condition)
		if iss != nil && iss.Err() != nil {
			continue
		}
		celast.PostOrderVisit(checked.NativeRep().Expr(), celast.NewExprVisitor(func(x celast.Expr) {
			if x.Kind() != celast.CallKind || x.AsCall().FunctionName() != "@in" {
				return
			}
			args := x.AsCall().Args()
			if w, ok := stringLit(args[0]); ok && selectOf(args[1]) == "dataset.bases" {
				add(w, c.ID)
			}
		}))
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}
