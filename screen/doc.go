// Package screen checks organisations against the US Consolidated
// Screening List (CSL), the merged restricted-party lists of Commerce
// (Entity List EL, Denied Persons DPL, Unverified UVL, Military End User
// MEU), State (DTC, ISN) and Treasury (SDN, SSI, FSE, CAP, CMIC, MBS, PLC),
// in the CSV or JSON bulk file the International Trade Administration
// publishes and a user downloads.
//
//	Parse (csv.go, json.go) → []Entry → Store.Import (list.json, atomic)
//	Organization → Screen: names, aliases and addresses, normalised
//	(normalize.go), compared exactly and by Jaro–Winkler (match.go)
//	→ Result: status and the entry behind it, for policy.Query.Screening
//
// A match is not a determination. An exact match of a name or alias
// together with a country sets the organisation's restricted-party status
// (entity-list for the Entity List, listed for the other lists), with the
// list entry as its source. Any weaker match, an exact name in another
// country, a name equal only once its spaced letters are joined, or an
// entry without a country, makes the status undetermined:
// Meridian fails closed until a person confirms or dismisses the match
// (Store.Decide), and that decision is recorded with who, when and why.
package screen
