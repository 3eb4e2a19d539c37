// Package catalog holds Meridian's nouns: the resources users write in YAML
// (Organization, Dataset, Site, TrainingJob), the built-in world (accelerators,
// countries and sites, embedded in the binary), and the loader that decodes
// YAML strictly and validates it, naming file, line and field in every error.
//
// The country table (data/countries.yaml) gives every entry its source. The
// EU's outermost regions with an ISO 3166-1 alpha-2 code of their own
// (Guadeloupe GP, French Guiana GF, Martinique MQ, Mayotte YT, Réunion RE,
// Saint-Martin MF; Art. 349 and 355(1) TFEU) are EU members of it: data moved
// there from the EEA stays in the EU. The Azores, Madeira and the Canary
// Islands have no code of their own: a site there is written PT or ES.
package catalog
