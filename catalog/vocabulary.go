package catalog

// Meridian's legal vocabulary, defined once. Resource files may declare
// only these words (the loader refuses others, naming the field and the
// accepted words), and rule packs may test for only these words (the
// policy loader refuses a pack that names another, with file, rule and
// field). A test in package policy proves that every legal basis a Dataset
// may declare is counted by at least one built-in rule, and that every
// basis a rule counts can be declared.

// Term is one word of the vocabulary and what it means.
type Term struct {
	ID      string `json:"id"`
	Meaning string `json:"meaning"`
}

// LegalBases are the legal bases a Dataset may declare in
// spec.transferBases, each counted by at least one built-in rule.
var LegalBases = []Term{
	{"eu-scc", "EU standard contractual clauses (Decision (EU) 2021/914) signed with the recipient (GDPR Art. 46)"},
	{"eu-bcr", "binding corporate rules approved for the group (GDPR Art. 47)"},
	{"eu-art49-derogation", "a GDPR Art. 49 derogation (explicit consent, contract necessity, public interest, legal claims, vital interests, public register, compelling legitimate interests)"},
	{"eu-dpf", "the US recipient is certified under the EU-US Data Privacy Framework (Decision 2023/1795); counts only for transfers to the US"},
	{"consent", "the data subjects' consent to the transfer: explicit consent under GDPR Art. 49(1)(a), separate consent under PIPL Art. 39"},
	{"cn-security-assessment", "a CAC security assessment approved for this export (PIPL Art. 38(1); 2022 Measures; 2024 Provisions)"},
	{"cn-standard-contract", "a CAC standard contract filed for this export (PIPL Art. 38(3))"},
	{"cn-certification", "personal-information export certification by an accredited body (PIPL Art. 38(2); certification measures from 2026-01-01)"},
	{"cn-exemption", "an exemption of the 2024 Provisions applies (contract with the individual, cross-border HR, emergency), recorded by the exporter"},
	{"vn-tia", "Vietnam's cross-border transfer impact assessment dossier filed with the Ministry of Public Security (Decree 13/2023)"},
	{"in-permitted", "India: the exporter recorded that the destination is not notified under DPDP s.16 and that no Significant Data Fiduciary localisation or sector rule applies"},
}

// RetiredBases were once accepted in spec.transferBases but no rule counts
// them; declaring one is an error that says why.
var RetiredBases = map[string]string{
	"uk-idta":         "no built-in rule governs UK transfers (the UK adequacy list is not in Meridian's sources); write a house rule pack and keep the IDTA on file",
	"ru-notification": "no built-in rule counts a Roskomnadzor notification (Meridian's sources cover only Russia's localisation duty)",
}

// TransferBases lists the ids of LegalBases.
var TransferBases = termIDs(LegalBases)

// ModelLicences are the licence kinds a base model may be declared under
// (TrainingJob spec.model.base.license).
var ModelLicences = []Term{
	{"apache-2.0", "Apache License 2.0"},
	{"mit", "MIT License"},
	{"bsd-3-clause", "BSD 3-Clause License"},
	{"cc-by-4.0", "Creative Commons Attribution 4.0"},
	{"cc-by-nc-4.0", "Creative Commons Attribution-NonCommercial 4.0"},
	{"openrail", "an OpenRAIL-family responsible-AI licence with use restrictions"},
	{"llama-community", "a Meta Llama community licence"},
	{"gemma", "the Gemma terms of use"},
	{"qwen", "a Qwen (Tongyi Qianwen) licence other than Apache 2.0"},
	{"deepseek", "the DeepSeek model licence"},
	{"other-open", "another licence that publishes the weights"},
	{"proprietary", "weights licensed privately, not published"},
}

// ModelLicenceIDs lists the ids of ModelLicences.
var ModelLicenceIDs = termIDs(ModelLicences)

// OrgAttributes are facts an Organization may declare about itself in
// spec.attributes, read by rules as org.attributes.
var OrgAttributes = []Term{
	{"cn-ciio", "a critical information infrastructure operator in China (CSL Art. 37): any export of personal information or important data needs a security assessment"},
	{"government", "a government body, or a buyer acting for one"},
	{"state-funded", "funded by a state, as buyers of state-funded data-centre projects are"},
	{"regulated-sector", "a buyer in a regulated sector (finance, health, critical infrastructure) with its own sourcing rules"},
}

// OrgAttributeIDs lists the ids of OrgAttributes.
var OrgAttributeIDs = termIDs(OrgAttributes)

// ClassificationTerms says what each data classification means.
var ClassificationTerms = []Term{
	{ClassPublic, "published data"},
	{ClassDeidentified, "data that no longer identifies anyone (pseudonymised data is personal)"},
	{ClassPersonal, "personal data or personal information that identifies people"},
	{ClassSensitivePersonal, "sensitive personal data: health, financial, biometric, genomic, precise geolocation, minors"},
	{ClassImportant, "data the authorities have notified or published as important (China DSL/2024 Provisions)"},
}

// RestrictedPartyTerms says what each restricted-party status means. The
// first three may be declared by an Organization; the others come only
// from screening against the lists (see package screen), which overrides
// the declared status.
var RestrictedPartyTerms = []Term{
	{RestrictedNone, "on no restricted-party list"},
	{RestrictedEntityList, "on the US Entity List"},
	{RestrictedAffiliateOfListed, "at least 50 % owned by listed parties (Affiliates rule)"},
	{RestrictedListed, "on another US restricted-party list (SDN, DPL, MEU, ...): Meridian fails closed, as no built-in rule grades those lists"},
	{RestrictedUndetermined, "a possible list match awaits a person's confirmation or dismissal: Meridian fails closed"},
}

// Screening-only restricted-party statuses.
const (
	RestrictedListed       = "listed"
	RestrictedUndetermined = "undetermined"
)

// RestrictedPartyStatuses lists every restricted-party status a rule may
// test for (RestrictedPartyValues plus the screening-only statuses).
var RestrictedPartyStatuses = termIDs(RestrictedPartyTerms)

func termIDs(ts []Term) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
