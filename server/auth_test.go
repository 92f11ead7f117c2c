package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
	"github.com/helmgraph/helmgraph/server"
)

// The authorization tests use their own namespaces (authz-*) on alpha.

const (
	aliceToken = "alice-token-authz-7f3a9c"  // group devs: write on alpha/authz-dev*
	bobToken   = "bob-token-authz-0d81e2"    // read on */authz-ro
	rootToken  = "root-token-authz-c4b5a6d7" // admin everywhere
	erinToken  = "erin-token-authz-81aa"     // group imps: admin on alpha/authz-imp; RBAC there too
	daveToken  = "dave-token-authz-93bb"     // group imps: admin on alpha/authz-imp; no RBAC there
)

const azRules = `rules:
- groups: [devs]
  clusters: [alpha]
  namespaces: ["authz-dev*"]
  access: write
- subjects: [bob]
  clusters: ["*"]
  namespaces: [authz-ro]
  access: read
- groups: [admins]
  clusters: ["*"]
  namespaces: ["*"]
  access: admin
- groups: [imps]
  clusters: [alpha]
  namespaces: [authz-imp]
  access: admin
- subjects: ["carol@example.test"]
  clusters: [alpha]
  namespaces: [authz-ro]
  access: read
`

// syncBuffer is a buffer that slog handlers and the auditor write to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type azServer struct {
	ts        *httptest.Server
	audit     *syncBuffer
	logs      *syncBuffer
	policy    *auth.Policy
	rulesFile string
	issuer    *testenv.OIDCIssuer
	// keptDir holds the sealed repositories added at runtime.
	keptDir string
	// bodies holds every response body the test read.
	mu     sync.Mutex
	bodies []string
}

// serveAuth starts helmgraph as `serve` does with tokens, OIDC and rules,
// an audit log and a captured log; live adds the watch-fed cache (for
// subscriptions) and waits for it to sync.
func serveAuth(t *testing.T, api server.APIOptions, live bool) *azServer {
	t.Helper()
	return serveAuthWith(t, api, live, nil)
}

