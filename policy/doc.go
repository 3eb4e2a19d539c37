// Package policy holds Meridian's law: dated, sourced rules written as data
// (YAML files whose conditions are CEL expressions), the built-in packs
// embedded from packs/, and an engine that says whether a placement is
// lawful on a given date, what it obliges and what to beware of.
//
// A Rule has a validity window (effectiveFrom, effectiveUntil), an
// enforcement history (in force, not enforced, suspended until a date,
// draft) and a confidence (confirmed, reported, unconfirmed). Only a
// confirmed rule that is in its window and enforced on the as-of date can
// deny; reported and unconfirmed rules are shown as advisories. A number
// the sources give only as differing readings is a Threshold: the rule
// denies beyond every reading and advises inside the band (bands.go).
//
// The files, by concern:
//
//	load.go      files → Problems or an Engine (New, Lint, ReadFiles)
//	rule.go      the rule file format; parse.go its checks (ParsePack)
//	compile.go   CEL compilation, the cost limit, what each expression reads
//	vocab.go     the facts and vocabulary words a pack may name
//	classkey.go  the class of a candidate: one key type, one mask type
//	session.go   Evaluate: class → verdict → decision, with caches
//	activation.go, facts.go  the variables a rule reads
//	firing.go    a rule's outcome: fired, failed, lifted, weakened
//	bands.go     thresholds evaluated under each reading
//	volumes.go   ledger.subjectsExported, subjectsGiven: exports and data given over a window (Exports)
//	transfer.go, delivery.go  datasets moving, weights delivered
//	template.go  messages; status.go  a rule's standing on a date
//
// Evaluation fails closed: an unknown country, an accelerator whose
// classification facts are missing, a rule that errors, goes over its cost
// limit or is stopped by its context, a fact a rule needs but the catalog
// lacks, or an undetermined restricted-party screening becomes a denial
// that names what could not be determined. Recorded licences (Organization
// spec.licenses) and dataset transfer bases lift named denials into
// obligations.
//
// Engine is built once (New, Builtin). A plan opens one Session per Query
// and calls Session.Evaluate per candidate; rule outcomes are cached per
// class of candidates the conditions cannot tell apart (classkey.go), and
// messages are filled in per candidate with what they show, so a Decision
// is the same as a fresh evaluation of that candidate alone
// (TestCoarseClassKey).
package policy
