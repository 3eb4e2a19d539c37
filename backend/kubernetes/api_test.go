package kubernetes

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	sigsjson "sigs.k8s.io/json"
)

// The backend's own API types (api.go) stand in for k8s.io/api's, which
// only the tests import. These tests hold them to k8s.io/api: every field
// has the JSON name, options and kind of the field it copies, and a value
// of every field survives the way through k8s.io/api's type and back.

var apiPairs = []struct {
	name     string
	ours     runtime.Object
	upstream any
}{
	{"Job", &apiJob{}, &batchv1.Job{}},
	{"JobList", &apiJobList{}, &batchv1.JobList{}},
	{"Pod", &apiPod{}, &corev1.Pod{}},
	{"PodList", &apiPodList{}, &corev1.PodList{}},
	{"Node", &apiNode{}, &corev1.Node{}},
	{"NodeList", &apiNodeList{}, &corev1.NodeList{}},
	{"SelfSubjectAccessReview", &accessReview{}, &authorizationv1.SelfSubjectAccessReview{}},
	{"Secret", &apiSecret{}, &corev1.Secret{}},
}

func TestAPITypesMatchKubernetes(t *testing.T) {
	for _, p := range apiPairs {
		t.Run(p.name, func(t *testing.T) {
			for _, problem := range compareTypes(reflect.TypeOf(p.ours).Elem(), reflect.TypeOf(p.upstream).Elem(), p.name) {
				t.Error(problem)
			}
		})
	}
}

func TestAPITypesAreRegisteredUnderTheirKinds(t *testing.T) {
	for _, p := range apiPairs {
		gvks, _, err := scheme.ObjectKinds(p.ours)
		if err != nil {
			t.Errorf("%s: %v", p.name, err)
			continue
		}
		if len(gvks) != 1 || gvks[0].Kind != p.name {
			t.Errorf("%s: registered as %v", p.name, gvks)
		}
		want := reflect.TypeOf(p.upstream).Elem().PkgPath() // k8s.io/api/GROUP/v1
		group := gvks[0].Group
		if group == "" {
			group = "core"
		}
		if !strings.HasSuffix(want, "/"+strings.TrimSuffix(group, ".k8s.io")+"/"+gvks[0].Version) {
			t.Errorf("%s: registered as %v, but k8s.io/api has it in %s", p.name, gvks[0], want)
		}
	}
}

// compareTypes lists how ours differs from the k8s.io/api type it copies.
func compareTypes(ours, up reflect.Type, path string) []string {
	if ours == up {
		return nil // the same apimachinery type (ObjectMeta, Quantity, ...)
	}
	if ours.Kind() != up.Kind() {
		return []string{fmt.Sprintf("%s: %s here, %s in k8s.io/api", path, ours.Kind(), up.Kind())}
	}
	switch ours.Kind() {
	case reflect.Pointer, reflect.Slice:
		return compareTypes(ours.Elem(), up.Elem(), path+"[]")
	case reflect.Map:
		if ours.Key().Kind() != up.Key().Kind() {
			return []string{fmt.Sprintf("%s: map key %s here, %s in k8s.io/api", path, ours.Key().Kind(), up.Key().Kind())}
		}
		return compareTypes(ours.Elem(), up.Elem(), path+"{}")
	case reflect.Struct:
		upFields := jsonFields(up)
		var problems []string
		for name, f := range jsonFields(ours) {
			u, ok := upFields[name]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s.%s: no such field in %s", path, name, up))
			case f.opts != u.opts:
				problems = append(problems, fmt.Sprintf("%s.%s: json options %q here, %q in k8s.io/api", path, name, f.opts, u.opts))
			default:
				problems = append(problems, compareTypes(f.typ, u.typ, path+"."+name)...)
			}
		}
		return problems
	}
	return nil
}

type jsonField struct {
	typ  reflect.Type
	opts string
}

// jsonFields maps the JSON names of a struct's fields, inlined ones
// included, to their types and options.
func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = jsonField{typ: f.Type, opts: opts}
	}
	return out
}