// serveAuthWith is serveAuth with a change to the clusters' configs.
func serveAuthWith(t *testing.T, api server.APIOptions, live bool, change func(*clusters.Config)) *azServer {
	t.Helper()
	dir := t.TempDir()
	tokens := ""
	for tok, who := range map[string]string{aliceToken: "alice\n  groups: [devs]", bobToken: "bob", rootToken: "root\n  groups: [admins]",
		erinToken: "erin\n  groups: [imps]", daveToken: "dave\n  groups: [imps]"} {
		tokens += "- sha256: " + auth.HashToken(tok) + "\n  subject: " + who + "\n"
	}
	tokensFile, rulesFile := filepath.Join(dir, "tokens.yaml"), filepath.Join(dir, "rules.yaml")
	os.WriteFile(tokensFile, []byte(tokens), 0o600)
	os.WriteFile(rulesFile, []byte(azRules), 0o600)
	s := &azServer{audit: &syncBuffer{}, logs: &syncBuffer{}, rulesFile: rulesFile, issuer: testenv.NewOIDCIssuer(t)}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	authn, err := auth.NewAuthenticator(t.Context(), auth.Config{TokensFile: tokensFile, OIDC: &auth.OIDCConfig{Issuer: s.issuer.URL, ClientID: "helmgraph", UsernameClaim: "email"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.policy, err = auth.LoadPolicy(rulesFile); err != nil {
		t.Fatal(err)
	}
	var cfgs []clusters.Config
	for _, c := range env.Configs() {
		if c.Name == "alpha" || c.Name == "beta" {
			c.Timeout = clusters.Duration(20 * time.Second)
			if change != nil {
				change(&c)
			}
			cfgs = append(cfgs, c)
		}
	}
	reg, err := clusters.Open(cfgs, log)
	if err != nil {
		t.Fatal(err)
	}
	mgr := ops.NewManager(ops.NewMemoryStore(0), log)
	s.keptDir = filepath.Join(dir, "kept")
	sealer, err := auth.NewSealer(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	chs := charts.NewRegistry(charts.Options{Log: log, Persist: &charts.Persistence{Store: charts.DirStore{Dir: s.keptDir}, Sealer: sealer}})
	opts := server.Options{Registry: reg, Log: log, Ops: mgr, Charts: chs, API: api,
		Auth: &auth.Guard{Authn: authn, Policy: s.policy, Audit: auth.NewAuditor(s.audit)}}
	stop := func() {}
	if live {
		ctx, cancel := context.WithCancel(context.Background())
		svc := cache.NewService(memory.New(), reg, cache.SyncOptions{Log: log})
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		opts.Events = svc.Hub
		stop = func() { cancel(); <-done }
	}
	s.ts = httptest.NewServer(server.New(opts).Handler())
	t.Cleanup(func() { s.ts.Close(); stop(); mgr.Close(); chs.Close() })
	if live {
		deadline := time.Now().Add(60 * time.Second)
		for {
			var got struct{ Clusters []struct{ Synced bool } }
			s.data(t, rootToken, `{ clusters { synced } }`, nil, &got)
			if !slices.ContainsFunc(got.Clusters, func(c struct{ Synced bool }) bool { return !c.Synced }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("clusters not synced after 60s")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return s
}

// post sends a GraphQL request with a bearer token (none when empty).
func (s *azServer) post(t *testing.T, token, query string, vars map[string]any) (int, gqlResponse) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return s.postRaw(t, token, "application/json", body)
}

func (s *azServer) postRaw(t *testing.T, token, contentType string, body []byte) (int, gqlResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.ts.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(raw))
	s.mu.Unlock()
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	out.raw = string(raw)
	return resp.StatusCode, out
}

func (s *azServer) data(t *testing.T, token, query string, vars map[string]any, into any) {
	t.Helper()
	code, r := s.post(t, token, query, vars)
	if code != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("unexpected answer %d: %s", code, r.raw)
	}
	if err := json.Unmarshal(r.Data, into); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

// wantCode expects exactly one GraphQL error with the code.
func wantCode(t *testing.T, r gqlResponse, code string) {
	t.Helper()
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != code {
		t.Fatalf("errors = %s, want code %s", r.raw, code)
	}
}

// auditEntries parses the audit log.
func (s *azServer) auditEntries(t *testing.T) []auth.Entry {
	t.Helper()
	var out []auth.Entry
	for _, line := range strings.Split(strings.TrimSpace(s.audit.String()), "\n") {
		if line == "" {
			continue
		}
		var e auth.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func (s *azServer) findAudit(t *testing.T, match func(auth.Entry) bool) (auth.Entry, bool) {
	t.Helper()
	for _, e := range s.auditEntries(t) {
		if match(e) {
			return e, true
		}
	}
	return auth.Entry{}, false
}

var azSeedOnce sync.Once

// azSeed installs one release in each authz namespace of alpha.
func azSeed(t *testing.T) {
	t.Helper()
	azSeedOnce.Do(func() {
		ctx := context.Background()
		rc := env.REST("alpha")
		for _, s := range []struct{ ns, name string }{{"authz-dev1", "app1"}, {"authz-ro", "app2"}, {"authz-secret", "app3"}} {
			if err := localcluster.InstallRelease(ctx, rc, s.ns, s.name, "webapp", map[string]any{"message": s.name}); err != nil {
				panic(fmt.Sprintf("seed %s/%s: %v", s.ns, s.name, err))
			}
		}
		if err := localcluster.UpgradeRelease(ctx, rc, "authz-dev1", "app1", "webapp", map[string]any{"message": "app1 v2"}); err != nil {
			panic(err)
		}
	})
}

// --- websocket ---

type wsMsg struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// wsInit dials /graphql (graphql-transport-ws), sends connection_init with
// the Authorization key in its payload (as GraphiQL's headers editor does)
// and returns the connection and the server's answer.
func wsInit(t *testing.T, ts *httptest.Server, token string) (*websocket.Conn, wsMsg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{testenv.GraphQLTransportWS}})
	if err != nil {
		return nil, wsMsg{}, err
	}
	t.Cleanup(func() { conn.CloseNow() })
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	b, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": payload})
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		return conn, wsMsg{}, err
	}
	m, err := wsRead(ctx, conn)
	return conn, m, err
}

func wsRead(ctx context.Context, conn *websocket.Conn) (wsMsg, error) {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return wsMsg{}, err
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return wsMsg{}, err
		}
		if m.Type == "ping" {
			conn.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
			continue
		}
		if m.Type == "pong" || m.Type == "ka" {
			continue
		}
		return m, nil
	}
}

func TestAuthAuthentication(t *testing.T) {
	s := serveAuth(t, server.APIOptions{}, false)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	q := `{ clusters { name } }`
	for name, tok := range map[string]string{
		"no credentials":   "",
		"unknown token":    "not-a-token",
		"expired ID token": s.issuer.Token(s.issuer.Claims("carol", "helmgraph", nil, -time.Minute)),
		"wrong audience":   s.issuer.Token(s.issuer.Claims("carol", "other-app", nil, time.Hour)),
		"alg none":         testenv.UnsignedToken(s.issuer.Claims("carol", "helmgraph", nil, time.Hour)),
		"wrong signature":  testenv.SignRS256(otherKey, s.issuer.KID, s.issuer.Claims("carol", "helmgraph", nil, time.Hour)),
	} {
		t.Run(name, func(t *testing.T) {
			code, r := s.post(t, tok, q, nil)
			if code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401: %s", code, r.raw)
			}
			wantCode(t, r, "UNAUTHENTICATED")
			if r.Data != nil && string(r.Data) != "null" {
				t.Errorf("a refused request got data: %s", r.raw)
			}
		})
	}
	// An Upgrade header does not skip authentication of a plain POST.
	req, _ := http.NewRequest(http.MethodPost, s.ts.URL+"/graphql", strings.NewReader(`{"query":"{ repositories { name } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Upgrade", "websocket")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST with Upgrade: websocket and no credentials: %d, want 401", resp.StatusCode)
	}

	// A valid ID token gets in as its email claim, with what the rules give it.
	var got struct{ Clusters []struct{ Name string } }
	s.data(t, s.issuer.Token(s.issuer.Claims("carol", "helmgraph", nil, time.Hour)), q, nil, &got)
	if len(got.Clusters) != 1 || got.Clusters[0].Name != "alpha" {
		t.Errorf("carol's clusters = %+v, want only alpha", got.Clusters)
	}
	if _, ok := s.findAudit(t, func(e auth.Entry) bool { return e.Result == "denied" && e.Subject == "(unauthenticated)" }); !ok {
		t.Errorf("no audit entry for the refused requests:\n%s", s.audit.String())
	}

	// Websockets: credentials in connection_init.
	_, m, err := wsInit(t, s.ts, "")
	if err == nil && m.Type == "connection_ack" {
		t.Errorf("connection_init without credentials was acknowledged")
	}
	_, m, err = wsInit(t, s.ts, "wrong-token")
	if err == nil && m.Type == "connection_ack" {
		t.Errorf("connection_init with a wrong token was acknowledged")
	}
	_, m, err = wsInit(t, s.ts, aliceToken)
	if err != nil || m.Type != "connection_ack" {
		t.Errorf("connection_init with alice's token: %+v, %v; want connection_ack", m, err)
	}
}

func TestAuthRulesQueriesAndMutations(t *testing.T) {
	azSeed(t)
	s := serveAuth(t, server.APIOptions{}, false)
	type conn struct {
		Releases struct {
			TotalCount int
			Nodes      []node
		}
	}
	list := func(tok string) (keys []string, total int) {
		var got conn
		s.data(t, tok, `{ releases(first: 500, filter: {clusters: ["alpha"]}) { totalCount nodes { cluster namespace name } } }`, nil, &got)
		for _, n := range got.Releases.Nodes {
			keys = append(keys, n.key())
		}
		return keys, got.Releases.TotalCount
	}
	keys, total := list(aliceToken)
	if !slices.Contains(keys, "alpha/authz-dev1/app1") || total != len(keys) {
		t.Errorf("alice sees %v (totalCount %d), want alpha/authz-dev1/app1 and totalCount = %d", keys, total, len(keys))
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "alpha/authz-dev") {
			t.Errorf("alice sees %s outside authz-dev*", k)
		}
	}
	keys, total = list(bobToken)
	if !slices.Equal(keys, []string{"alpha/authz-ro/app2"}) || total != 1 {
		t.Errorf("bob sees %v (totalCount %d), want only alpha/authz-ro/app2", keys, total)
	}
	keys, _ = list(rootToken)
	for _, want := range []string{"alpha/authz-dev1/app1", "alpha/authz-ro/app2", "alpha/authz-secret/app3", "alpha/web/frontend"} {
		if want != "alpha/web/frontend" && !slices.Contains(keys, want) {
			t.Errorf("root does not see %s: %v", want, keys)
		}
	}
	// Paging counts only what is visible.
	var page conn
	s.data(t, aliceToken, `{ releases(first: 1, filter: {namespaces: ["authz-dev1", "authz-ro", "authz-secret"], nameContains: "app"}) { totalCount nodes { cluster namespace name } } }`, nil, &page)
	if page.Releases.TotalCount != 1 || len(page.Releases.Nodes) != 1 || page.Releases.Nodes[0].Name != "app1" {
		t.Errorf("alice's filtered page = %+v, want only app1, totalCount 1", page.Releases)
	}
	// A cluster's release count counts only what the caller may see.
	var counted struct{ Cluster struct{ ReleaseCount int } }
	s.data(t, bobToken, `{ cluster(name: "alpha") { releaseCount } }`, nil, &counted)
	if counted.Cluster.ReleaseCount != 1 {
		t.Errorf("bob's releaseCount of alpha = %d, want 1 (authz-ro/app2)", counted.Cluster.ReleaseCount)
	}
	// Clusters: bob reads a namespace on every cluster, alice only on alpha.
	var cl struct{ Clusters []struct{ Name string } }
	s.data(t, aliceToken, `{ clusters { name } }`, nil, &cl)
	if len(cl.Clusters) != 1 || cl.Clusters[0].Name != "alpha" {
		t.Errorf("alice's clusters = %+v, want alpha", cl.Clusters)
	}
	var one struct{ Cluster *struct{ Name string } }
	s.data(t, aliceToken, `{ cluster(name: "beta") { name } }`, nil, &one)
	if one.Cluster != nil {
		t.Errorf("alice sees cluster beta")
	}

	// Single reads outside the rules are FORBIDDEN.
	_, r := s.post(t, aliceToken, `{ release(cluster: "alpha", namespace: "authz-secret", name: "app3") { name values } }`, nil)
	wantCode(t, r, "FORBIDDEN")
	var id struct{ Release struct{ ID string } }
	s.data(t, rootToken, `{ release(cluster: "alpha", namespace: "authz-secret", name: "app3") { id } }`, nil, &id)
	_, r = s.post(t, bobToken, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id.Release.ID})
	wantCode(t, r, "FORBIDDEN")
	var rel struct {
		Release struct{ Values map[string]any }
	}
	s.data(t, bobToken, `{ release(cluster: "alpha", namespace: "authz-ro", name: "app2") { values } }`, nil, &rel)
	if rel.Release.Values["message"] != "app2" {
		t.Errorf("bob's release values = %v, want message app2", rel.Release.Values)
	}

	// Mutations outside the caller's rights are FORBIDDEN and touch nothing.
	before := storedRevisions(t, "alpha", "authz-dev1", "app1")
	mutations := []struct {
		token, query string
		vars         map[string]any
	}{
		{aliceToken, `mutation { uninstallRelease(input: {cluster: "alpha", namespace: "authz-dev1", name: "app1"}) { id } }`, nil}, // write is not admin
		{aliceToken, `mutation($v: String) { installRelease(input: {cluster: "alpha", namespace: "authz-secret", name: "intruder", values: $v, chart: {repository: "main", name: "app"}}) { id } }`, map[string]any{"v": "a: 1"}},
		{bobToken, `mutation { rollbackRelease(input: {cluster: "alpha", namespace: "authz-ro", name: "app2"}) { id } }`, nil},
		{bobToken, `mutation { upgradeRelease(input: {cluster: "alpha", namespace: "authz-dev1", name: "app1", chart: {repository: "main", name: "app"}}) { id } }`, nil},
		{aliceToken, `mutation { addRepository(input: {name: "evil", url: "http://127.0.0.1:1"}) { name } }`, nil},
	}
	for _, m := range mutations {
		_, r := s.post(t, m.token, m.query, m.vars)
		wantCode(t, r, "FORBIDDEN")
	}
	if after := storedRevisions(t, "alpha", "authz-dev1", "app1"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a forbidden mutation changed authz-dev1/app1: %v → %v", before, after)
	}
	if got := storedRevisions(t, "alpha", "authz-secret", "intruder"); len(got) != 0 {
		t.Errorf("a forbidden install created authz-secret/intruder: %v", got)
	}
	e, ok := s.findAudit(t, func(e auth.Entry) bool { return e.Operation == "installRelease" && e.Release == "intruder" })
	if !ok || e.Subject != "alice" || e.Result != "denied" || e.Namespace != "authz-secret" || e.Chart != "main/app" || e.ValuesDigest != auth.Digest("a: 1") {
		t.Errorf("audit of the denied install = %+v (found %v)", e, ok)
	}

	// Within the rules: alice rolls app1 back; the audit log has it from acceptance to its end.
	var op struct{ RollbackRelease struct{ ID string } }
	s.data(t, aliceToken, `mutation { rollbackRelease(input: {cluster: "alpha", namespace: "authz-dev1", name: "app1", revision: 1}) { id } }`, nil, &op)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got struct{ Operation struct{ Phase string } }
		s.data(t, aliceToken, `query($id: ID!) { operation(id: $id) { phase } }`, map[string]any{"id": op.RollbackRelease.ID}, &got)
		if got.Operation.Phase == "SUCCEEDED" {
			break
		}
		if got.Operation.Phase == "FAILED" || time.Now().After(deadline) {
			t.Fatalf("rollback operation: %s", got.Operation.Phase)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// bob may not see alice's operation, in a list or by id.
	_, r = s.post(t, bobToken, `query($id: ID!) { operation(id: $id) { phase } }`, map[string]any{"id": op.RollbackRelease.ID})
	wantCode(t, r, "FORBIDDEN")
	// ... nor subscribe to it, while alice may.
	for tok, forbidden := range map[string]bool{bobToken: true, aliceToken: false} {
		conn, m, err := wsInit(t, s.ts, tok)
		if err != nil || m.Type != "connection_ack" {
			t.Fatalf("connection_init: %+v, %v", m, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query": `subscription($id: ID!) { operation(id: $id) { phase } }`, "variables": map[string]any{"id": op.RollbackRelease.ID}}})
		conn.Write(ctx, websocket.MessageText, sub)
		m, err = wsRead(ctx, conn)
		cancel()
		// gqlgen delivers a subscription resolver's error as a "next" without data.
		got := string(m.Payload)
		if err != nil || forbidden != strings.Contains(got, `"code":"FORBIDDEN"`) || !forbidden && !strings.Contains(got, "SUCCEEDED") {
			t.Errorf("operation subscription with the token of %s: %s %s, %v; want forbidden %v", map[string]string{bobToken: "bob", aliceToken: "alice"}[tok], m.Type, got, err, forbidden)
		}
		conn.CloseNow()
	}
	var ops struct{ Operations struct{ TotalCount int } }
	s.data(t, bobToken, `{ operations(first: 10) { totalCount } }`, nil, &ops)
	if ops.Operations.TotalCount != 0 {
		t.Errorf("bob's operations totalCount = %d, want 0", ops.Operations.TotalCount)
	}
	waitAudit := func(result string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, ok := s.findAudit(t, func(e auth.Entry) bool {
				return e.OperationID == op.RollbackRelease.ID && e.Result == result && e.Subject == "alice" && e.Operation == "rollbackRelease"
			}); ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s audit entry for the rollback:\n%s", result, s.audit.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitAudit("accepted")
	waitAudit("succeeded")
}

func TestAuthSubscriptions(t *testing.T) {
	azSeed(t)
	s := serveAuth(t, server.APIOptions{}, true)
	conn, m, err := wsInit(t, s.ts, aliceToken)
	if err != nil || m.Type != "connection_ack" {
		t.Fatalf("connection_init: %+v, %v", m, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { releaseEvents { type release { cluster namespace name status } } }`}})
	if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the subscription start
	install := func(ns, name string) {
		t.Helper()
		if err := localcluster.InstallRelease(ctx, env.REST("alpha"), ns, name, "webapp", nil); err != nil {
			t.Fatal(err)
		}
	}
	// until reads events until one for name arrives; it fails on any event
	// for a forbidden namespace.
	until := func(name string, forbidden ...string) {
		t.Helper()
		for {
			rel := nextEventRelease(ctx, t, "alice", conn, name)
			if slices.Contains(forbidden, rel.Namespace) || !strings.HasPrefix(rel.Namespace, "authz-dev") {
				t.Fatalf("alice got an event of %s/%s/%s", rel.Cluster, rel.Namespace, rel.Name)
			}
			if rel.Name == name && rel.Status == "DEPLOYED" { // its last event
				return
			}
		}
	}
	run := runSuffix() // -count=N reuses the API servers
	install("authz-secret", "sub-hidden1"+run)
	install("authz-dev1", "sub-seen1"+run)
	until("sub-seen1" + run)

	// A rules reload applies to the running subscription.
	rules := strings.Replace(azRules, `namespaces: ["authz-dev*"]`, `namespaces: ["authz-dev2"]`, 1)
	if err := os.WriteFile(s.rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.policy.Reload(); err != nil {
		t.Fatal(err)
	}
	install("authz-dev1", "sub-hidden2"+run)
	install("authz-dev2", "sub-seen2"+run)
	until("sub-seen2"+run, "authz-dev1")
}

func TestAuthHostileInputs(t *testing.T) {
	seed(t)
	s := serveAuth(t, server.APIOptions{MaxDepth: 8, MaxComplexity: 500, WebsocketReadLimit: 32 << 10}, false)
	// Another client is served after each hostile request.
	served := func(what string) {
		t.Helper()
		var got struct{ Clusters []struct{ Name string } }
		s.data(t, bobToken, `{ clusters { name } }`, nil, &got)
		if len(got.Clusters) != 2 {
			t.Fatalf("after %s: bob's clusters = %+v", what, got.Clusters)
		}
	}
	deep := "name"
	for range 12 {
		deep = "history { " + deep + " }"
	}
	_, r := s.post(t, rootToken, `{ releases { nodes { `+deep+` } } }`, nil)
	wantCode(t, r, "QUERY_TOO_DEEP")
	if !strings.Contains(r.Errors[0].Message, "8 levels") {
		t.Errorf("deep query error %q does not name the limit", r.Errors[0].Message)
	}
	served("a deep query")

	// Deep through fragments counts the same.
	_, r = s.post(t, rootToken, `fragment F on Release { history { history { history { history { history { history { history { history { name } } } } } } } } }
		{ releases { nodes { ...F } } }`, nil)
	wantCode(t, r, "QUERY_TOO_DEEP")
	served("a deep fragment")

	var wide strings.Builder
	wide.WriteString("{ ")
	for i := range 600 {
		fmt.Fprintf(&wide, "a%d: clusters { name } ", i)
	}
	wide.WriteString("}")
	_, r = s.post(t, rootToken, wide.String(), nil)
	wantCode(t, r, "COMPLEXITY_LIMIT_EXCEEDED")
	served("an alias flood")

	var wideFields strings.Builder
	wideFields.WriteString("{ releases(first: 500) { nodes { ")
	for range 300 {
		wideFields.WriteString("name namespace ")
	}
	wideFields.WriteString("} } }")
	_, r = s.post(t, rootToken, wideFields.String(), nil)
	if len(r.Errors) == 0 {
		t.Errorf("a wide query was answered: %.200s", r.raw)
	}
	served("a wide query")

	huge := map[string]any{"query": `query($v: String) { clusters { name } }`, "variables": map[string]any{"v": strings.Repeat("x", 2<<20)}}
	body, _ := json.Marshal(huge)
	code, r := s.postRaw(t, rootToken, "application/json", body)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(r.Errors[0].Message, "exceeds the limit") {
		t.Errorf("huge variables: %d %.300s, want 413 naming the limit", code, r.raw)
	}
	served("huge variables")

	code, r = s.postRaw(t, rootToken, "application/json", []byte(`{"query": "{ clusters { name } }", "variables": {`))
	if code != http.StatusBadRequest || len(r.Errors) == 0 || !strings.Contains(strings.ToLower(r.Errors[0].Message), "json") {
		t.Errorf("malformed JSON: %d %s, want 400 saying the JSON is bad", code, r.raw)
	}
	served("malformed JSON")

	// An oversized websocket frame ends that connection only.
	conn, m, err := wsInit(t, s.ts, rootToken)
	if err != nil || m.Type != "connection_ack" {
		t.Fatalf("connection_init: %+v, %v", m, err)
	}
	big, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ clusters { name } }", "variables": map[string]any{"pad": strings.Repeat("y", 64<<10)}}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn.Write(ctx, websocket.MessageText, big)
	_, err = wsRead(ctx, conn)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("oversized frame: read error = %v, want close 1009 (message too big)", err)
	}
	served("an oversized websocket frame")
	other, m, err := wsInit(t, s.ts, bobToken)
	if err != nil || m.Type != "connection_ack" {
		t.Fatalf("another websocket after the oversized frame: %+v, %v", m, err)
	}
	other.Close(websocket.StatusNormalClosure, "")
}

