package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// pagedPods is an API server's list of pods in pages of the limit asked
// for, whose continue token is "v<version>:<offset>". Each list begins at
// a new version (the first page's), and expired has a continued page
// refused with 410 Gone, as the API server refuses one whose version it
// has compacted: with the token to go on inconsistently at the newest
// version, as the API server offers, which the backend must not use.
type pagedPods struct {
	pods    int
	mu      sync.Mutex
	version int
	asked   []string // the continue token of each request ("" for a first page)
	expired func(version, offset int) bool
}

const inconsistentToken = "inconsistent"

func (s *pagedPods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	token := q.Get("continue")
	s.asked = append(s.asked, token)
	version, offset := 0, 0
	if token == "" {
		s.version++
		version = s.version
	} else if _, err := fmt.Sscanf(token, "v%d:%d", &version, &offset); err != nil {
		s.mu.Unlock()
		writeStatus(w, http.StatusBadRequest, "BadRequest", "continue token "+strconv.Quote(token)+" is not one of this server's")
		return
	}
	expired := token != "" && s.expired(version, offset)
	s.mu.Unlock()
	if expired {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1",
			"metadata": map[string]any{"continue": inconsistentToken}, "status": "Failure", "reason": "Expired", "code": 410,
			"message": "The provided continue parameter is too old to display a consistent list result."})
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = s.pods
	}
	end := min(offset+limit, s.pods)
	items := make([]any, 0, end-offset)
	for i := offset; i < end; i++ {
		items = append(items, map[string]any{"metadata": map[string]any{"name": fmt.Sprintf("pod-%05d", i), "namespace": "ns",
			"uid": fmt.Sprintf("uid-%05d", i)}})
	}
	listMeta := map[string]any{"resourceVersion": strconv.Itoa(version)}
	if end < s.pods {
		listMeta["continue"] = fmt.Sprintf("v%d:%d", version, end)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"apiVersion": "v1", "kind": "PodList", "metadata": listMeta, "items": items})
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code})
}

// pagedClient is the backend's core client on s.
func pagedClient(t *testing.T, s *pagedPods) *rest.RESTClient {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	rc := &rest.Config{Host: srv.URL, QPS: -1}
	rc.Wrap(boundResponses)
	cs, err := newClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs.core
}

// listNames lists s's pods with listPages, returning the names read in
// the list that ended (reset drops what an expired one read) and how many
// times it was reset.
func listNames(t *testing.T, s *pagedPods) (names []string, resets int, err error) {
	err = listPages(context.Background(), pagedClient(t, s), resourcePods, "ns", metav1.ListOptions{}, func() {
		names = nil
		resets++
	}, func(l *apiPodList) error {
		for i := range l.Items {
			names = append(names, l.Items[i].Name)
		}
		return nil
	})
	return names, resets, err
}

// TestListPagesStartsOverWhenItsVersionExpires: a list of three pages
// whose second page is refused with 410 Gone (its version compacted, as
// etcd does every five minutes) is read again from the first page, once,
// at a version of its own: every pod once, none from the list given up,
// and the API server's token to go on at another version is not used.
// The list failed with the API server's refusal.
func TestListPagesStartsOverWhenItsVersionExpires(t *testing.T) {
	s := &pagedPods{pods: 2*listPageSize + 10, expired: func(version, offset int) bool { return version == 1 }}
	names, resets, err := listNames(t, s)
	if err != nil {
		t.Fatalf("listPages: %v", err)
	}
	if resets != 1 {
		t.Errorf("reset %d times; want once", resets)
	}
	if len(names) != s.pods {
		t.Fatalf("%d pods listed; want %d", len(names), s.pods)
	}
	for i, n := range names {
		if want := fmt.Sprintf("pod-%05d", i); n != want {
			t.Fatalf("pod %d listed is %s; want %s", i, n, want)
		}
	}
	want := []string{"", "v1:250", "", "v2:250", "v2:500"}
	if strings.Join(s.asked, ",") != strings.Join(want, ",") {
		t.Errorf("pages asked for with continue tokens %q; want %q", s.asked, want)
	}
}

// TestListPagesExpiredTwiceFails: a list whose version expires again
// after it started over fails, saying so, after two readings of its
// first page and none more; the caller does not take what it read for the
// namespace's pods.
func TestListPagesExpiredTwiceFails(t *testing.T) {
	s := &pagedPods{pods: 3 * listPageSize, expired: func(version, offset int) bool { return offset == 2*listPageSize }}
	_, resets, err := listNames(t, s)
	if err == nil {
		t.Fatal("listPages succeeded; want an error")
	}
	if !errors.Is(err, errListExpired) {
		t.Errorf("error %q is not errListExpired", err)
	}
	for _, w := range []string{"list of pods", "410 Gone", "twice", "started over once"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if resets != 1 {
		t.Errorf("reset %d times; want once", resets)
	}
	if want := []string{"", "v1:250", "v1:500", "", "v2:250", "v2:500"}; strings.Join(s.asked, ",") != strings.Join(want, ",") {
		t.Errorf("pages asked for with continue tokens %q; want %q", s.asked, want)
	}
}

// TestListPagesExpiredNotStartedOverWithoutReset: a caller that acts on
// each page as it comes (reset nil) is not handed the pages again: the
// first expiry ends the list.
func TestListPagesExpiredNotStartedOverWithoutReset(t *testing.T) {
	s := &pagedPods{pods: 2 * listPageSize, expired: func(version, offset int) bool { return true }}
	n := 0
	err := listPages(context.Background(), pagedClient(t, s), resourcePods, "ns", metav1.ListOptions{}, nil, func(l *apiPodList) error {
		n += len(l.Items)
		return nil
	})
	if !errors.Is(err, errListExpired) {
		t.Fatalf("listPages: %v; want errListExpired", err)
	}
	if n != listPageSize || len(s.asked) != 2 {
		t.Errorf("%d pods handed on in %d requests; want %d in 2", n, len(s.asked), listPageSize)
	}
}

// TestListPagesFirstPageGoneNotStartedOver: a first page refused with 410
// (a version the caller asked for, compacted: the watch cache's reflector
// lists again at the newest one itself) is the caller's to handle:
// reading it again would be refused again.
func TestListPagesFirstPageGoneNotStartedOver(t *testing.T) {
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked++
		writeStatus(w, http.StatusGone, "Expired", "too old resource version: 1 (9)")
	}))
	t.Cleanup(srv.Close)
	rc := &rest.Config{Host: srv.URL, QPS: -1}
	rc.Wrap(boundResponses)
	cs, err := newClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	resets := 0
	err = listPages(context.Background(), cs.core, resourcePods, "ns", metav1.ListOptions{ResourceVersion: "1"}, func() { resets++ },
		func(*apiPodList) error { return nil })
	if err == nil || errors.Is(err, errListExpired) || resets != 0 || asked != 1 {
		t.Errorf("listPages: %v after %d requests and %d resets; want the API server's refusal after one and none", err, asked, resets)
	}
}
