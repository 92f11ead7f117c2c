package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helmgraph/helmgraph/auth"
)

const baseCluster = "clusters:\n- name: east\n  driver: helm\n  kubeconfig: kube/config\n"

func TestAuthConfig(t *testing.T) {
	path := configDir(t, baseCluster+`
auth:
  tokensFile: secrets/tokens.yaml
  rulesFile: rules.yaml
audit:
  path: audit.jsonl
api:
  maxDepth: 9
  introspection: false
  cors: [https://ui.example.com]
  rateLimit: {requestsPerSecond: 5, burst: 10}
`)
	dir := filepath.Dir(path)
	os.MkdirAll(filepath.Join(dir, "secrets"), 0o700)
	os.WriteFile(filepath.Join(dir, "secrets", "tokens.yaml"), []byte("- sha256: "+auth.HashToken("t0k")+"\n  subject: alice\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("rules:\n- subjects: [alice]\n  clusters: ['*']\n  namespaces: ['*']\n  access: read\n"), 0o600)
	fc, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if fc.Auth.TokensFile != filepath.Join(dir, "secrets/tokens.yaml") || fc.Auth.RulesFile != filepath.Join(dir, "rules.yaml") || fc.Audit.Path != filepath.Join(dir, "audit.jsonl") {
		t.Errorf("paths not joined to the config's directory: %+v %+v", fc.Auth, fc.Audit)
	}
	api, err := fc.API.options()
	if err != nil || api.MaxDepth != 9 || !api.DisableIntrospection || api.RatePerSecond != 5 || api.RateBurst != 10 {
		t.Errorf("api options = %+v, %v", api, err)
	}
	g, stop, err := guard(t.Context(), fc.Auth, fc.Audit, slog.New(slog.DiscardHandler), &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	id, err := g.Authn.Authenticate(t.Context(), "Bearer t0k")
	if err != nil || !g.Policy.Allowed(id, auth.Read, "east", "x") {
		t.Errorf("alice: %+v, %v; want read access", id, err)
	}
}

func TestAuthConfigErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"unknown auth field", "auth:\n  tokenfile: x\n", `unknown field "tokenfile"`},
		{"bad access", "auth:\n  anonymous: true\n  rules:\n  - groups: [a]\n    clusters: ['*']\n    namespaces: ['*']\n    access: owner\n", "auth.rules[0].access"},
		{"rule without namespaces", "auth:\n  rules:\n  - groups: [a]\n    clusters: ['*']\n    access: read\n", "auth.rules[0].namespaces"},
		{"rules and rulesFile", "auth:\n  rulesFile: r.yaml\n  rules:\n  - groups: [a]\n    clusters: ['*']\n    namespaces: ['*']\n    access: read\n", "auth.rules and auth.rulesFile"},
		{"missing tokens file", "auth:\n  tokensFile: nope.yaml\n", "auth.tokensFile"},
		{"oidc without client", "auth:\n  oidc:\n    issuer: https://127.0.0.1:1\n", "auth.oidc.clientID"},
		{"cors wildcard", "api:\n  cors: ['*']\n", "api.cors[0]"},
		{"rate without rps", "api:\n  rateLimit: {burst: 3}\n", "api.rateLimit.requestsPerSecond"},
		{"unknown api field", "api:\n  maxDeph: 3\n", `unknown field "maxDeph"`},
		{"audit without path", "audit: {}\n", "audit.path"},
		{"kept without key", "runtimeRepositories: {dir: kept}\n", "runtimeRepositories.keyFile or keyEnv"},
		{"kept with a short key", "runtimeRepositories: {dir: kept, keyEnv: HG_SHORT_KEY}\n", "runtimeRepositories.key: not 32 bytes"},
	}
	t.Setenv("HG_SHORT_KEY", "short")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := configDir(t, baseCluster+tt.config)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := serve(ctx, []string{"--config", path, "--listen", "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestToken(t *testing.T) {
	var out strings.Builder
	if err := token([]string{"new", "--subject", "ci", "--groups", "a,b"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	tok := strings.TrimPrefix(lines[1], "# ")
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	os.WriteFile(file, []byte(strings.Join(lines[3:], "\n")), 0o600)
	ids, err := auth.LoadTokens(file)
	if err != nil {
		t.Fatalf("token new's entry does not load: %v\n%s", err, out.String())
	}
	id, ok := ids[auth.HashToken(tok)]
	if !ok || id.Subject != "ci" || strings.Join(id.Groups, ",") != "a,b" {
		t.Errorf("entry for the new token = %+v (found %v)", id, ok)
	}
	var h strings.Builder
	if err := token([]string{"hash"}, strings.NewReader(tok+"\n"), &h); err != nil || strings.TrimSpace(h.String()) != auth.HashToken(tok) {
		t.Errorf("token hash = %q, %v; want %s", h.String(), err, auth.HashToken(tok))
	}
}
