package auth

import "context"

// Identity is an authenticated caller.
type Identity struct {
	// Subject names the caller: a token's subject or the OIDC username claim.
	Subject string
	Groups  []string
	// Anonymous marks a caller without credentials (only when allowed).
	Anonymous bool
	// Method is how the caller authenticated: token, oidc or anonymous.
	Method string
}

// AnonymousSubject and AnonymousGroup are what rules name to grant
// anonymous callers access.
const (
	AnonymousSubject = "system:anonymous"
	AnonymousGroup   = "system:unauthenticated"
)

type identityKey struct{}

// WithIdentity returns ctx carrying the request's caller.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the request's caller, if it was authenticated.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
