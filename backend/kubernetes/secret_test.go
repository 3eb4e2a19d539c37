package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// fakeAPI is just enough of a Kubernetes API server for Submit's handling of
// the attempt's Secret, without a cluster: Nodes (one, Ready), Pods (none),
// Jobs and Secrets in one namespace, with list, watch, get, create, update,
// merge patch and delete. Objects are kept as JSON maps.
type fakeAPI struct {
	t  testing.TB
	mu sync.Mutex
	rv int
	// objs by resource ("nodes", "pods", "jobs", "secrets"), then name.
	objs     map[string]map[string]map[string]any
	watchers map[string][]chan fakeEvent
	// onCreate, when set, may answer a create itself: it is called after
	// the object is stored, and a non-zero code is answered instead.
	onCreate func(resource string, obj map[string]any) (code int, reason string)
	// onPatch, when set, may answer a merge patch itself (an admission
	// policy's refusal, say) before it is applied.
	onPatch func(resource string, patch map[string]any) (code int, reason string)
	// onDelete, when set, may answer a delete itself (an API server
	// failing, throttling, or an admission policy refusing it) before it
	// is carried out.
	onDelete func(resource, name string) (code int, reason string)
	// onList, when set, may answer a list itself before it is made.
	onList func(resource, selector string) (code int, reason string)
	// muted resources' changes reach no watch: the watch cache has not
	// taken them yet, as under load.
	muted map[string]bool
	// history holds every event sent of each resource, by the version
	// the API server was at when it was sent: a watch from a version
	// (the reflector's next watch after its list, or after a watch cut)
	// is sent those after it first, as an API server sends them, so
	// that a change made while no watch is open is not lost.
	history map[string][]fakeHistoryEvent
	// version is the answer to GET /version; nil answers Kubernetes
	// v1.37.2.
	version map[string]any
	// dryRuns counts the dry-run creates answered (dryRun=All), which
	// store nothing and reach no watch.
	dryRuns int
	// onDryRun, when set, may change a dry-run create's object before it
	// is answered (an API server that drops a field), or answer it itself
	// with a non-zero code. onCreate is not called for a dry run.
	onDryRun func(resource string, obj map[string]any) (code int, reason string)
}

type fakeHistoryEvent struct {
	rv int
	ev fakeEvent
}

type fakeEvent struct {
	Type   string         `json:"type"`
	Object map[string]any `json:"object"`
}

var fakeKinds = map[string][2]string{
	"nodes": {"v1", "Node"}, "pods": {"v1", "Pod"}, "secrets": {"v1", "Secret"}, "jobs": {"batch/v1", "Job"},
}

func newFakeAPI(t testing.TB) *fakeAPI {
	f := &fakeAPI{t: t, objs: map[string]map[string]map[string]any{}, watchers: map[string][]chan fakeEvent{}}
	for r := range fakeKinds {
		f.objs[r] = map[string]map[string]any{}
	}
	f.objs["nodes"]["n1"] = map[string]any{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": "n1", "uid": "node-uid", "resourceVersion": "1"},
		"status":   map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}}
	f.rv = 1
	return f
}

func (f *fakeAPI) start(t testing.TB, settings ...func(*catalog.BackendSpec)) *Backend {
	// The watch-list protocol is not spoken here: plain list, then watch.
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	site := catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"}
	for _, set := range settings {
		set(&site)
	}
	b, err := NewFromConfig(site, t.TempDir(), &rest.Config{Host: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func meta(o map[string]any) map[string]any {
	m, _ := o["metadata"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		o["metadata"] = m
	}
	return m
}

func (f *fakeAPI) status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code})
}

func (f *fakeAPI) reply(w http.ResponseWriter, code int, obj any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(obj)
}

// notify sends an event to the watchers of resource; f.mu is held.
func (f *fakeAPI) notify(resource, typ string, obj map[string]any) {
	if f.muted[resource] {
		return
	}
	if f.history == nil {
		f.history = map[string][]fakeHistoryEvent{}
	}
	// Never changed once taken: the watches share it.
	ev := fakeEvent{Type: typ, Object: clone(obj)}
	f.history[resource] = append(f.history[resource], fakeHistoryEvent{rv: f.rv, ev: ev})
	for _, c := range f.watchers[resource] {
		select {
		case c <- ev:
		default:
		}
	}
}

