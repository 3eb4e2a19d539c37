// Package catalog holds Meridian's nouns: the resources users write in YAML
// (Organization, Dataset, Site, TrainingJob), the built-in world (accelerators,
// countries and sites, embedded in the binary), and the loader that decodes
// YAML strictly and validates it, naming file, line and field in every error.
package catalog