func TestAuthAPIHardening(t *testing.T) {
	seed(t)
	s := serveAuth(t, server.APIOptions{DisableIntrospection: true, CORS: []string{"https://ui.example.test"}, RatePerSecond: 1, RateBurst: 3}, false)

	_, r := s.post(t, rootToken, `{ __schema { types { name } } }`, nil)
	if len(r.Errors) == 0 || !strings.Contains(r.raw, "introspection") {
		t.Errorf("introspection with introspection off: %s", r.raw)
	}

	// The rate limit is per subject: root is refused, bob still served.
	var limited bool
	for range 6 {
		if code, r := s.post(t, rootToken, `{ clusters { name } }`, nil); code == http.StatusTooManyRequests {
			wantCode(t, r, "RATE_LIMITED")
			limited = true
			break
		}
	}
	if !limited {
		t.Errorf("6 requests at once with a burst of 3 were all served")
	}
	if code, r := s.post(t, bobToken, `{ clusters { name } }`, nil); code != http.StatusOK {
		t.Errorf("bob was limited by root's requests: %d %s", code, r.raw)
	}

	// CORS preflights: the allow-list only.
	for origin, want := range map[string]int{"https://ui.example.test": http.StatusNoContent, "https://evil.example": http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodOptions, s.ts.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		allow := resp.Header.Get("Access-Control-Allow-Origin")
		if resp.StatusCode != want || (want == http.StatusNoContent) != (allow == origin) {
			t.Errorf("preflight from %s: %d, Access-Control-Allow-Origin %q; want %d", origin, resp.StatusCode, allow, want)
		}
	}
	// Websockets: a foreign origin is refused, an allowed one accepted.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(s.ts.URL, "http") + "/graphql"
	for origin, ok := range map[string]bool{"https://evil.example": false, "https://ui.example.test": true} {
		c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{testenv.GraphQLTransportWS}, HTTPHeader: http.Header{"Origin": {origin}}})
		if (err == nil) != ok {
			t.Errorf("websocket from %s: error %v, want accepted %v", origin, err, ok)
		}
		if c != nil {
			c.CloseNow()
		}
	}
}

