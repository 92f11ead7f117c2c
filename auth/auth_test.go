package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/release"
)

func TestAuthOIDC(t *testing.T) {
	iss := testenv.NewOIDCIssuer(t)
	a, err := auth.NewAuthenticator(t.Context(), auth.Config{OIDC: &auth.OIDCConfig{Issuer: iss.URL, ClientID: "helmgraph", UsernameClaim: "email"}})
	if err != nil {
		t.Fatal(err)
	}
	good := iss.Token(iss.Claims("carol", "helmgraph", []string{"devs", "ops"}, time.Hour))
	id, err := a.Authenticate(t.Context(), "Bearer "+good)
	if err != nil {
		t.Fatalf("valid ID token refused: %v", err)
	}
	if id.Subject != "carol@example.test" || strings.Join(id.Groups, ",") != "devs,ops" || id.Method != "oidc" {
		t.Errorf("identity = %+v, want carol@example.test in devs, ops by oidc", id)
	}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"expired":         iss.Token(iss.Claims("carol", "helmgraph", nil, -time.Minute)),
		"wrong audience":  iss.Token(iss.Claims("carol", "someone-else", nil, time.Hour)),
		"wrong signature": testenv.SignRS256(other, iss.KID, iss.Claims("carol", "helmgraph", nil, time.Hour)),
		"unknown key":     testenv.SignRS256(other, "other-key", iss.Claims("carol", "helmgraph", nil, time.Hour)),
		"alg none":        testenv.UnsignedToken(iss.Claims("carol", "helmgraph", nil, time.Hour)),
		"tampered claims": good[:strings.Index(good, ".")+1] + strings.Split(testenv.UnsignedToken(iss.Claims("mallory", "helmgraph", []string{"admins"}, time.Hour)), ".")[1] + good[strings.LastIndex(good, "."):],
		"wrong issuer": testenv.SignRS256(iss.Key, iss.KID, func() map[string]any {
			c := iss.Claims("carol", "helmgraph", nil, time.Hour)
			c["iss"] = "https://evil.example"
			return c
		}()),
		"not a token":   "hello",
		"missing email": iss.Token(map[string]any{"iss": iss.URL, "sub": "x", "aud": "helmgraph", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}),
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := a.Authenticate(t.Context(), "Bearer "+tok)
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Authenticate(%s) error = %v, want ErrUnauthenticated", name, err)
			}
			if strings.Contains(err.Error(), tok) {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
	if _, err := a.Authenticate(t.Context(), ""); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("no credentials: error = %v, want ErrUnauthenticated (anonymous is off)", err)
	}
}

func TestAuthTokensFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens.yaml")
	os.WriteFile(file, []byte("- sha256: "+auth.HashToken("s3cret")+"\n  subject: alice\n  groups: [devs]\n"), 0o600)
	a, err := auth.NewAuthenticator(t.Context(), auth.Config{TokensFile: file, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(t.Context(), "Bearer s3cret")
	if err != nil || id.Subject != "alice" || id.Groups[0] != "devs" {
		t.Errorf("Authenticate(s3cret) = %+v, %v; want alice in devs", id, err)
	}
	for _, h := range []string{"Bearer wrong", "Basic czNjcmV0", "Bearer "} {
		if _, err := a.Authenticate(t.Context(), h); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) error = %v, want ErrUnauthenticated", h, err)
		}
	}
	if id, err := a.Authenticate(t.Context(), ""); err != nil || !id.Anonymous {
		t.Errorf("anonymous = %+v, %v; want anonymous identity", id, err)
	}

	for name, content := range map[string]string{
		"[0].sha256":    "- sha256: abc\n  subject: x\n",
		"[0].subject":   "- sha256: " + auth.HashToken("x") + "\n",
		"unknown field": "- sha256: " + auth.HashToken("x") + "\n  subject: x\n  token: x\n",
	} {
		os.WriteFile(file, []byte(content), 0o600)
		if _, err := auth.LoadTokens(file); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("LoadTokens(%s) error = %v, want one naming %s", name, err, name)
		}
	}
}

