package dataset

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/minio/minio-go/v7"

	"meridian.dev/meridian/seal"
)

// Transient reports whether err is a store's passing failure, which the
// same request may well get past a while later: the network (a connection
// refused or reset, a name that did not resolve, a timeout), a deadline,
// or a server's own fault (an S3 answer of 5xx, 408 or 429, or a code S3
// gives for a busy server). What the store said about the objects
// themselves is not: one that is not there, a manifest that does not
// authenticate or is not the version recorded, an object larger than it
// should be, a listing without end, a refusal (403, a missing bucket).
// Those would be met again, and a caller that waits for them waits for
// nothing.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	// What the store answered about the data counts first, even when a
	// network error is wrapped along with it.
	for _, p := range []error{ErrNotFound, ErrManifestPin, ErrManifestAuth, seal.ErrAuth, ErrTooLarge,
		ErrListTooLong, ErrForeignKey, ErrResponseTooLarge, ErrNotRegular, ErrEscape} {
		if errors.Is(err, p) {
			return false
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "InternalError", "ServiceUnavailable", "SlowDown", "SlowDownRead", "SlowDownWrite",
			"RequestTimeout", "Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestThrottled":
			return true
		}
		return er.StatusCode >= 500 || er.StatusCode == http.StatusRequestTimeout || er.StatusCode == http.StatusTooManyRequests
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.EHOSTDOWN, syscall.ENOTCONN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