func TestAuthPersistedQueries(t *testing.T) {
	seed(t)
	s := serveAuth(t, server.APIOptions{}, false)
	q := `{ clusters { name } }`
	sum := sha256.Sum256([]byte(q))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	send := func(withQuery bool) gqlResponse {
		body := map[string]any{"extensions": ext}
		if withQuery {
			body["query"] = q
		}
		b, _ := json.Marshal(body)
		_, r := s.postRaw(t, bobToken, "application/json", b)
		return r
	}
	// GraphiQL's introspection query nests type references deeply; the
	// depth limit does not apply to introspection.
	typeRef := "kind name"
	for range 9 {
		typeRef = "kind name ofType { " + typeRef + " }"
	}
	if _, r := s.post(t, bobToken, `{ __schema { types { name fields { name type { `+typeRef+` } } } } }`, nil); len(r.Errors) > 0 {
		t.Errorf("deep introspection refused with the default limits: %.300s", r.raw)
	}
	if r := send(false); len(r.Errors) == 0 || !strings.Contains(r.raw, "PersistedQueryNotFound") {
		t.Errorf("unknown hash: %s, want PersistedQueryNotFound", r.raw)
	}
	if r := send(true); len(r.Errors) > 0 {
		t.Errorf("register: %s", r.raw)
	}
	if r := send(false); len(r.Errors) > 0 || !strings.Contains(string(r.Data), "alpha") {
		t.Errorf("by hash: %s, want the clusters", r.raw)
	}
}

