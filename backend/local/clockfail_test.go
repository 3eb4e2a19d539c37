package local_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// errProbe is the failure of a read of the state directory's filesystem
// clock the tests inject.
var errProbe = errors.New("clock probe refused")

// newLogged is newLocal with the backend's log kept in the returned
// buffer.
func newLogged(t *testing.T, dir string) (*local.Local, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	b, err := local.New(catalog.BackendSpec{}, dir, local.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return b, &log
}

// TestStartLogsTheFilesystemClockUnread: a start that could not read the
// state directory's filesystem clock removed no temporary file killed
// writers left, rightly, but said nothing, and they stayed for as long
// as it could not. It now logs it, once.
func TestStartLogsTheFilesystemClockUnread(t *testing.T) {
	undo := local.SetStartFileClockFailing(errProbe)
	defer undo()
	_, log := newLogged(t, t.TempDir())
	if n := strings.Count(log.String(), "no temporary file killed writers left is removed"); n != 1 {
		t.Fatalf("log of a start without the filesystem's clock: %q; want the failure told once", log.String())
	}
	if !strings.Contains(log.String(), errProbe.Error()) {
		t.Fatalf("log of a start without the filesystem's clock: %q; want its error", log.String())
	}
}
