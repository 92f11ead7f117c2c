package helm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/helmgraph/helmgraph/release"
)

// classify wraps an error from the API server with the release sentinel that
// says what the caller can do about it, keeping the original in the chain.
// what names the object or operation, e.g. `list releases in cluster "a"`.
// Messages carry what client-go put in them (method, URL, cause), never
// credentials: client-go does not put tokens or certificates into errors.
func classify(what string, err error) error {
	if sentinel := sentinelFor(err); sentinel != nil {
		return fmt.Errorf("%s: %w: %w", what, sentinel, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func sentinelFor(err error) error {
	var (
		urlErr    *url.Error
		netErr    net.Error
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
	)
	switch {
	case apierrors.IsNotFound(err):
		return release.ErrNotFound
	case apierrors.IsForbidden(err):
		return release.ErrForbidden
	case apierrors.IsUnauthorized(err):
		// The cluster rejected helmgraph's own credentials: nothing a caller
		// can fix, the cluster is unusable until its configuration is.
		return release.ErrClusterUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return release.ErrClusterUnavailable
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		return release.ErrClusterUnavailable
	case errors.As(err, &urlErr), errors.As(err, &netErr),
		errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr),
		errors.As(err, &verifyErr), errors.As(err, &recordErr):
		return release.ErrClusterUnavailable
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code >= 500 {
		return release.ErrClusterUnavailable
	}
	return nil
}