// TestAuthSecretScan runs a session with secret-bearing config and greps
// every response, log line, audit line and the metrics page for the secrets.
func TestAuthSecretScan(t *testing.T) {
	seed(t)
	azSeed(t)
	s := serveAuth(t, server.APIOptions{}, false)
	const repoPW = "scan-repo-password-5e1d"
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Username: "ci", Password: repoPW})
	repo.Add(t, testenv.PackageChart(t, appChart("1.0.0")))
	oidcToken := s.issuer.Token(s.issuer.Claims("carol", "helmgraph", nil, time.Hour))
	badToken := "wrong-secret-token-9c2f4b"
	secrets := map[string]string{"alice's token": aliceToken, "bob's token": bobToken, "root's token": rootToken,
		"an ID token": oidcToken, "a refused token": badToken, "the repository password": repoPW}
	for _, srv := range env.Servers {
		secrets["the bearer token of cluster "+srv.Name] = srv.Token
	}

	// The session: reads, refusals, repository management, a mutation.
	s.post(t, rootToken, `mutation($pw: String) { addRepository(input: {name: "scan", url: "`+repo.URL+`", username: "ci", password: $pw}) { name hasCredentials } }`, map[string]any{"pw": repoPW})
	s.post(t, rootToken, `mutation { addRepository(input: {name: "scan2", url: "`+repo.URL+`", username: "ci", password: "`+repoPW+`x"}) { name } }`, nil)
	s.post(t, rootToken, `{ repositories { name url hasCredentials lastError } charts(repository: "scan") { nodes { name version } } }`, nil)
	s.post(t, rootToken, `{ releases(first: 100) { nodes { name values computedValues manifest } } clusters { name lastError } }`, nil)
	s.post(t, oidcToken, `{ releases { totalCount } }`, nil)
	s.post(t, badToken, `{ releases { totalCount } }`, nil)
	s.post(t, aliceToken, `mutation { installRelease(input: {cluster: "alpha", namespace: "authz-secret", name: "x", chart: {repository: "scan", name: "app"}}) { id } }`, nil)
	s.post(t, aliceToken, `mutation { installRelease(input: {cluster: "alpha", namespace: "authz-dev3", name: "scan-app", createNamespace: true, dryRun: true, chart: {repository: "scan", name: "app"}}) { id error { message } } }`, nil)
	s.post(t, rootToken, `{ release(cluster: "alpha", namespace: "nope", name: "nope") { name } }`, nil)
	wsInit(t, s.ts, badToken)
	resp, err := http.Get(s.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsPage, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	s.mu.Lock()
	places := map[string]string{"the metrics page": string(metricsPage), "the log": s.logs.String(), "the audit log": s.audit.String()}
	kept, _ := filepath.Glob(filepath.Join(s.keptDir, "*"))
	if len(kept) != 1 {
		t.Errorf("kept repositories = %v, want the one added", kept)
	}
	for _, f := range kept {
		b, _ := os.ReadFile(f)
		places["kept file "+filepath.Base(f)] = string(b)
	}
	for i, b := range s.bodies {
		places[fmt.Sprintf("response %d", i)] = b
	}
	s.mu.Unlock()
	if !strings.Contains(s.logs.String(), "chart repository added") || !strings.Contains(s.audit.String(), "denied") {
		t.Fatalf("the session did not run as scripted:\nlog: %s\naudit: %s", s.logs.String(), s.audit.String())
	}
	for where, text := range places {
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains %s", where, what)
			}
		}
	}
}

