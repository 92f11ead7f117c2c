package auth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"sigs.k8s.io/yaml"
)

// ErrUnauthenticated means the request carried no valid credentials. It is
// answered with HTTP 401 (or a refused websocket init), never as a GraphQL
// error code, so it is not one of release's sentinels.
var ErrUnauthenticated = errors.New("unauthenticated")

// OIDCConfig configures ID token validation.
type OIDCConfig struct {
	// Issuer is the issuer URL; its discovery document and keys are fetched at start.
	Issuer string `json:"issuer"`
	// ClientID is the audience ID tokens must be issued for.
	ClientID string `json:"clientID"`
	// UsernameClaim names the subject claim ("sub" by default, e.g. "email").
	UsernameClaim string `json:"usernameClaim,omitempty"`
	// GroupsClaim names the groups claim ("groups" by default).
	GroupsClaim string `json:"groupsClaim,omitempty"`
	// CAFile holds extra CAs for reaching the issuer.
	CAFile string `json:"caFile,omitempty"`
}

// Config configures authentication.
type Config struct {
	// TokensFile lists static bearer tokens by SHA-256 hash (see TokenEntry).
	TokensFile string      `json:"tokensFile,omitempty"`
	OIDC       *OIDCConfig `json:"oidc,omitempty"`
	// Anonymous lets requests without credentials in as AnonymousSubject.
	Anonymous bool `json:"anonymous,omitempty"`
}

// TokenEntry is one line of the tokens file: a YAML list of
//
//   - sha256: <hex SHA-256 of the token>   # e.g. printf %s "$TOKEN" | sha256sum
//     subject: alice
//     groups: [dev]
type TokenEntry struct {
	SHA256  string   `json:"sha256"`
	Subject string   `json:"subject"`
	Groups  []string `json:"groups,omitempty"`
}

// HashToken is the tokens file's hash of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authenticator turns request credentials into identities.
type Authenticator struct {
	tokens        map[string]Identity // by hex SHA-256
	verifier      *oidc.IDTokenVerifier
	client        *http.Client
	usernameClaim string
	groupsClaim   string
	anonymous     bool
}

// LoadTokens reads a tokens file, naming the entry at fault.
func LoadTokens(path string) (map[string]Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokensFile: %w", err)
	}
	var entries []TokenEntry
	if err := yaml.UnmarshalStrict(b, &entries); err != nil {
		return nil, fmt.Errorf("tokensFile %s: %w", path, err)
	}
	out := map[string]Identity{}
	for i, e := range entries {
		h := strings.ToLower(strings.TrimSpace(e.SHA256))
		if raw, err := hex.DecodeString(h); err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("tokensFile %s: [%d].sha256: not a hex SHA-256 digest", path, i)
		}
		if e.Subject == "" {
			return nil, fmt.Errorf("tokensFile %s: [%d].subject: missing", path, i)
		}
		if _, dup := out[h]; dup {
			return nil, fmt.Errorf("tokensFile %s: [%d].sha256: duplicate token", path, i)
		}
		out[h] = Identity{Subject: e.Subject, Groups: e.Groups, Method: "token"}
	}
	return out, nil
}

// NewAuthenticator reads the tokens file and, with OIDC configured, fetches
// the issuer's discovery document (so a wrong issuer stops helmgraph at start).
func NewAuthenticator(ctx context.Context, cfg Config) (*Authenticator, error) {
	a := &Authenticator{tokens: map[string]Identity{}, anonymous: cfg.Anonymous}
	if cfg.TokensFile != "" {
		t, err := LoadTokens(cfg.TokensFile)
		if err != nil {
			return nil, err
		}
		a.tokens = t
	}
	if o := cfg.OIDC; o != nil {
		if o.Issuer == "" {
			return nil, errors.New("oidc.issuer: missing")
		}
		if o.ClientID == "" {
			return nil, errors.New("oidc.clientID: missing (the audience ID tokens are issued for)")
		}
		a.client = &http.Client{Timeout: 30 * time.Second}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("oidc.caFile: %w", err)
			}
			pool, _ := x509.SystemCertPool()
			if pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("oidc.caFile: %s holds no PEM certificate", o.CAFile)
			}
			a.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		}
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, a.client), o.Issuer)
		if err != nil {
			return nil, fmt.Errorf("oidc.issuer: %w", err)
		}
		// Only asymmetric algorithms: "none" and HMAC are refused.
		a.verifier = p.Verifier(&oidc.Config{ClientID: o.ClientID, SupportedSigningAlgs: []string{
			oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}})
		a.usernameClaim, a.groupsClaim = o.UsernameClaim, o.GroupsClaim
		if a.usernameClaim == "" {
			a.usernameClaim = "sub"
		}
		if a.groupsClaim == "" {
			a.groupsClaim = "groups"
		}
	}
	return a, nil
}

// AnonymousAllowed reports whether requests without credentials get in.
func (a *Authenticator) AnonymousAllowed() bool { return a.anonymous }

// Authenticate checks an Authorization header value ("Bearer <token>"). An
// empty header is anonymous when allowed. Errors never quote the token.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (Identity, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		if a.anonymous {
			return Identity{Subject: AnonymousSubject, Groups: []string{AnonymousGroup}, Anonymous: true, Method: "anonymous"}, nil
		}
		return Identity{}, fmt.Errorf("%w: missing bearer token (Authorization: Bearer <token>)", ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return Identity{}, fmt.Errorf("%w: the Authorization header is not a bearer token", ErrUnauthenticated)
	}
	if id, ok := a.tokens[HashToken(token)]; ok {
		return id, nil
	}
	if a.verifier != nil && strings.Count(token, ".") == 2 {
		return a.verifyOIDC(ctx, token)
	}
	return Identity{}, fmt.Errorf("%w: unknown bearer token", ErrUnauthenticated)
}

func (a *Authenticator) verifyOIDC(ctx context.Context, token string) (Identity, error) {
	idt, err := a.verifier.Verify(oidc.ClientContext(ctx, a.client), token)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: invalid ID token: %s", ErrUnauthenticated, redactToken(err.Error(), token))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: ID token claims: %v", ErrUnauthenticated, err)
	}
	sub, _ := claims[a.usernameClaim].(string)
	if sub == "" {
		return Identity{}, fmt.Errorf("%w: ID token has no string claim %q", ErrUnauthenticated, a.usernameClaim)
	}
	id := Identity{Subject: sub, Method: "oidc"}
	switch g := claims[a.groupsClaim].(type) {
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				id.Groups = append(id.Groups, s)
			}
		}
	case string:
		id.Groups = []string{g}
	}
	return id, nil
}

func redactToken(msg, token string) string { return strings.ReplaceAll(msg, token, "[token]") }
