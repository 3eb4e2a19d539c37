package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// What happens to a rule once its condition has been evaluated: it did
// not hold, it could not be evaluated (fail closed), or it held, and then
// a licence or a basis may lift it, thresholds may put the case inside a
// band, or unconfirmed catalog facts may weaken a denial to advice.

type findings struct {
	deny, obl, adv []Finding
	// bases lists the dataset transfer bases that lifted a denial.
	bases []string
}

func (f *findings) add(eff Effect, x Finding) {
	switch eff {
	case Deny:
		f.deny = append(f.deny, x)
	case Obligation:
		f.obl = append(f.obl, x)
	default:
		f.adv = append(f.adv, x)
	}
}

func (f *findings) merge(o findings) {
	f.deny = append(f.deny, o.deny...)
	f.obl = append(f.obl, o.obl...)
	f.adv = append(f.adv, o.adv...)
	f.bases = append(f.bases, o.bases...)
}

// outcome is what a rule's condition gave.
type outcome struct {
	// fired: the condition held (under at least one reading of the
	// thresholds it reads); all: under every reading.
	fired, all bool
	// held and notHeld label the corners, for rules with thresholds.
	held, notHeld []string
	// failed is the finding of a condition that could not be evaluated.
	failed *Finding
}

// evalRule runs one rule in force and files its finding, if any.
func (s *Session) evalRule(c *compiled, act interpreter.Activation, f *findings) {
	if _, active := c.status(s.q.AsOf); !active {
		return
	}
	out := s.runRule(c, act, nil)
	switch {
	case out.fired:
		fr := s.judgeFiring(c, act, nil, out)
		if b, ok := strings.CutPrefix(fr.lift, "basis "); ok && !contains(f.bases, b) {
			f.bases = append(f.bases, b)
		}
		eff, fd := fr.finding(c, act)
		f.add(eff, fd)
	case out.failed != nil:
		f.add(out.failed.Effect, *out.failed)
	}
}

// runRule evaluates the condition of a rule in force, under every corner
// of the thresholds it reads.
func (s *Session) runRule(c *compiled, act interpreter.Activation, defErrs map[string]error) outcome {
	if len(c.corners) == 0 {
		held, err := s.holds(c, act)
		if err != nil {
			return outcome{failed: s.failure(c, err, defErrs)}
		}
		return outcome{fired: held, all: held}
	}
	var out outcome
	for _, k := range c.corners {
		held, err := s.holds(c, bandAct{act, k.values})
		if err != nil {
			return outcome{failed: s.failure(c, err, defErrs)}
		}
		if held {
			out.held = append(out.held, k.label)
		} else {
			out.notHeld = append(out.notHeld, k.label)
		}
	}
	out.fired, out.all = len(out.held) > 0, len(out.notHeld) == 0
	return out
}

func (s *Session) holds(c *compiled, act interpreter.Activation) (bool, error) {
	out, err := eval(s.ctx, c.prg, c.track, act)
	if err != nil {
		return false, err
	}
	if b, ok := out.Value().(bool); ok {
		return b, nil
	}
	return false, fmt.Errorf("condition gave %v, not true or false", out.Value())
}

// failure is the finding of a rule that could not be evaluated. Fail
// closed: a deny or obligation rule denies; an advisory rule cannot deny
// even when it holds, so its error stays an advisory.
func (s *Session) failure(c *compiled, err error, defErrs map[string]error) *Finding {
	reason := explain(err, c.reads)
	for _, d := range s.e.defs { // in load order, so messages are deterministic
		if derr, ok := defErrs[d.Name]; ok && c.reads["def."+d.Name] && strings.Contains(reason, "no such key: "+d.Name) {
			reason = fmt.Sprintf("%s (definition %s could not be computed: %v)", reason, d.Name, derr)
			break
		}
	}
	if s.q.Org == nil && strings.Contains(reason, "fact org.") {
		reason += " (no organisation was given, so nothing about the exporter is known)"
	}
	msg := fmt.Sprintf("%s: could not determine whether this rule applies: %s; a fact it needs is missing or invalid (source: %s)", c.ID, reason, c.Sources[0])
	eff := Deny
	if c.Effect == Advisory {
		eff = Advisory
	}
	return &Finding{Rule: c.ID, Kind: c.Kind, Effect: eff, Message: msg, Source: c.source, Confidence: c.Confidence, Code: CodeUndetermined,
		EffectiveFrom: c.from, EffectiveUntil: c.until}
}