func clone(o map[string]any) map[string]any {
	data, _ := json.Marshal(o)
	var out map[string]any
	json.Unmarshal(data, &out)
	return out
}

// mergePatch applies an RFC 7386 JSON merge patch.
func applyMergePatch(dst map[string]any, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			d, ok := dst[k].(map[string]any)
			if !ok {
				d = map[string]any{}
			}
			applyMergePatch(d, pv)
			dst[k] = d
		default:
			dst[k] = v
		}
	}
}

func matches(o map[string]any, selector string) bool {
	if selector == "" {
		return true
	}
	lbl, _ := meta(o)["labels"].(map[string]any)
	for _, kv := range strings.Split(selector, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if lbl[k] != v {
			return false
		}
	}
	return true
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/version" {
		f.mu.Lock()
		v := f.version
		f.mu.Unlock()
		if v == nil {
			v = map[string]any{"major": "1", "minor": "37", "gitVersion": "v1.37.2"}
		}
		f.reply(w, 200, v)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if f.answerCheck(w, r, parts) {
		return
	}
	// /api/v1/nodes, /api/v1/namespaces/ns/R[/name], /apis/batch/v1/namespaces/ns/R[/name]
	if parts[0] == "apis" {
		parts = parts[1:]
	}
	parts = parts[2:]
	if len(parts) >= 2 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	resource, name := parts[0], ""
	if len(parts) > 1 {
		name = parts[1]
	}
	kind, ok := fakeKinds[resource]
	if !ok {
		f.status(w, 404, "NotFound", "no resource "+resource)
		return
	}
	q := r.URL.Query()
	f.mu.Lock()
	store := f.objs[resource]
	switch {
	case r.Method == http.MethodGet && name == "" && q.Get("watch") == "true":
		// From a version: the events sent since, first.
		var since []fakeEvent
		if from, err := strconv.Atoi(q.Get("resourceVersion")); err == nil && from > 0 {
			for _, h := range f.history[resource] {
				if h.rv > from {
					since = append(since, h.ev)
				}
			}
		}
		c := make(chan fakeEvent, 100+len(since))
		for _, ev := range since {
			c <- ev
		}
		f.watchers[resource] = append(f.watchers[resource], c)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		enc := json.NewEncoder(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case ev, ok := <-c:
				if !ok {
					return // endWatches
				}
				if ev.Type != "DELETED" && !matches(ev.Object, q.Get("labelSelector")) {
					continue
				}
				enc.Encode(ev)
				w.(http.Flusher).Flush()
			}
		}
	case r.Method == http.MethodGet && name == "":
		if f.onList != nil {
			if code, reason := f.onList(resource, q.Get("labelSelector")); code != 0 {
				f.mu.Unlock()
				f.status(w, code, reason, "the fake answers "+reason)
				return
			}
		}
		// In pages of limit (when asked), by name; the continue token is
		// the last name of the page before.
		names := make([]string, 0, len(store))
		for n, o := range store {
			if matches(o, q.Get("labelSelector")) && n > q.Get("continue") {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		listMeta := map[string]any{"resourceVersion": strconv.Itoa(f.rv)}
		if limit, _ := strconv.Atoi(q.Get("limit")); limit > 0 && len(names) > limit {
			names = names[:limit]
			listMeta["continue"] = names[limit-1]
		}
		items := make([]any, 0, len(names))
		for _, n := range names {
			items = append(items, store[n])
		}
		f.mu.Unlock()
		f.reply(w, 200, map[string]any{"apiVersion": kind[0], "kind": kind[1] + "List",
			"metadata": listMeta, "items": items})
		return
	}
	defer f.mu.Unlock()
	var body map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.status(w, 400, "BadRequest", err.Error())
			return
		}
	}
	if r.Method == http.MethodDelete {
		// DeleteOptions, if any.
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && err != io.EOF {
			f.status(w, 400, "BadRequest", err.Error())
			return
		}
	}
	old, exists := store[name]
	immutableChange := func(o map[string]any) bool {
		return resource == "secrets" && exists && old["immutable"] == true &&
			(!reflect.DeepEqual(o["data"], old["data"]) || o["immutable"] != true)
	}
	f.rv++
	rv := strconv.Itoa(f.rv)
	switch {
	case r.Method == http.MethodGet:
		if !exists {
			f.status(w, 404, "NotFound", resource+" "+name+" not found")
			return
		}
		f.reply(w, 200, old)
	case r.Method == http.MethodPost && q.Get("dryRun") == "All":
		// Admitted as a create would be, answered, and not stored.
		m := meta(body)
		if n, _ := m["name"].(string); n == "" {
			m["name"] = fmt.Sprint(m["generateName"]) + "dry" + rv
		}
		m["uid"] = "dry-run-uid-" + rv
		f.dryRuns++
		if f.onDryRun != nil {
			if code, reason := f.onDryRun(resource, body); code != 0 {
				f.status(w, code, reason, "the fake answers "+reason)
				return
			}
		}
		f.reply(w, 201, body)
	case r.Method == http.MethodPost:
		name = fmt.Sprint(meta(body)["name"])
		if _, dup := store[name]; dup {
			f.status(w, 409, "AlreadyExists", resource+" "+name+" already exists")
			return
		}
		m := meta(body)
		m["uid"] = fmt.Sprintf("%s-%s-uid-%s", resource, name, rv)
		m["resourceVersion"] = rv
		m["creationTimestamp"] = time.Now().UTC().Format(time.RFC3339)
		store[name] = body
		f.notify(resource, "ADDED", body)
		if f.onCreate != nil {
			if code, reason := f.onCreate(resource, body); code != 0 {
				f.status(w, code, reason, "the fake answers "+reason)
				return
			}
		}
		f.reply(w, 201, body)
	case r.Method == http.MethodPut:
		if !exists {
			f.status(w, 404, "NotFound", resource+" "+name+" not found")
			return
		}
		if got := meta(body)["resourceVersion"]; got != meta(old)["resourceVersion"] {
			f.status(w, 409, "Conflict", fmt.Sprintf("resourceVersion %v, the object has %v", got, meta(old)["resourceVersion"]))
			return
		}
		if immutableChange(body) || resource == "secrets" && body["type"] != old["type"] {
			f.status(w, 422, "Invalid", "field is immutable")
			return
		}
		m := meta(body)
		m["uid"], m["creationTimestamp"], m["resourceVersion"] = meta(old)["uid"], meta(old)["creationTimestamp"], rv
		store[name] = body
		f.notify(resource, "MODIFIED", body)
		f.reply(w, 200, body)
	case r.Method == http.MethodPatch:
		if !exists {
			f.status(w, 404, "NotFound", resource+" "+name+" not found")
			return
		}
		if f.onPatch != nil {
			if code, reason := f.onPatch(resource, body); code != 0 {
				f.status(w, code, reason, "refused by the test's policy")
				return
			}
		}
		// A UID in the patch is a precondition: the API server refuses to
		// change an object's UID (metadata.uid is immutable).
		if uid, ok := meta(body)["uid"]; ok && uid != meta(old)["uid"] {
			f.status(w, 422, "Invalid", fmt.Sprintf("metadata.uid: Invalid value: %q: field is immutable", uid))
			return
		}
		o := clone(old)
		applyMergePatch(o, body)
		if immutableChange(o) {
			f.status(w, 422, "Invalid", "field is immutable")
			return
		}
		meta(o)["resourceVersion"] = rv
		store[name] = o
		f.notify(resource, "MODIFIED", o)
		f.reply(w, 200, o)
	case r.Method == http.MethodDelete:
		if f.onDelete != nil {
			if code, reason := f.onDelete(resource, name); code != 0 {
				f.status(w, code, reason, "the fake answers "+reason)
				return
			}
		}
		if !exists {
			f.status(w, 404, "NotFound", resource+" "+name+" not found")
			return
		}
		pre, _ := body["preconditions"].(map[string]any)
		if uid, ok := pre["uid"]; ok && uid != meta(old)["uid"] {
			f.status(w, 409, "Conflict", fmt.Sprintf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, meta(old)["uid"]))
			return
		}
		if rv, ok := pre["resourceVersion"]; ok && rv != meta(old)["resourceVersion"] {
			f.status(w, 409, "Conflict", fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", rv, meta(old)["resourceVersion"]))
			return
		}
		// The deletion (or its start) is a change of its own version,
		// which a watch from it resumes after.
		meta(old)["resourceVersion"] = rv
		if fin, _ := meta(old)["finalizers"].([]any); len(fin) > 0 {
			meta(old)["deletionTimestamp"] = time.Now().UTC().Format(time.RFC3339)
			f.notify(resource, "MODIFIED", old)
		} else {
			delete(store, name)
			f.notify(resource, "DELETED", old)
		}
		f.reply(w, 200, map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Success"})
	default:
		f.status(w, 405, "MethodNotAllowed", r.Method)
	}
}

