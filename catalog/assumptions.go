package catalog

import (
	"fmt"
	"sort"
	"sync"
)

// The spec.assumptions keys a TrainingJob may set belong to the packages that
// read them (the estimator, the planner). Each registers its keys here from
// init(), so that Validate accepts exactly the keys some reader understands
// and every reader may ignore the keys that are not its own.
var assumptionRegistry = struct {
	sync.RWMutex
	docs map[string]string
}{docs: map[string]string{}}

// RegisterAssumption declares key as an accepted spec.assumptions key, with
// doc saying what it means. Packages call it from init(). Registering the
// same key twice with a different doc, or an empty key, panics: two readers
// would disagree about one number.
func RegisterAssumption(key, doc string) {
	if key == "" {
		panic("catalog.RegisterAssumption: empty key")
	}
	assumptionRegistry.Lock()
	defer assumptionRegistry.Unlock()
	if old, ok := assumptionRegistry.docs[key]; ok && old != doc {
		panic(fmt.Sprintf("catalog.RegisterAssumption: key %q registered twice with different meanings", key))
	}
	assumptionRegistry.docs[key] = doc
}

// AssumptionKeys returns the registered spec.assumptions keys, sorted.
func AssumptionKeys() []string {
	assumptionRegistry.RLock()
	defer assumptionRegistry.RUnlock()
	out := make([]string, 0, len(assumptionRegistry.docs))
	for k := range assumptionRegistry.docs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// AssumptionDoc returns what a registered key means, and whether it is registered.
func AssumptionDoc(key string) (string, bool) {
	assumptionRegistry.RLock()
	defer assumptionRegistry.RUnlock()
	d, ok := assumptionRegistry.docs[key]
	return d, ok
}