// missingKey finds the first "no such key: NAME" in a CEL error and
// returns NAME, or "".
func missingKey(reason string) string {
	const prefix = "no such key: "
	for rest := reason; ; {
		i := strings.Index(rest, prefix)
		if i < 0 {
			return ""
		}
		rest = rest[i+len(prefix):]
		n := 0
		for n < len(rest) && isKeyByte(rest[n]) {
			n++
		}
		if n > 0 {
			return rest[:n]
		}
	}
}

func isKeyByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// explain turns CEL's "no such key: tpp" into the fact it means
// ("fact acc.tpp is not known"), using the facts the expression reads.
func explain(err error, reads map[string]bool) string {
	reason := err.Error()
	key := missingKey(reason)
	if key == "" {
		return reason
	}
	var names []string
	for rd := range reads {
		if strings.HasSuffix(rd, "."+key) {
			names = append(names, rd)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return reason
	}
	return fmt.Sprintf("fact %s is not known (%s)", strings.Join(names, " or "), reason)
}

// firing is what became of a rule whose condition held, short of its
// message: the effect it has and why.
type firing struct {
	eff     Effect
	lift    string   // what lifted the denial, if anything
	expired string   // the expiry of a licence that no longer lifts it
	weak    []string // unconfirmed facts the denial rests on
	// inside and beyond are set for rules that read thresholds: inside
	// when readings disagree (held and notHeld name them), beyond when
	// every reading applies the rule.
	inside, beyond bool
	held, notHeld  []string
}

// judgeFiring decides the effect of a rule whose condition held.
func (s *Session) judgeFiring(c *compiled, act interpreter.Activation, cc *candCtx, out outcome) firing {
	fr := firing{eff: c.effectiveEffect()}
	if c.LiftedBy != nil {
		if fr.lift = s.lift(c, act); fr.lift != "" {
			if fr.eff == Deny {
				fr.eff = Obligation
			}
			return fr
		}
		if fr.eff == Deny {
			fr.expired = s.expiredLicence(c.ID)
		}
	}
	if len(c.corners) > 0 {
		if !out.all {
			// The readings of the law disagree: advise, naming the band.
			fr.eff, fr.inside, fr.held, fr.notHeld = Advisory, true, out.held, out.notHeld
			return fr
		}
		fr.beyond = true
	}
	if fr.eff == Deny && cc != nil {
		if fr.weak = s.unconfirmedDeps(c, cc); len(fr.weak) > 0 {
			// The denial holds only because of unconfirmed catalog facts:
			// it advises, with the facts named, instead of denying.
			fr.eff = Advisory
		}
	}
	return fr
}

// finding writes the finding of a fired rule, its messages rendered from act.
func (fr firing) finding(c *compiled, act interpreter.Activation) (Effect, Finding) {
	text := c.msgTmpl.fill(act)
	src := c.Sources[0]
	fd := Finding{Rule: c.ID, Kind: c.Kind, Effect: fr.eff, Source: c.source, Confidence: c.Confidence,
		EffectiveFrom: c.from, EffectiveUntil: c.until}
	switch {
	case fr.lift != "":
		fd.Message = fmt.Sprintf("%s: %s; lifted by %s: %s (source: %s)", c.ID, text, fr.lift, c.oblTmpl.fill(act), src)
	case fr.inside:
		fd.Confidence = bandConfidence(c)
		fd.Message = fmt.Sprintf("%s: [inside the %s band: applies at %s, not at %s] %s; %s (source: %s)",
			c.ID, fd.Confidence, strings.Join(fr.held, "; "), strings.Join(fr.notHeld, "; "), text, bandText(c, true), src)
	case len(fr.weak) > 0:
		fd.Confidence = Unconfirmed
		fd.Message = fmt.Sprintf("%s: [relies on unconfirmed %s] %s (source: %s)", c.ID, strings.Join(fr.weak, ", "), text, src)
	case fr.expired != "":
		fd.Message = fmt.Sprintf("%s: %s; licence recorded for this rule expired on %s (source: %s)", c.ID, text, fr.expired, src)
	case c.Confidence != Confirmed:
		fd.Message = fmt.Sprintf("%s: [%s] %s (source: %s)", c.ID, c.Confidence, text, src)
	default:
		fd.Message = fmt.Sprintf("%s: %s (source: %s)", c.ID, text, src)
	}
	if lt := ledgerText(act); lt != "" {
		fd.Message = strings.TrimSuffix(fd.Message, fmt.Sprintf(" (source: %s)", src)) + "; " + lt + fmt.Sprintf(" (source: %s)", src)
	}
	if fr.beyond && fr.lift == "" {
		fd.Message = strings.TrimSuffix(fd.Message, fmt.Sprintf(" (source: %s)", src)) +
			fmt.Sprintf("; beyond every reading of the threshold: %s (source: %s)", bandText(c, false), src)
	}
	if fr.eff == Deny {
		fd.Code = CodeDenied
	}
	return fr.eff, fd
}

// liftedObligation is the message template shown when the rule is lifted.
func (r *Rule) liftedObligation() string {
	if r.LiftedBy == nil {
		return ""
	}
	if r.LiftedBy.Obligation == "" {
		return "the denial is lifted; comply with the conditions of the authorisation"
	}
	return r.LiftedBy.Obligation
}

// lift returns what lifts c ("licence (expires …)" or "basis X"), or "".
func (s *Session) lift(c *compiled, act interpreter.Activation) string {
	if c.LiftedBy.Licence && s.q.Org != nil {
		for _, l := range s.q.Org.Spec.Licenses {
			if l.Rule == c.ID && (l.Expires.IsZero() || !l.Expires.Before(s.q.AsOf)) {
				if l.Expires.IsZero() {
					return "licence recorded for " + c.ID
				}
				return fmt.Sprintf("licence recorded for %s (expires %s)", c.ID, l.Expires)
			}
		}
	}
	if len(c.LiftedBy.Bases) > 0 {
		v, found := act.ResolveName("dataset")
		if !found {
			return ""
		}
		ds, _ := v.(facts)
		bases, _ := ds["bases"].([]string)
		for _, want := range c.LiftedBy.Bases {
			for _, b := range bases {
				if b == want {
					return "basis " + b
				}
			}
		}
	}
	return ""
}

func (s *Session) expiredLicence(id string) string {
	if s.q.Org == nil {
		return ""
	}
	for _, l := range s.q.Org.Spec.Licenses {
		if l.Rule == id && !l.Expires.IsZero() && l.Expires.Before(s.q.AsOf) {
			return l.Expires.String()
		}
	}
	return ""
}

// candCtx is what a candidate's rules share beyond their activation.
type candCtx struct {
	vars        *candAct
	unconfirmed []string // acc fields whose catalog status is U
	// patterns and partialDefs are computed on first need.
	done        bool
	patterns    []*cel.AttributePatternType
	partialDefs facts
}

// unconfirmedDeps says which unconfirmed accelerator facts a denial
// depends on: it evaluates the rule again with those facts (and the
// definitions derived from them) unknown; if the outcome is then unknown
// (under any reading of its thresholds), the denial rests on them. It
// returns nil when the denial stands without them.
func (s *Session) unconfirmedDeps(c *compiled, cc *candCtx) []string {
	if len(cc.unconfirmed) == 0 {
		return nil
	}
	th := s.e.thresholdTexts()
	if !cc.done {
		cc.done = true
		for _, u := range cc.unconfirmed {
			cc.patterns = append(cc.patterns, cel.AttributePattern("acc").QualString(u))
		}
		cc.partialDefs = facts{}
		for _, d := range s.e.defs {
			out, err := eval(s.ctx, d.partial, d.track, s.partialActivation(cc, th))
			if err != nil {
				continue
			}
			if types.IsUnknown(out) {
				cc.patterns = append(cc.patterns, cel.AttributePattern("def").QualString(d.Name))
				continue
			}
			if nonFiniteDef(d.Name, out) != nil {
				continue // failed, as it does in full (out.Value() would copy a lazy list whole)
			}
			cc.partialDefs[d.Name] = out.Value()
		}
	}
	unknown := false
	cs := c.corners
	if len(cs) == 0 {
		cs = []corner{{values: th}}
	}
	for _, k := range cs {
		out, err := eval(s.ctx, c.partial, c.track, s.partialActivation(cc, k.values))
		if err == nil && types.IsUnknown(out) {
			unknown = true
			break
		}
	}
	if !unknown {
		return nil
	}
	// Name the unconfirmed facts the rule reads, directly or through the
	// definitions it reads.
	reads := map[string]bool{}
	for r := range c.reads {
		reads[r] = true
	}
	for i := len(s.e.defs) - 1; i >= 0; i-- {
		if d := s.e.defs[i]; reads["def."+d.Name] || reads["def.*"] {
			for r := range d.reads {
				reads[r] = true
			}
		}
	}
	var names []string
	for _, u := range cc.unconfirmed {
		if reads["acc."+u] || reads["acc.*"] {
			names = append(names, "acc."+u)
		}
	}
	if len(names) == 0 {
		names = []string{"accelerator facts"}
	}
	return names
}

func decide(f findings, tr []Transfer) Decision {
	return Decision{
		Allowed:     len(f.deny) == 0,
		Denials:     clip(f.deny),
		Obligations: clip(f.obl),
		Advisories:  clip(f.adv),
		Transfers:   clip(tr),
	}
}

func clip[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s[:len(s):len(s)]
}
