package catalog

import (
	"strings"
	"testing"
)

// TestVocabularyFields: the fields that take vocabulary words accept
// exactly the vocabulary, and a refused word is named with its field and
// the accepted words (a retired basis also says why).
func TestVocabularyFields(t *testing.T) {
	cases := []struct {
		name, from, to string
		want           []string // empty: accepted
	}{
		{"declared basis", "classification: public", "classification: personal\n  subjects: 10\n  transferBases: [eu-dpf, consent, cn-exemption]", nil},
		{"unknown basis", "classification: public", "classification: public\n  transferBases: [eu-art49]", []string{"spec.transferBases[0]", `"eu-art49" is not accepted`, "eu-art49-derogation"}},
		{"retired basis", "classification: public", "classification: public\n  transferBases: [uk-idta]", []string{"spec.transferBases[0]", `"uk-idta" is no longer accepted`, "no built-in rule governs UK transfers"}},
		{"organisation attributes", "headquarters: CN", "headquarters: CN\n  attributes: [cn-ciio, government]\n  affiliates: [lab-hk]", nil},
		{"unknown attribute", "headquarters: CN", "headquarters: CN\n  attributes: [ciio]", []string{"spec.attributes[0]", `"ciio" is not accepted`, "cn-ciio"}},
		{"own affiliate", "headquarters: CN", "headquarters: CN\n  affiliates: [lab]", []string{"spec.affiliates[0]", "not its own affiliate"}},
		{"base model", "model: {parameters: 7e9}", "model: {parameters: 7e9, base: {name: qwen2.5-7b, origin: CN, license: apache-2.0, openWeights: true, trainingFLOPs: 1.8e24}}\n  weightsDelivery: [US, DE]", nil},
		{"base without name", "model: {parameters: 7e9}", "model: {parameters: 7e9, base: {origin: CN}}", []string{"spec.model.base.name", "required"}},
		{"base licence", "model: {parameters: 7e9}", "model: {parameters: 7e9, base: {name: b, license: gpl}}", []string{"spec.model.base.license", `"gpl" is not accepted`, "apache-2.0"}},
		{"base origin", "model: {parameters: 7e9}", "model: {parameters: 7e9, base: {name: b, origin: XX}}", []string{"spec.model.base.origin", `"XX" is not a known country`}},
		{"base compute", "model: {parameters: 7e9}", "model: {parameters: 7e9, base: {name: b, trainingFLOPs: -1}}", []string{"spec.model.base.trainingFLOPs", "below 0"}},
		{"delivery country", "model: {parameters: 7e9}", "model: {parameters: 7e9}\n  weightsDelivery: [EU]", []string{"spec.weightsDelivery[0]", `"EU" is a region, not a country`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadEdited(t, c.from, c.to)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestVocabularyDefinedOnce: every list is made of the terms that define
// it, without duplicates, and no retired basis is still declarable.
func TestVocabularyDefinedOnce(t *testing.T) {
	for name, terms := range map[string][]Term{"legal bases": LegalBases, "licences": ModelLicences, "attributes": OrgAttributes,
		"classifications": ClassificationTerms, "restricted-party statuses": RestrictedPartyTerms} {
		seen := map[string]bool{}
		for _, tm := range terms {
			if tm.ID == "" || tm.Meaning == "" || seen[tm.ID] {
				t.Errorf("%s: bad or repeated term %+v", name, tm)
			}
			seen[tm.ID] = true
		}
	}
	for _, c := range Classifications {
		if !contains(termIDs(ClassificationTerms), c) {
			t.Errorf("classification %s has no meaning", c)
		}
	}
	for _, r := range RestrictedPartyValues {
		if !contains(RestrictedPartyStatuses, r) {
			t.Errorf("restricted-party value %s has no meaning", r)
		}
	}
	for b := range RetiredBases {
		if contains(TransferBases, b) {
			t.Errorf("retired basis %s is still declarable", b)
		}
	}
}
