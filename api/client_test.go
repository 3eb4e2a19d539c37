package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// An answer longer than the client reads is an error that says so, not its
// first maxAnswer bytes passed off as the whole: a log would lose its end
// without a word, a JSON answer would fail to decode for no clear reason.
func TestClientRefusesOversizedAnswer(t *testing.T) {
	big := bytes.Repeat([]byte("x"), maxAnswer+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := big
		if strings.Contains(r.URL.Path, "/exact/") {
			b = big[:maxAnswer]
		}
		w.Header().Set("X-Log-Size", strconv.Itoa(len(b)))
		w.Write(b)
	}))
	defer srv.Close()
	c := NewClient(srv.URL, tokA)
	b, _, err := c.Logs(context.Background(), "big", 0)
	if err == nil {
		t.Fatalf("Logs read %d of %d bytes without an error", len(b), len(big))
	}
	if !errors.Is(err, ErrAnswerTooLarge) || !strings.Contains(err.Error(), "over "+strconv.Itoa(maxAnswer)+" bytes") {
		t.Errorf("error %q does not say the answer was over the %d-byte limit", err, maxAnswer)
	}
	if _, err := c.Health(context.Background()); !errors.Is(err, ErrAnswerTooLarge) {
		t.Errorf("Health: error %v, want ErrAnswerTooLarge", err)
	}
	// An answer of exactly the limit is read whole.
	b, _, err = c.Logs(context.Background(), "exact", 0)
	if err != nil || len(b) != maxAnswer {
		t.Errorf("Logs of a %d-byte answer: %d bytes, %v", maxAnswer, len(b), err)
	}
}

// TestClientErrorHidesPassword: a password written into the server's
// address (https://user:secret@host) is not in the client's errors; the
// error named the address as given, so a refused connection printed it.
func TestClientErrorHidesPassword(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1)
	srv.Close() // the connection is refused
	c := NewClient(base, tokA)
	_, err := c.Health(context.Background())
	if err == nil {
		t.Fatal("Health of a closed server: no error")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "user:xxxxx@") {
		t.Errorf("the error does not name the server: %v", err)
	}
	err = c.FollowLogs(context.Background(), "r1", 0, io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("following logs: %v", err)
	}
}