// mute has the changes to resource from now on reach no watch.
func (f *fakeAPI) mute(resource string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.muted == nil {
		f.muted = map[string]bool{}
	}
	f.muted[resource] = true
}

// endWatches ends every open watch, as an API server does when a watch's
// timeoutSeconds has passed.
func (f *fakeAPI) endWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for r, cs := range f.watchers {
		for _, c := range cs {
			close(c)
		}
		delete(f.watchers, r)
	}
}

func (f *fakeAPI) get(resource, name string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[resource][name]
	if !ok {
		return nil, false
	}
	return clone(o), true
}

func (f *fakeAPI) put(resource string, o map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	meta(o)["resourceVersion"] = strconv.Itoa(f.rv)
	meta(o)["uid"] = "planted-uid"
	f.objs[resource][fmt.Sprint(meta(o)["name"])] = o
	f.notify(resource, "ADDED", o)
}

func secretSpec() backend.Spec {
	return backend.Spec{RunID: "run-1", Attempt: 2, Command: []string{"true"},
		Env: map[string]string{"PLAIN": "p"}, Secret: map[string]string{"TOKEN": "credential"}}
}

// submitWithoutSecret submits secretSpec's job with no Secret to b and
// returns its handle.
func submitWithoutSecret(t testing.TB, b *Backend) string {
	t.Helper()
	spec := secretSpec()
	spec.Secret = nil
	name, err := b.Submit(testContext(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// ownedBy reports whether the Secret's owners are exactly the Job.
func secretOwnedBy(sec, job map[string]any) bool {
	owners, _ := meta(sec)["ownerReferences"].([]any)
	if len(owners) != 1 {
		return false
	}
	o, _ := owners[0].(map[string]any)
	return o["kind"] == "Job" && o["name"] == meta(job)["name"] && o["uid"] == meta(job)["uid"]
}

func secretValue(sec map[string]any, key string) string {
	data, _ := sec["data"].(map[string]any)
	s, _ := data[key].(string)
	return s
}

// A Job create that the API server carried out but answered with an error
// (a timeout) must not cost the attempt its Secret: the Job's pod could
// never start, and the next Submit, finding the Job, must see that its
// Secret is there.
func TestSubmitKeepsTheSecretOfAJobCreatedDespiteAnError(t *testing.T) {
	f := newFakeAPI(t)
	f.onCreate = func(resource string, _ map[string]any) (int, string) {
		if resource == "jobs" {
			f.onCreate = nil
			return http.StatusGatewayTimeout, "Timeout"
		}
		return 0, ""
	}
	b := f.start(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	ctx := context.Background()
	if _, err := b.Submit(ctx, spec); err == nil {
		t.Fatal("the first Submit succeeded; the fake answered its Job create with a timeout")
	}
	job, ok := f.get("jobs", name)
	if !ok {
		t.Fatal("the fake did not keep the Job")
	}
	// Wait for the watch to bring the Job, as it does on a real cluster.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := b.watch.job(name); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Job never reached the watch cache")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h, err := b.Submit(ctx, spec)
	if err != nil || h != name {
		t.Fatalf("second Submit: %q, %v", h, err)
	}
	sec, ok := f.get("secrets", name)
	if !ok {
		t.Fatalf("the Job %s exists and its Secret does not: its pod can never start", name)
	}
	if got := secretValue(sec, "TOKEN"); got != "Y3JlZGVudGlhbA==" {
		t.Errorf("Secret TOKEN %q, want base64 of the credential", got)
	}
	if !secretOwnedBy(sec, job) {
		t.Errorf("Secret owners %v, want the Job", meta(sec)["ownerReferences"])
	}
}

// A Job of the attempt's name that is not the attempt's (made by someone
// else, so outside the watch of Meridian's Jobs) fails the Submit, and the
// Secret the Submit made for it goes: nothing will own it or delete it.
func TestSubmitLeavesNoSecretBesideAnotherJob(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	f.put("jobs", map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": name, "namespace": "ns"}})
	b := f.start(t)
	_, err := b.Submit(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "not this attempt's") {
		t.Fatalf("Submit beside another's Job: %v", err)
	}
	if sec, ok := f.get("secrets", name); ok {
		t.Fatalf("the refused Submit left its Secret (with the credential): %v", sec)
	}
}

// A Secret of the attempt's name that carries the attempt's labels (a
// Submit cut off before its Job, or a copy planted by anyone who may create
// Secrets there) is taken over whole: nothing of what else it carried (an
// annotation that has another controller copy it elsewhere, a finalizer,
// another owner) stays on the Secret that holds the credential.
func TestSubmitTakesOverALabelledSecretWhole(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	f.put("secrets", map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{"name": name, "namespace": "ns",
			"labels": map[string]any{LabelManagedBy: managedBy, LabelRun: runLabel(spec.RunID),
				LabelAttempt: strconv.Itoa(spec.Attempt), "copy-me": "true"},
			"annotations": map[string]any{AnnotationRunID: spec.RunID,
				"reflector.v1.k8s.emberstack.com/reflection-auto-enabled": "true"},
			"finalizers":      []any{"example.com/keep"},
			"ownerReferences": []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": "other-uid"}},
		},
		"data": map[string]any{"EXTRA": "eA=="}})
	b := f.start(t)
	h, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := f.get("secrets", h)
	job, _ := f.get("jobs", h)
	m := meta(sec)
	wantLabels := map[string]any{LabelManagedBy: managedBy, LabelRun: runLabel(spec.RunID), LabelAttempt: strconv.Itoa(spec.Attempt)}
	if got, _ := m["labels"].(map[string]any); !maps.Equal(got, wantLabels) {
		t.Errorf("labels %v, want %v", got, wantLabels)
	}
	got, _ := m["annotations"].(map[string]any)
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(got[AnnotationWritten])); err != nil {
		t.Errorf("annotation %s: %v", AnnotationWritten, err)
	}
	delete(got, AnnotationWritten)
	wantAnn := map[string]any{AnnotationRunID: spec.RunID}
	if !maps.Equal(got, wantAnn) {
		t.Errorf("annotations %v, want %v", got, wantAnn)
	}
	if fin := m["finalizers"]; fin != nil {
		t.Errorf("finalizers %v, want none", fin)
	}
	if !secretOwnedBy(sec, job) {
		t.Errorf("owners %v, want the Job alone", m["ownerReferences"])
	}
	if data, _ := sec["data"].(map[string]any); len(data) != 1 || secretValue(sec, "TOKEN") != "Y3JlZGVudGlhbA==" {
		t.Errorf("data %v, want TOKEN alone", sec["data"])
	}
}

// An immutable Secret cannot be taken over: Submit says so, before any Job.
func TestSubmitRefusesAnImmutableSecret(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	f.put("secrets", map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "immutable": true,
		"metadata": map[string]any{"name": name, "namespace": "ns",
			"labels":      map[string]any{LabelManagedBy: managedBy, LabelRun: runLabel(spec.RunID), LabelAttempt: strconv.Itoa(spec.Attempt)},
			"annotations": map[string]any{AnnotationRunID: spec.RunID}},
		"data": map[string]any{"TOKEN": "c3RhbGU="}})
	b := f.start(t)
	if _, err := b.Submit(context.Background(), spec); err == nil {
		t.Fatal("Submit over an immutable Secret succeeded")
	}
	if _, ok := f.get("jobs", name); ok {
		t.Fatal("a Job was created that would read a Secret Meridian could not write")
	}
}

// A lost attempt's verdict is written on its Job (AnnotationLost), so that
// it holds when the node returns. The reason quotes what the cluster said
// of the pod; one with a control character was written as Go's quoting
// ("\x01"), which is not JSON: the API server refused the patch and the
// verdict was never kept on the Job.
func TestLostVerdictWithAControlCharacterIsKept(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	spec := secretSpec()
	spec.Secret = nil
	name, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	f.putPodOf(name, map[string]any{"phase": "Running", "conditions": []any{map[string]any{"type": disruptionTarget, "status": "True",
		"reason": "EvictionByEvictionAPI", "message": "evicted by \x01 tool"}}})
	f.mu.Lock()
	meta(f.objs["pods"][name+"-p"])["uid"] = "pod-uid"
	f.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := b.Status(context.Background(), name)
		if err == nil && st.State == backend.Lost {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status = %+v, %v; want Lost", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	job, _ := f.get("jobs", name)
	ann, _ := meta(job)["annotations"].(map[string]any)
	if got, _ := ann[AnnotationLost].(string); !strings.Contains(got, "evicted by \x01 tool") {
		t.Fatalf("Job annotations %v: the lost verdict was not kept", ann)
	}
}

// The image an attempt's spec names comes from the tenant's job. One that
// is no image reference never runs (the API server refuses surrounding
// space, the kubelet the rest, leaving the pod waiting with
// InvalidImageName): Submit refuses it as invalid, naming the field, and
// creates nothing (neither the Job nor the Secret with the credential).
func TestSubmitRefusesAnImageThatIsNoReference(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	for _, image := range []string{"trainer:1.4 ", "trainer\n:1.4", "ghcr.io/x/trainer:1.4\x1b[2J", strings.Repeat("a", 513)} {
		spec := secretSpec()
		spec.Image = image
		_, err := b.Submit(testContext(t), spec)
		if !errors.Is(err, backend.ErrInvalid) || !strings.Contains(err.Error(), "image") {
			t.Errorf("Submit with image %.60q: %v; want backend.ErrInvalid naming the image", image, err)
		}
		for _, r := range []string{"jobs", "secrets"} {
			if _, ok := f.get(r, JobName(spec.RunID, spec.Attempt)); ok {
				t.Errorf("image %.60q: a %s object was created", image, r)
			}
		}
	}
	spec := secretSpec()
	spec.Image = "ghcr.io/example/trainer:1.4@sha256:" + strings.Repeat("0", 64)
	if _, err := b.Submit(testContext(t), spec); err != nil {
		t.Fatalf("Submit with a valid image reference: %v", err)
	}
}

// TestSubmitInvalidJobIsInvalid: a Job the API server refuses as invalid
// (422) is backend.ErrInvalid, which fails the attempt at once; it was
// taken for an unreachable site, tried again until the site timeout, and
// the run moved on to meet the same refusal elsewhere. The attempt's
// Secret does not stay behind.
func TestSubmitInvalidJobIsInvalid(t *testing.T) {
	f := newFakeAPI(t)
	f.onCreate = func(resource string, _ map[string]any) (int, string) {
		if resource == "jobs" {
			return http.StatusUnprocessableEntity, "Invalid"
		}
		return 0, ""
	}
	b := f.start(t)
	spec := secretSpec()
	_, err := b.Submit(testContext(t), spec)
	if !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("Submit of a Job the API server refuses as invalid: %v; want backend.ErrInvalid", err)
	}
	if _, ok := f.get("secrets", JobName(spec.RunID, spec.Attempt)); ok {
		t.Error("the attempt's Secret stayed behind")
	}
}

// A finished Job stays (with its pods' logs) until someone deletes it, and
// the Secret it owns, with the attempt's credential, stayed as long. The
// sweep deletes the Secret of a finished Job and leaves a running one's,
// and a Submit of the finished attempt (a controller restarted) does not
// write it again.
func TestSweepDeletesTheSecretOfAFinishedJob(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	done, running := secretSpec(), secretSpec()
	running.RunID = "run-still"
	for _, s := range []backend.Spec{done, running} {
		if _, err := b.Submit(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	doneJob, runningJob := JobName(done.RunID, done.Attempt), JobName(running.RunID, running.Attempt)
	for _, name := range []string{doneJob, runningJob} {
		sec, ok := f.get("secrets", name)
		job, _ := f.get("jobs", name)
		if !ok || !secretOwnedBy(sec, job) {
			t.Fatalf("after Submit, Secret %s is not there and owned by its Job: %v", name, sec)
		}
	}
	// The Job controller marks the first Job complete.
	f.mu.Lock()
	job := f.objs["jobs"][doneJob]
	f.rv++
	meta(job)["resourceVersion"] = strconv.Itoa(f.rv)
	job["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Complete", "status": "True"}}}
	f.notify("jobs", "MODIFIED", job)
	f.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := b.Status(ctx, doneJob); err == nil && st.State == backend.Succeeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Job's completion never reached the watch cache")
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := b.SweepSecrets(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sec, ok := f.get("secrets", doneJob); ok {
		t.Errorf("the sweep left the Secret of the finished Job (with the credential): %v", meta(sec))
	}
	if _, ok := f.get("secrets", runningJob); !ok {
		t.Error("the sweep deleted the Secret of a running Job")
	}
	if res.Finished != 1 || res.Deleted != 0 {
		t.Errorf("sweep %+v; want 1 Secret of a finished Job deleted and no orphan", res)
	}
	if h, err := b.Submit(ctx, done); err != nil || h != doneJob {
		t.Fatalf("Submit of the finished attempt again: %q, %v", h, err)
	}
	if _, ok := f.get("secrets", doneJob); ok {
		t.Error("a Submit of the finished attempt wrote its Secret again")
	}
}

// Someone who may write Jobs in the namespace deletes the attempt's Job and
// makes another under its name (with Meridian's label, so that the watch
// takes it in), which completes. That Job is not the attempt's: Status does
// not report its success as the attempt's but the attempt lost, Logs do not
// hand its pods' output to the attempt's user, and Cancel leaves it alone.
func TestAJobMadeAgainUnderTheAttemptsNameIsNotTheAttempts(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	spec := secretSpec()
	h, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	old := f.objs["jobs"][h]
	delete(f.objs["jobs"], h)
	f.notify("jobs", "DELETED", old)
	f.mu.Unlock()
	f.put("jobs", map[string]any{"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": h, "namespace": "ns",
			"labels":      map[string]any{LabelManagedBy: managedBy, LabelAttempt: strconv.Itoa(spec.Attempt)},
			"annotations": map[string]any{AnnotationRunID: "someone-else"}},
		"spec":   map[string]any{"parallelism": 1},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Complete", "status": "True"}}}})
	f.put("pods", map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": h + "-x", "namespace": "ns",
			"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: "planted-uid", jobNameLabel: h},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": h, "uid": "planted-uid", "controller": true}}},
		"spec":   map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": ContainerName}}},
		"status": map[string]any{"phase": "Succeeded"}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		job, ok := b.watch.job(h)
		if ok && job.UID == "planted-uid" && len(b.watch.podsOf(job)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other Job and its pod never reached the watch cache")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := b.Status(ctx, h)
	if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "another made under its name") {
		t.Errorf("Status = %+v, %v; want Lost, saying the Job was made again by another", st, err)
	}
	// (The fake answers a pod's log with the pod.)
	rc, err := b.Logs(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || len(out) != 0 {
		t.Errorf("Logs handed over %d bytes of the other Job's pods (%.80q), %v; want none", len(out), out, err)
	}
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.get("jobs", h); !ok {
		t.Error("Cancel deleted the other Job")
	}
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Lost {
		t.Errorf("Status after Cancel = %+v, %v; want Lost still", st, err)
	}
}

// A Submit whose context ends while its Job is being created (the caller's
// deadline) and whose Job the API server did not create deletes the Secret
// it wrote all the same, rather than leave the credential for the sweep's
// grace.
func TestSubmitCutOffLeavesNoSecret(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onCreate = func(resource string, obj map[string]any) (int, string) {
		if resource != "jobs" {
			return 0, ""
		}
		// Not created after all, and the caller gives up meanwhile.
		delete(f.objs["jobs"], fmt.Sprint(meta(obj)["name"]))
		f.notify("jobs", "DELETED", obj)
		cancel()
		time.Sleep(100 * time.Millisecond)
		return http.StatusInternalServerError, "InternalError"
	}
	spec := secretSpec()
	if _, err := b.Submit(ctx, spec); err == nil {
		t.Fatal("Submit succeeded; the fake refused its Job")
	}
	name := JobName(spec.RunID, spec.Attempt)
	if sec, ok := f.get("secrets", name); ok {
		t.Fatalf("the Submit cut off left its Secret (with the credential): %v", meta(sec))
	}
}

// putPodOf puts the pod NAME-p of Job name, on node n1, with status.
func (f *fakeAPI) putPodOf(name string, status map[string]any) {
	job, _ := f.get("jobs", name)
	f.put("pods", map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name + "-p", "namespace": "ns",
			"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: meta(job)["uid"], jobNameLabel: name},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": meta(job)["uid"], "controller": true}}},
		"spec":   map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": ContainerName, "image": "img"}}},
		"status": status})
}
