// Package policy holds Meridian's law: dated, sourced rules written as data
// (YAML files whose conditions are CEL expressions), the built-in packs
// embedded from packs/, and an engine that says whether a placement is
// lawful on a given date, what it obliges and what to beware of.
//
// A Rule has a validity window (effectiveFrom, effectiveUntil), an
// enforcement history (in force, not enforced, suspended until a date,
// draft) and a confidence (confirmed, reported, unconfirmed). Only a
// confirmed rule that is in its window and enforced on the as-of date can
// deny; reported and unconfirmed rules are shown as advisories.
//
// Evaluation fails closed: an unknown country, an accelerator whose
// classification facts are missing, a rule that errors or a fact a rule
// needs but the catalog lacks becomes a denial that names what could not be
// determined. Recorded licences (Organization spec.licenses) and dataset
// transfer bases lift named denials into obligations.
//
// Engine is built once (Builtin or New). A plan opens one Session per
// Query and calls Session.Evaluate per candidate; rule outcomes are cached
// per class of candidates the conditions cannot tell apart: same country,
// accelerator and pool owner; the acquisition date only as the interval
// between the dates conditions compare it with (when they only compare
// it with constants); the operator's headquarters only as the values of
// the definitions that read it (when no condition reads it directly); the
// operator's name, site name and city only when a condition reads them.
// Messages are then filled in per candidate with what they show, so a
// Decision is the same as a fresh evaluation of that candidate alone.
// Definitions are cached by the part of the class they read (most by the
// accelerator or the country alone). Thousands of candidates cost a
// handful of evaluations.
package policy