// TestAuthImpersonation: with impersonate on, helmgraph's rules let erin
// and dave in alike, and the cluster's own RBAC (a Role for erin only)
// decides.
func TestAuthImpersonation(t *testing.T) {
	ctx := t.Context()
	rc := env.REST("alpha")
	imp := "imp" + runSuffix()
	if err := localcluster.InstallRelease(ctx, rc, "authz-imp", imp, "webapp", map[string]any{"message": "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := localcluster.UpgradeRelease(ctx, rc, "authz-imp", imp, "webapp", map[string]any{"message": "v2"}); err != nil {
		t.Fatal(err)
	}
	grantHelmUser(t, "authz-imp", "erin")
	s := serveAuthWith(t, server.APIOptions{}, false, func(c *clusters.Config) { c.Impersonate = c.Name == "alpha" })

	q := `{ release(cluster: "alpha", namespace: "authz-imp", name: "` + imp + `") { revision values } }`
	var got struct{ Release struct{ Revision int } }
	s.data(t, erinToken, q, nil, &got)
	if got.Release.Revision != 2 {
		t.Errorf("erin reads revision %d, want 2", got.Release.Revision)
	}
	_, r := s.post(t, daveToken, q, nil)
	wantCode(t, r, "FORBIDDEN")

	var list struct {
		Releases struct {
			Nodes         []node
			ClusterErrors []struct{ Cluster, Code string }
		}
	}
	lq := `{ releases(filter: {clusters: ["alpha"], namespaces: ["authz-imp"], nameContains: "` + imp + `"}) { nodes { cluster namespace name } clusterErrors { cluster code } } }`
	s.data(t, erinToken, lq, nil, &list)
	if len(list.Releases.Nodes) != 1 || list.Releases.Nodes[0].Name != imp {
		t.Errorf("erin's list = %+v, want %s", list.Releases, imp)
	}
	s.data(t, daveToken, lq, nil, &list)
	if len(list.Releases.Nodes) != 0 || len(list.Releases.ClusterErrors) != 1 || list.Releases.ClusterErrors[0].Code != "FORBIDDEN" {
		t.Errorf("dave's list = %+v, want no releases and a FORBIDDEN cluster error", list.Releases)
	}

	// dave's rollback is refused by the cluster before anything changes; erin's runs.
	before := storedRevisions(t, "alpha", "authz-imp", imp)
	rollback := `mutation { rollbackRelease(input: {cluster: "alpha", namespace: "authz-imp", name: "` + imp + `", revision: 1}) { id } }`
	_, r = s.post(t, daveToken, rollback, nil)
	wantCode(t, r, "FORBIDDEN")
	if after := storedRevisions(t, "alpha", "authz-imp", imp); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("dave's refused rollback changed the release: %v → %v", before, after)
	}
	var op struct{ RollbackRelease struct{ ID string } }
	s.data(t, erinToken, rollback, nil, &op)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got struct{ Operation struct{ Phase string } }
		s.data(t, erinToken, `query($id: ID!) { operation(id: $id) { phase } }`, map[string]any{"id": op.RollbackRelease.ID}, &got)
		if got.Operation.Phase == "SUCCEEDED" {
			break
		}
		if got.Operation.Phase == "FAILED" || time.Now().After(deadline) {
			t.Fatalf("erin's rollback: %s", got.Operation.Phase)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if revs := storedRevisions(t, "alpha", "authz-imp", imp); len(revs) != 3 {
		t.Errorf("after erin's rollback the release has revisions %v, want 3", revs)
	}
}

// eventRelease is the release of a releaseEvents message.
type eventRelease struct{ Cluster, Namespace, Name, Status string }

// nextEventRelease reads who's next releaseEvents message on conn, waiting
// for the event of name; anything but an event fails the test.
func nextEventRelease(ctx context.Context, t *testing.T, who string, conn *websocket.Conn, name string) eventRelease {
	t.Helper()
	m, err := wsRead(ctx, conn)
	if err != nil {
		t.Fatalf("%s waits for the event of %s: %v", who, name, err)
	}
	if m.Type != "next" {
		t.Fatalf("%s's subscription message %s: %s", who, m.Type, m.Payload)
	}
	var p struct {
		Data struct {
			ReleaseEvents struct{ Release eventRelease }
		}
	}
	json.Unmarshal(m.Payload, &p)
	return p.Data.ReleaseEvents.Release
}

// grantHelmUser gives user, in the RBAC of alpha, every right in namespace
// ns: a Role helm-user and a RoleBinding <user>-helm-user.
func grantHelmUser(t *testing.T, ns, user string) {
	t.Helper()
	ensureNamespace(t, "alpha", ns)
	cs := clientset(t, "alpha")
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "helm-user", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"", "apps"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}
	if _, err := cs.RbacV1().Roles(ns).Create(t.Context(), role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user + "-helm-user", Namespace: ns},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "helm-user"}}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(t.Context(), rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	as := env.REST("alpha")
	as.Impersonate = rest.ImpersonationConfig{UserName: user}
	if err := testenv.WaitAllowed(t.Context(), as, authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "secrets"}); err != nil {
		t.Fatal(err)
	}
}

