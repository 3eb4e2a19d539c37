package dataset

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
// gives for a busy server, a server that stopped sending an object's
// bytes, or sent them too slowly: ErrReadIdle, ErrReadDeadline), or the
// audit log's key records not read (ErrKeyLogUnread). What the store said about the objects
// themselves is not: one that is not there, a manifest that does not
// authenticate or is not the version recorded, an object larger than it
// should be, a listing without end, a refusal (403, a missing bucket).
// Those would be met again, and a caller that waits for them waits for
// nothing.
func Transient(err error) bool {
	if err == nil || Refused(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrReadIdle) || errors.Is(err, ErrReadDeadline) ||
		errors.Is(err, ErrKeyLogUnread) {
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

// Refused reports whether err holds an answer that would be met again
// however long one waited, whatever else it holds: what the store said
// about the data (an object that is not there, a manifest that does not
// authenticate or is not the version recorded, an object larger than it
// should be, a listing without end), or a certificate the connection
// does not trust (a store's TLS that fails verification is a
// configuration or an interception, not a passing fault).
func Refused(err error) bool {
	for _, p := range []error{ErrNotFound, ErrManifestPin, ErrManifestAuth, seal.ErrAuth, ErrTooLarge,
		ErrListTooLong, ErrForeignKey, ErrResponseTooLarge, ErrNotRegular, ErrEscape} {
		if errors.Is(err, p) {
			return true
		}
	}
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		host      x509.HostnameError
		verify    *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify)
}
