// Package schema publishes a JSON Schema for each resource kind Meridian
// reads (Organization, Dataset, Site, TrainingJob), generated from the Go
// types in package catalog so that editors can check YAML as it is typed.
//
// The generated files sit beside this package (organization.json, …) and are
// kept in sync by a test; after changing a resource type run
//
//	go generate ./schema
//
// The schema checks shape (fields, types, enums, simple ranges). Meaning that
// needs the whole world (references between resources, available <= count)
// is checked by catalog.World.Validate, which stays the authority.
package schema

//go:generate go run ./gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/invopop/jsonschema"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// BaseURL is the $id prefix of the published schemas.
const BaseURL = "https://meridian.dev/schema/v1alpha1/"

// Kinds maps each resource kind to the Go type that decodes it.
var Kinds = map[string]any{
	catalog.KindOrganization: catalog.Organization{},
	catalog.KindDataset:      catalog.Dataset{},
	catalog.KindSite:         catalog.Site{},
	catalog.KindTrainingJob:  catalog.TrainingJob{},
}

// FileName returns the schema file name of a kind, e.g. "trainingjob.json".
func FileName(kind string) string { return strings.ToLower(kind) + ".json" }

// dnsLabelPattern is Kubernetes' DNS-subdomain rule for names, as
// catalog.ValidName checks it (the length limit is maxNameLength's).
const dnsLabelPattern = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`

// maxNameLength is catalog.ValidName's limit on a name's length.
const maxNameLength = 253

// ownerPattern mirrors the loader's rule for a pool's owner: operator, or
// organization: and an organisation's name (catalog.ValidOrgRef: NAME or
// TENANT/NAME, NAME a DNS subdomain, TENANT a DNS label).
const ownerPattern = `^(operator|organization:([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$`

// slurmNamePattern mirrors catalog.SlurmName.
const slurmNamePattern = `^[A-Za-z0-9_.-]{1,64}$`

// durationPattern accepts Go durations and whole or fractional days ("14d").
const durationPattern = `^(([0-9]+(\.[0-9]+)?d)|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`

// Generate returns the indented JSON Schema of one kind. sourceDir is the
// directory of package catalog's Go files, whose doc comments become the
// schema's descriptions; pass "" to leave descriptions out.
func Generate(kind, sourceDir string) ([]byte, error) {
	v, ok := Kinds[kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	r := &jsonschema.Reflector{
		ExpandedStruct: true,
		Anonymous:      true,
		Mapper:         mapType,
	}
	if sourceDir != "" {
		if err := r.AddGoComments("meridian.dev/meridian/schema", sourceDir); err != nil {
			return nil, fmt.Errorf("read doc comments in %s: %w", sourceDir, err)
		}
	}
	s := r.Reflect(v)
	s.ID = jsonschema.ID(BaseURL + FileName(kind))
	s.Title = "Meridian " + kind
	if err := refine(s, kind); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteAll writes every kind's schema into dir, each file atomically.
func WriteAll(dir, sourceDir string) error {
	for kind := range Kinds {
		data, err := Generate(kind, sourceDir)
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, FileName(kind)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mapType gives the YAML forms of Meridian's scalar types.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeOf(catalog.Date{}):
		return &jsonschema.Schema{Type: "string", Format: "date", Pattern: `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`,
			Description: "A calendar day, YYYY-MM-DD."}
	case reflect.TypeOf(catalog.Duration(0)):
		return &jsonschema.Schema{Type: "string", Pattern: durationPattern,
			Description: "A Go duration (36h, 90m) or a number of days (14d)."}
	}
	return nil
}

// constraint adds what reflection cannot see: required fields, enums,
// patterns and ranges, keyed by definition name and property.
type constraint struct {
	def, prop   string
	required    bool
	enum        []string
	pattern     string
	min, max    string
	minItems    uint64
	maxLength   uint64
	itemEnum    []string
	itemPattern string
}

func constraints() []constraint {
	accs, _ := catalog.BuiltinAccelerators()
	countries, _ := catalog.BuiltinCountries()
	accIDs := keys(accs)
	var codes, regions []string
	for _, c := range keys(countries) {
		if countries[c].Region {
			regions = append(regions, c)
		} else {
			codes = append(codes, c)
		}
	}
	markets := append(append([]string{}, codes...), "EU", "EEA")
	origins := append(append([]string{}, codes...), regions...)
	sortStrings(origins)
	return []constraint{
		{def: "Metadata", prop: "name", required: true, pattern: dnsLabelPattern, maxLength: maxNameLength},

		{def: "OrganizationSpec", prop: "headquarters", required: true, enum: codes},
		{def: "OrganizationSpec", prop: "ultimateParentHeadquarters", enum: codes},
		{def: "OrganizationSpec", prop: "restrictedParty", enum: catalog.RestrictedPartyValues},
		{def: "OrganizationSpec", prop: "attributes", itemEnum: catalog.OrgAttributeIDs},
		{def: "OrganizationSpec", prop: "affiliates", itemPattern: dnsLabelPattern},
		{def: "License", prop: "rule", required: true},

		{def: "DatasetSpec", prop: "origin", required: true, enum: origins},
		{def: "DatasetSpec", prop: "sizeBytes", min: "0", max: "1e19"},
		{def: "DatasetSpec", prop: "classification", required: true, enum: catalog.Classifications},
		{def: "DatasetSpec", prop: "subjects", min: "0", max: "1e10"},
		{def: "DatasetSpec", prop: "transferBases", itemEnum: catalog.TransferBases},

		{def: "SiteSpec", prop: "country", required: true, enum: codes},
		{def: "SiteSpec", prop: "pools", required: true, minItems: 1},
		{def: "SiteSpec", prop: "operator", required: true},
		{def: "SiteSpec", prop: "network", required: true},
		{def: "SiteSpec", prop: "location", required: false},
		{def: "LatLon", prop: "lat", min: "-90", max: "90"},
		{def: "LatLon", prop: "lon", min: "-180", max: "180"},
		{def: "Operator", prop: "name", required: true},
		{def: "Operator", prop: "headquarters", required: true, enum: codes},
		{def: "Pool", prop: "accelerator", required: true, enum: accIDs},
		{def: "Pool", prop: "count", required: true, min: "1", max: "10000000"},
		{def: "Pool", prop: "available", min: "0", max: "10000000"},
		{def: "Pool", prop: "pricePerHour", min: "0", max: "1000"},
		{def: "Pool", prop: "owner", pattern: ownerPattern},
		{def: "Network", prop: "egressPerGB", min: "0", max: "10"},
		{def: "Network", prop: "gbps", required: true, min: "0.001", max: "100000"},
		{def: "SiteSpec", prop: "access", enum: catalog.AccessValues},
		{def: "BackendSpec", prop: "type", enum: catalog.BackendTypes},
		{def: "BackendSpec", prop: "partition", pattern: slurmNamePattern},
		{def: "BackendSpec", prop: "gresType", pattern: slurmNamePattern},
		{def: "BackendSpec", prop: "gres", pattern: `^[A-Za-z0-9_.-]{1,64}(:[A-Za-z0-9_.-]{1,64})?$`},
		{def: "BackendSpec", prop: "restURL", pattern: `^(unix:///|https?://).+$`},
		{def: "BackendSpec", prop: "namespace", pattern: dnsLabelPattern},
		{def: "BackendSpec", prop: "gpuResource", pattern: `^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`},
		{def: "BackendSpec", prop: "queueName", pattern: `^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`},
		{def: "BackendSpec", prop: "agent", pattern: `^[A-Za-z0-9._+/][A-Za-z0-9._+/-]*$`},
		{def: "BackendSpec", prop: "sandbox", enum: catalog.SandboxModes},
		{def: "Toleration", prop: "operator", enum: catalog.TolerationOperators},
		{def: "Toleration", prop: "effect", enum: catalog.TaintEffects},
		{def: "Toleration", prop: "tolerationSeconds", min: "0"},

		{def: "TrainingJobSpec", prop: "organization", required: true, pattern: dnsLabelPattern},
		{def: "TrainingJobSpec", prop: "datasets"},
		{def: "TrainingJobSpec", prop: "model", required: true},
		{def: "TrainingJobSpec", prop: "method", required: true, enum: catalog.Methods},
		{def: "TrainingJobSpec", prop: "tokens", required: true, min: "1", max: "1e16"},
		{def: "TrainingJobSpec", prop: "precision", enum: catalog.Precisions},
		{def: "TrainingJobSpec", prop: "objective", enum: catalog.Objectives},
		{def: "TrainingJobSpec", prop: "budgetUSD", min: "0", max: "1e12"},
		{def: "TrainingJobSpec", prop: "confidence", min: "0.5", max: "0.999"},
		{def: "Model", prop: "parameters", required: true, min: "1", max: "1e15"},
		{def: "Model", prop: "activeParameters", min: "0", max: "1e15"},
		{def: "Model", prop: "experts", min: "0", max: "1000000"},
		{def: "Model", prop: "expertsPerToken", min: "0", max: "1000000"},
		{def: "Release", prop: "markets", itemEnum: markets},
		{def: "BaseModel", prop: "name", required: true},
		{def: "BaseModel", prop: "origin", enum: codes},
		{def: "BaseModel", prop: "license", enum: catalog.ModelLicenceIDs},
		{def: "BaseModel", prop: "trainingFLOPs", min: "0", max: "1e32"},
		{def: "TrainingJobSpec", prop: "weightsDelivery", itemEnum: codes},
		{def: "AllowDeny", prop: "allow"},
		{def: "Constraints", prop: "minAccelerators", min: "0", max: "10000000"},
		{def: "Constraints", prop: "maxAccelerators", min: "0", max: "10000000"},
		{def: "LoRA", prop: "trainableFraction", min: "0", max: "1"},
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

// refine replaces the reflected required lists (which follow omitempty)
// with the loader's real rules, and adds enums, patterns and ranges.
func refine(root *jsonschema.Schema, kind string) error {
	defs := root.Definitions
	// Only the constraints above make a field required.
	for _, d := range defs {
		d.Required = nil
	}
	root.Required = []string{"apiVersion", "kind", "metadata", "spec"}
	for _, p := range []struct{ name, val string }{{"apiVersion", catalog.APIVersion}, {"kind", kind}} {
		s, ok := root.Properties.Get(p.name)
		if !ok {
			return fmt.Errorf("%s: no %s property", kind, p.name)
		}
		s.Const = p.val
	}
	for _, c := range constraints() {
		d, ok := defs[c.def]
		if !ok {
			continue // the kind does not use this type
		}
		s, ok := d.Properties.Get(c.prop)
		if !ok {
			return fmt.Errorf("%s: definition %s has no property %s", kind, c.def, c.prop)
		}
		if c.required {
			d.Required = append(d.Required, c.prop)
		}
		if len(c.enum) > 0 {
			s.Enum = toAny(c.enum)
		}
		if len(c.itemEnum) > 0 && s.Items != nil {
			s.Items.Enum = toAny(c.itemEnum)
		}
		if c.itemPattern != "" && s.Items != nil {
			s.Items.Pattern = c.itemPattern
		}
		if c.pattern != "" {
			s.Pattern = c.pattern
		}
		if c.min != "" {
			s.Minimum = json.Number(c.min)
		}
		if c.max != "" {
			s.Maximum = json.Number(c.max)
		}
		if c.minItems > 0 {
			n := c.minItems
			s.MinItems = &n
		}
		if c.maxLength > 0 {
			n := c.maxLength
			s.MaxLength = &n
		}
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