// TestAuthImpersonationCache: with the release cache synced, lists and
// release events of an impersonating cluster are cut by the cluster's RBAC
// too, though the cache reads the cluster with helmgraph's credentials.
// helmgraph's rules let erin and dave into authz-imp alike, and dave also
// into authz-imp-dave; the cluster's RBAC lets erin list in authz-imp only
// and dave in authz-imp-dave only.
func TestAuthImpersonationCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rc := env.REST("alpha")
	const erinNS, daveNS = "authz-imp", "authz-imp-dave"
	grantHelmUser(t, erinNS, "erin")
	grantHelmUser(t, daveNS, "dave")
	run := runSuffix()
	erinRel, daveRel := "impc"+run, "impd"+run
	for ns, name := range map[string]string{erinNS: erinRel, daveNS: daveRel} {
		if err := localcluster.InstallRelease(ctx, rc, ns, name, "webapp", nil); err != nil {
			t.Fatal(err)
		}
	}
	s := serveAuthWith(t, server.APIOptions{}, true, func(c *clusters.Config) { c.Impersonate = c.Name == "alpha" })
	rules := azRules + "- subjects: [dave]\n  clusters: [alpha]\n  namespaces: [" + daveNS + "]\n  access: read\n"
	if err := os.WriteFile(s.rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.policy.Reload(); err != nil {
		t.Fatal(err)
	}

	// Lists: across all of alpha's namespaces, which neither may list live
	// (no cluster-wide rights): no cluster error means the cache answered.
	lq := `{ releases(filter: {clusters: ["alpha"]}, first: 500) { totalCount nodes { cluster namespace name } clusterErrors { cluster code } } }`
	list := func(token, ns, name string) {
		t.Helper()
		var got struct {
			Releases struct {
				TotalCount    int
				Nodes         []node
				ClusterErrors []struct{ Cluster, Code string }
			}
		}
		s.data(t, token, lq, nil, &got)
		rs := got.Releases
		if len(rs.ClusterErrors) > 0 {
			t.Fatalf("cluster errors %+v: the list was not answered from the cache", rs.ClusterErrors)
		}
		found := false
		for _, n := range rs.Nodes {
			if n.Namespace != ns {
				t.Errorf("the list shows %s/%s, which the cluster's RBAC does not let the caller list", n.Namespace, n.Name)
			}
			found = found || n.Name == name
		}
		if !found {
			t.Errorf("the list %+v lacks %s/%s", rs.Nodes, ns, name)
		}
		if rs.TotalCount != len(rs.Nodes) {
			t.Errorf("totalCount = %d, want %d, the releases shown", rs.TotalCount, len(rs.Nodes))
		}
		// The cluster's release count is cut the same way.
		var cl struct{ Cluster struct{ ReleaseCount *int } }
		s.data(t, token, `{ cluster(name: "alpha") { releaseCount } }`, nil, &cl)
		if c := cl.Cluster.ReleaseCount; c == nil || *c != rs.TotalCount {
			got := "null"
			if c != nil {
				got = strconv.Itoa(*c)
			}
			t.Errorf("alpha's releaseCount = %s, want %d, what the caller may list", got, rs.TotalCount)
		}
	}
	list(erinToken, erinNS, erinRel)
	list(daveToken, daveNS, daveRel)

	// Events: both subscribe with the same operation, so one executes each
	// event for both; a change in authz-imp, then one in authz-imp-dave.
	// Dave must get the second without the first: events keep their order.
	subscribe := func(token string) *websocket.Conn {
		t.Helper()
		conn, m, err := wsInit(t, s.ts, token)
		if err != nil || m.Type != "connection_ack" {
			t.Fatalf("connection_init: %+v, %v", m, err)
		}
		sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": `subscription { releaseEvents(filter: {clusters: ["alpha"]}) { type release { cluster namespace name status } } }`}})
		if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	erin, dave := subscribe(erinToken), subscribe(daveToken)
	time.Sleep(500 * time.Millisecond) // let the subscriptions start
	if err := localcluster.UpgradeRelease(ctx, rc, erinNS, erinRel, "webapp", map[string]any{"message": "v2"}); err != nil {
		t.Fatal(err)
	}
	if err := localcluster.UpgradeRelease(ctx, rc, daveNS, daveRel, "webapp", map[string]any{"message": "v2"}); err != nil {
		t.Fatal(err)
	}
	// until reads events until name's DEPLOYED one; it fails on an event
	// of another namespace than ns.
	until := func(who string, conn *websocket.Conn, ns, name string) {
		t.Helper()
		for {
			rel := nextEventRelease(ctx, t, who, conn, name)
			if rel.Namespace != ns {
				t.Fatalf("%s got an event of %s/%s/%s, which the cluster's RBAC does not let them list", who, rel.Cluster, rel.Namespace, rel.Name)
			}
			if rel.Name == name && rel.Status == "DEPLOYED" {
				return
			}
		}
	}
	until("erin", erin, erinNS, erinRel)
	until("dave", dave, daveNS, daveRel)
}

// The review that stands in for impersonation on Tiller and swift clusters
// asks the test API server's RBAC about the caller.
func TestAuthCallerAccessReview(t *testing.T) {
	ensureNamespace(t, "alpha", "authz-imp")
	cs := clientset(t, "alpha")
	grantHelmUser(t, "authz-imp", "erin")
	for _, tt := range []struct {
		who, ns string
		want    string
	}{
		{"erin", "authz-imp", ""},
		{"erin", "authz-secret", "FORBIDDEN"},
		{"dave", "authz-imp", "FORBIDDEN"},
	} {
		err := clusters.CheckCallerAccess(t.Context(), cs, "alpha", auth.Identity{Subject: tt.who, Groups: []string{"imps"}}, tt.ns)
		if got := ""; err != nil {
			got = release.ErrorCode(err)
			if got != tt.want {
				t.Errorf("CheckCallerAccess(%s, %s) = %v, want %q", tt.who, tt.ns, err, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("CheckCallerAccess(%s, %s) = nil, want %s", tt.who, tt.ns, tt.want)
		}
	}
}

// runSuffix makes release names unique per run of a test.
func runSuffix() string { return fmt.Sprintf("-%d", time.Now().UnixNano()%1000000) }