func TestAPIValuesSurviveKubernetesTypes(t *testing.T) {
	for _, p := range apiPairs {
		t.Run(p.name, func(t *testing.T) {
			orig := reflect.New(reflect.TypeOf(p.ours).Elem())
			fill(orig.Elem(), p.name)
			data, err := json.Marshal(orig.Interface())
			if err != nil {
				t.Fatal(err)
			}
			// Every field sent is one that k8s.io/api knows, by its exact
			// name: the API server's decoder, as this one, tells case.
			up := reflect.New(reflect.TypeOf(p.upstream).Elem()).Interface()
			strict, err := sigsjson.UnmarshalStrict(data, up)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range strict {
				t.Errorf("k8s.io/api's %s: %v", p.name, e)
			}
			// And comes back from it unchanged.
			data2, err := json.Marshal(up)
			if err != nil {
				t.Fatal(err)
			}
			back := reflect.New(reflect.TypeOf(p.ours).Elem())
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data2, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(orig.Interface(), back.Interface(), quantityEqual, cmp.AllowUnexported(apiJob{})); d != "" {
				t.Errorf("through k8s.io/api and back (-sent +back):\n%s", d)
			}
		})
	}
}

func TestAPIDeepCopyShares(t *testing.T) {
	for _, p := range apiPairs {
		t.Run(p.name, func(t *testing.T) {
			orig := reflect.New(reflect.TypeOf(p.ours).Elem())
			fill(orig.Elem(), p.name)
			obj := orig.Interface().(runtime.Object)
			cp := obj.DeepCopyObject()
			if d := cmp.Diff(obj, cp, quantityEqual, cmp.AllowUnexported(apiJob{})); d != "" {
				t.Fatalf("copy differs (-orig +copy):\n%s", d)
			}
			for _, s := range shared(reflect.ValueOf(obj).Elem(), reflect.ValueOf(cp).Elem(), p.name) {
				t.Errorf("%s is shared between the object and its copy", s)
			}
		})
	}
}

var quantityEqual = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

var (
	quantityType   = reflect.TypeOf(resource.Quantity{})
	timeType       = reflect.TypeOf(metav1.Time{})
	objectMetaType = reflect.TypeOf(metav1.ObjectMeta{})
	listMetaType   = reflect.TypeOf(metav1.ListMeta{})
	typeMetaType   = reflect.TypeOf(metav1.TypeMeta{})
)

// fill sets every field of v to a value that is not zero, so that a field
// lost on the way shows.
func fill(v reflect.Value, path string) {
	switch v.Type() {
	case quantityType:
		v.Set(reflect.ValueOf(resource.MustParse(fmt.Sprint(len(path)))))
		return
	case timeType:
		// Whole seconds: the API's times are written to the second.
		v.Set(reflect.ValueOf(metav1.NewTime(time.Unix(1_800_000_000+int64(len(path)), 0).UTC())))
		return
	case typeMetaType:
		return // set by the scheme's encoder
	case listMetaType:
		v.Set(reflect.ValueOf(metav1.ListMeta{ResourceVersion: "rv-" + path}))
		return
	case objectMetaType:
		now := metav1.NewTime(time.Unix(1_800_000_000, 0).UTC())
		v.Set(reflect.ValueOf(metav1.ObjectMeta{
			Name: "n-" + path, Namespace: "ns", UID: types.UID("uid-" + path), ResourceVersion: "7",
			CreationTimestamp: now, DeletionTimestamp: &now,
			Labels: map[string]string{"l": path}, Annotations: map[string]string{"a": path},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "j", UID: "u"}},
		}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s-" + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(path)))
	case reflect.Uint8:
		v.SetUint(uint64(len(path)))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for i := range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			fill(k, fmt.Sprintf("%s{%d}", path, i))
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, fmt.Sprintf("%s{%d}", path, i))
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	default:
		panic("fill: no value for " + path + " of kind " + v.Kind().String())
	}
}

// shared lists the pointers, slices and maps that a and b have in common.
func shared(a, b reflect.Value, path string) []string {
	if a.Type() == quantityType || a.Type() == timeType {
		return nil
	}
	var out []string
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return nil
		}
		if a.Pointer() == b.Pointer() {
			out = append(out, path)
		}
		return append(out, shared(a.Elem(), b.Elem(), path)...)
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			out = append(out, path)
		}
		for i := range min(a.Len(), b.Len()) {
			out = append(out, shared(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Map:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			out = append(out, path)
		}
		for _, k := range a.MapKeys() {
			if bv := b.MapIndex(k); bv.IsValid() {
				out = append(out, shared(a.MapIndex(k), bv, fmt.Sprintf("%s{%v}", path, k))...)
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				out = append(out, shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)...)
			}
		}
	}
	return out
}