func TestAuthRules(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	write := func(s string) {
		os.WriteFile(file, []byte(s), 0o600)
		later := time.Now().Add(time.Second) // a new mtime even within the same second
		os.Chtimes(file, later, later)
	}
	write("rules:\n- groups: [devs]\n  clusters: [dev-*]\n  namespaces: [team-a, shared-*]\n  access: write\n- subjects: [root]\n  clusters: ['*']\n  namespaces: ['*']\n  access: admin\n")
	p, err := auth.LoadPolicy(file)
	if err != nil {
		t.Fatal(err)
	}
	alice := auth.Identity{Subject: "alice", Groups: []string{"devs"}}
	root := auth.Identity{Subject: "root"}
	tests := []struct {
		id          auth.Identity
		level       auth.Level
		cluster, ns string
		want        bool
	}{
		{alice, auth.Read, "dev-1", "team-a", true},
		{alice, auth.Write, "dev-1", "shared-x", true},
		{alice, auth.Admin, "dev-1", "team-a", false},
		{alice, auth.Read, "prod", "team-a", false},
		{alice, auth.Read, "dev-1", "team-b", false},
		{alice, auth.Admin, auth.Everywhere, auth.Everywhere, false},
		{root, auth.Admin, auth.Everywhere, auth.Everywhere, true},
		{auth.Identity{Subject: "bob"}, auth.Read, "dev-1", "team-a", false},
	}
	for _, tt := range tests {
		if got := p.Allowed(tt.id, tt.level, tt.cluster, tt.ns); got != tt.want {
			t.Errorf("Allowed(%s, %s, %s/%s) = %v, want %v", tt.id.Subject, tt.level, tt.cluster, tt.ns, got, tt.want)
		}
	}

	// The watch reloads a changed file; invalid rules keep the old ones.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { p.Watch(ctx, 20*time.Millisecond, nil, discard()); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	write("rules:\n- groups: [devs]\n  clusters: [prod]\n  namespaces: [team-a]\n  access: read\n")
	waitFor(t, func() bool { return p.Allowed(alice, auth.Read, "prod", "team-a") })
	if p.Allowed(alice, auth.Read, "dev-1", "team-a") {
		t.Errorf("after reload alice still reads dev-1")
	}
	write("rules:\n- groups: [devs]\n  clusters: [prod]\n  namespaces: [team-a]\n  access: superuser\n")
	if err := p.Reload(); err == nil || !strings.Contains(err.Error(), "rules[0].access") {
		t.Errorf("Reload(bad) error = %v, want one naming rules[0].access", err)
	}
	if !p.Allowed(alice, auth.Read, "prod", "team-a") {
		t.Errorf("invalid rules replaced the previous ones")
	}
}

func TestAuthGuardAudit(t *testing.T) {
	var buf bytes.Buffer
	p, err := auth.NewPolicy([]auth.Rule{{Subjects: []string{"alice"}, Clusters: []string{"c"}, Namespaces: []string{"n"}, Access: "read"}})
	if err != nil {
		t.Fatal(err)
	}
	g := &auth.Guard{Policy: p, Audit: auth.NewAuditor(&buf)}
	ctx := auth.WithIdentity(t.Context(), auth.Identity{Subject: "alice"})
	if err := g.Authorize(ctx, auth.Read, auth.Entry{Operation: "release", Cluster: "c", Namespace: "n"}); err != nil {
		t.Errorf("read allowed: %v", err)
	}
	err = g.Authorize(ctx, auth.Write, auth.Entry{Operation: "installRelease", Cluster: "c", Namespace: "n", Release: "r", Chart: "repo/app", ValuesDigest: auth.Digest("a: 1")})
	if !errors.Is(err, release.ErrForbidden) || release.ErrorCode(err) != "FORBIDDEN" {
		t.Fatalf("write: error = %v, want FORBIDDEN", err)
	}
	var e auth.Entry
	if err := json.Unmarshal(buf.Bytes(), &e); err != nil {
		t.Fatalf("audit line %q: %v", buf.String(), err)
	}
	if e.Subject != "alice" || e.Result != "denied" || e.Operation != "installRelease" || e.Release != "r" || !strings.HasPrefix(e.ValuesDigest, "sha256:") || e.Time.IsZero() {
		t.Errorf("audit entry = %+v", e)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestAuthSealer(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	key, err := auth.LoadKey(keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := auth.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Seal([]byte("pw"), []byte("repo a"))
	b, _ := s.Seal([]byte("pw"), []byte("repo a"))
	if bytes.Equal(a, b) || bytes.Contains(a, []byte("pw")) {
		t.Errorf("sealing is deterministic or in clear")
	}
	if got, err := s.Open(a, []byte("repo a")); err != nil || string(got) != "pw" {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(a, []byte("repo b")); err == nil {
		t.Errorf("a value sealed for repo a opens as repo b")
	}
	a[len(a)-1] ^= 1
	if _, err := s.Open(a, []byte("repo a")); err == nil {
		t.Errorf("a tampered value opens")
	}
	t.Setenv("HG_TEST_KEY", "too-short")
	if _, err := auth.LoadKey("", "HG_TEST_KEY"); err == nil || strings.Contains(err.Error(), "too-short") {
		t.Errorf("LoadKey(short env) = %v, want an error that does not quote the key", err)
	}
}
