package kubernetes

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"meridian.dev/meridian/backend"
)

// asPod is p as the backend reads it from the API server: k8s.io/api's
// Pod in its JSON, decoded into the backend's own type.
func asPod(t *testing.T, p corev1.Pod) *apiPod {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out apiPod
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestPodTimes: the Job's workload ran from its container's first start in
// any pod (the pod's own start when the container has none) to its last
// finish, and has an end only once the attempt is final and the container
// finished in every pod that started it. A sidecar's times do not count.
func TestPodTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	at := func(s int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(s) * time.Second)) }
	ptime := func(s int) *metav1.Time { v := at(s); return &v }
	pod := func(start *metav1.Time, states ...corev1.ContainerStatus) corev1.Pod {
		return corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p"},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, StartTime: start, ContainerStatuses: states}}
	}
	running := func(name string, s int) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(s)}}}
	}
	done := func(name string, s, e int) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, StartedAt: at(s), FinishedAt: at(e)}}}
	}
	waiting := corev1.ContainerStatus{Name: ContainerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	tests := []struct {
		name                   string
		state                  backend.State
		pods                   []corev1.Pod
		wantStarted, wantEnded *metav1.Time
	}{
		{"running", backend.Running, []corev1.Pod{pod(ptime(1), running(ContainerName, 5))}, ptime(5), nil},
		{"succeeded", backend.Succeeded, []corev1.Pod{pod(ptime(1), done(ContainerName, 5, 65))}, ptime(5), ptime(65)},
		{"sidecar not counted", backend.Succeeded, []corev1.Pod{pod(ptime(1), done("sidecar", 2, 99), done(ContainerName, 5, 65))}, ptime(5), ptime(65)},
		{"pod start when the container has none", backend.Running, []corev1.Pod{pod(ptime(1), waiting)}, ptime(1), nil},
		{"across pods", backend.Failed, []corev1.Pod{pod(ptime(1), done(ContainerName, 7, 30)), pod(ptime(2), done(ContainerName, 4, 40))}, ptime(4), ptime(40)},
		{"one pod still running", backend.Failed, []corev1.Pod{pod(ptime(1), done(ContainerName, 7, 30)), pod(ptime(2), running(ContainerName, 4))}, ptime(4), nil},
		{"final, not yet ended", backend.Succeeded, []corev1.Pod{pod(ptime(1), running(ContainerName, 5))}, ptime(5), nil},
		{"pending says nothing", backend.Pending, []corev1.Pod{pod(ptime(1), running(ContainerName, 5))}, nil, nil},
		{"no pods", backend.Lost, nil, nil, nil},
		{"no times", backend.Running, []corev1.Pod{pod(nil, waiting)}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pods []*apiPod
			for _, p := range tt.pods {
				pods = append(pods, asPod(t, p))
			}
			st := podTimes(backend.Status{State: tt.state}, pods)
			var ws, we time.Time
			if tt.wantStarted != nil {
				ws = tt.wantStarted.Time
			}
			if tt.wantEnded != nil {
				we = tt.wantEnded.Time
			}
			if st.State != tt.state || !st.Started.Equal(ws) || !st.Ended.Equal(we) {
				t.Fatalf("%+v, want %s from %v to %v", st, tt.state, ws, we)
			}
		})
	}
}

// TestPodTimesOutOfRange: a time the API server gives past the year 9999
// (9999-12-31 with a zone offset a day behind UTC) or before 1971 is no
// job's time: it is left out, and the status it would have been part of
// still encodes, as the job's final record must.
func TestPodTimesOutOfRange(t *testing.T) {
	raw := `{"status":{"startTime":"1900-01-01T00:00:00Z","containerStatuses":[{"name":"` + ContainerName + `",
		"state":{"terminated":{"exitCode":0,"startedAt":"2026-12-04T10:00:00Z","finishedAt":"9999-12-31T23:59:59-23:59"}}}]}}`
	var p apiPod
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatal(err)
	}
	st := podTimes(backend.Status{State: backend.Succeeded}, []*apiPod{&p})
	if want := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC); !st.Started.Equal(want) || !st.Ended.IsZero() {
		t.Errorf("started %s, ended %s; want %s and no end", st.Started, st.Ended, want)
	}
	if _, err := json.Marshal(st); err != nil {
		t.Errorf("the status does not encode: %v", err)
	}
	p.Status.ContainerStatuses = nil
	if st := podTimes(backend.Status{State: backend.Running}, []*apiPod{&p}); !st.Started.IsZero() {
		t.Errorf("a pod started in 1900 gives a start of %s, want none", st.Started)
	}
}
