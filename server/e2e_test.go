package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/server"
)

// alpha and beta hold the fleet the tests read; gamma is stopped by one test.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, "alpha", "beta", "gamma") }

var seedOnce sync.Once

// seed installs the shared releases with the Helm SDK, as `helm install` would.
func seed(t *testing.T) {
	t.Helper()
	seedOnce.Do(func() {
		ctx := context.Background()
		steps := []struct {
			cluster, op, ns, name, chart string
			values                       map[string]any
		}{
			{"alpha", "install", "web", "frontend", "webapp", map[string]any{"message": "alpha frontend"}},
			{"alpha", "install", "data", "cache", "cache", nil},
			{"beta", "install", "web", "shop", "webapp", map[string]any{"message": "shop v1"}},
			{"beta", "upgrade", "web", "shop", "webapp", map[string]any{"message": "shop v2", "replicaCount": 2}},
			{"beta", "upgrade", "web", "shop", "webapp", map[string]any{"message": "shop v3", "replicaCount": 3}},
			{"beta", "install", "batch", "nightly", "jobs", nil},
			{"gamma", "install", "web", "lonely", "webapp", nil},
		}
		for _, s := range steps {
			rc := env.REST(s.cluster)
			var err error
			if s.op == "install" {
				err = localcluster.InstallRelease(ctx, rc, s.ns, s.name, s.chart, s.values)
			} else {
				err = localcluster.UpgradeRelease(ctx, rc, s.ns, s.name, s.chart, s.values)
			}
			if err != nil {
				panic(fmt.Sprintf("seed %s %s/%s/%s: %v", s.op, s.cluster, s.ns, s.name, err))
			}
		}
	})
}

// serve starts helmgraph over the named test clusters.
func serve(t *testing.T, names ...string) *httptest.Server {
	t.Helper()
	var cfgs []clusters.Config
	for _, c := range env.Configs() {
		if slices.Contains(names, c.Name) {
			c.Timeout = clusters.Duration(5 * time.Second)
			cfgs = append(cfgs, c)
		}
	}
	reg, err := clusters.Open(cfgs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.New(server.Options{Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(ts.Close)
	return ts
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	raw    string
}

// post sends a GraphQL request over HTTP as any client would.
func post(t *testing.T, ts *httptest.Server, query string, vars map[string]any) gqlResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := http.Post(ts.URL+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	assertNoSecrets(t, string(raw))
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	out.raw = string(raw)
	return out
}

// data posts and decodes data, failing on any GraphQL error.
func data(t *testing.T, ts *httptest.Server, query string, vars map[string]any, into any) {
	t.Helper()
	r := post(t, ts, query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", r.raw)
	}
	if err := json.Unmarshal(r.Data, into); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

func assertNoSecrets(t *testing.T, body string) {
	t.Helper()
	for _, s := range env.Servers {
		if strings.Contains(body, s.Token) {
			t.Fatalf("response contains the bearer token of cluster %s", s.Name)
		}
	}
}

type node struct {
	Cluster, Namespace, Name string
	Revision                 int
	Status                   string
	Chart                    struct{ Name, Version, AppVersion string }
}

func (n node) key() string { return n.Cluster + "/" + n.Namespace + "/" + n.Name }

func TestReleasesSpanClusters(t *testing.T) {
	seed(t)
	ts := serve(t, "alpha", "beta")
	var got struct {
		Releases struct {
			TotalCount    int
			ClusterErrors []any
			Nodes         []node
		}
	}
	data(t, ts, `query { releases(first: 100) { totalCount clusterErrors { cluster } nodes { cluster namespace name revision status chart { name version appVersion } } } }`, nil, &got)
	var keys []string
	for _, n := range got.Releases.Nodes {
		keys = append(keys, n.key())
	}
	for _, want := range []string{"alpha/web/frontend", "alpha/data/cache", "beta/web/shop", "beta/batch/nightly"} {
		if !slices.Contains(keys, want) {
			t.Errorf("releases: missing %s; got %v", want, keys)
		}
	}
	if len(got.Releases.ClusterErrors) != 0 {
		t.Errorf("clusterErrors = %v, want none", got.Releases.ClusterErrors)
	}
	if got.Releases.TotalCount != len(got.Releases.Nodes) {
		t.Errorf("totalCount = %d, want %d", got.Releases.TotalCount, len(got.Releases.Nodes))
	}
	for _, n := range got.Releases.Nodes {
		if n.key() == "beta/web/shop" && (n.Revision != 3 || n.Status != "DEPLOYED" || n.Chart.Name != "webapp") {
			t.Errorf("beta/web/shop = %+v, want revision 3 DEPLOYED of chart webapp", n)
		}
	}

	// Filters narrow the fleet.
	var filtered struct{ Releases struct{ Nodes []node } }
	data(t, ts, `query($f: ReleaseFilter) { releases(filter: $f) { nodes { cluster namespace name } } }`,
		map[string]any{"f": map[string]any{"clusters": []string{"beta"}, "chart": "webapp", "statuses": []string{"DEPLOYED"}}}, &filtered)
	if len(filtered.Releases.Nodes) != 1 || filtered.Releases.Nodes[0].key() != "beta/web/shop" {
		t.Errorf("filtered releases = %+v, want only beta/web/shop", filtered.Releases.Nodes)
	}
	data(t, ts, `query { releases(filter: {namespaces: ["web"], nameContains: "FRONT"}) { nodes { cluster namespace name } } }`, nil, &filtered)
	if len(filtered.Releases.Nodes) != 1 || filtered.Releases.Nodes[0].key() != "alpha/web/frontend" {
		t.Errorf("nameContains releases = %+v, want only alpha/web/frontend", filtered.Releases.Nodes)
	}

	var cl struct {
		Clusters []struct {
			Name, Driver, Transport, ServerVersion string
			Reachable                              bool
			ReleaseCount                           int
		}
	}
	data(t, ts, `{ clusters { name driver transport serverVersion reachable releaseCount } }`, nil, &cl)
	if len(cl.Clusters) != 2 {
		t.Fatalf("clusters = %+v, want 2", cl.Clusters)
	}
	for _, c := range cl.Clusters {
		if !c.Reachable || c.Driver != "HELM" || c.Transport != "api-server" || !strings.HasPrefix(c.ServerVersion, "v1.37") || c.ReleaseCount < 2 {
			t.Errorf("cluster %+v: want reachable HELM v1.37.x with at least 2 releases", c)
		}
	}
}

func TestReleaseDetail(t *testing.T) {
	seed(t)
	ts := serve(t, "alpha", "beta")
	var got struct {
		Release struct {
			ID             string
			Revision       int
			Status         string
			RawStatus      string
			Notes          string
			Manifest       string
			Values         map[string]any
			ComputedValues map[string]any
			Resources      []struct{ APIVersion, Kind, Name string }
			History        []struct {
				Revision int
				Status   string
				Values   map[string]any
			}
		}
	}
	data(t, ts, `query { release(cluster: "beta", namespace: "web", name: "shop") {
		id revision status rawStatus notes manifest values computedValues
		resources { apiVersion kind name }
		history { revision status values } } }`, nil, &got)
	r := got.Release
	if r.Revision != 3 || r.Status != "DEPLOYED" || r.RawStatus != "deployed" {
		t.Errorf("revision/status = %d %s %s, want 3 DEPLOYED deployed", r.Revision, r.Status, r.RawStatus)
	}
	if r.Values["message"] != "shop v3" || r.Values["replicaCount"] != float64(3) {
		t.Errorf("values = %v, want message=shop v3 replicaCount=3", r.Values)
	}
	// Computed values merge the chart's defaults (service.port 80) with the user's.
	if svc, _ := r.ComputedValues["service"].(map[string]any); svc["port"] != float64(80) || r.ComputedValues["message"] != "shop v3" {
		t.Errorf("computedValues = %v, want chart defaults merged with user values", r.ComputedValues)
	}
	if !strings.Contains(r.Manifest, "shop v3") || !strings.Contains(r.Manifest, "kind: Deployment") {
		t.Errorf("manifest does not hold the rendered objects:\n%s", r.Manifest)
	}
	var kinds []string
	for _, res := range r.Resources {
		kinds = append(kinds, res.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"ConfigMap", "Deployment", "Service"}; !slices.Equal(kinds, want) {
		t.Errorf("resources kinds = %v, want %v", kinds, want)
	}
	if r.Notes == "" {
		t.Error("notes are empty")
	}
	var revs []string
	for _, h := range r.History {
		revs = append(revs, fmt.Sprintf("%d:%s:%v", h.Revision, h.Status, h.Values["message"]))
	}
	if want := []string{"3:DEPLOYED:shop v3", "2:SUPERSEDED:shop v2", "1:SUPERSEDED:shop v1"}; !slices.Equal(revs, want) {
		t.Errorf("history = %v, want %v", revs, want)
	}

	// An older revision, and the release by its global ID.
	var old struct {
		Release struct {
			Revision int
			Values   map[string]any
		}
	}
	data(t, ts, `{ release(cluster: "beta", namespace: "web", name: "shop", revision: 1) { revision values } }`, nil, &old)
	if old.Release.Revision != 1 || old.Release.Values["message"] != "shop v1" {
		t.Errorf("revision 1 = %+v, want message shop v1", old.Release)
	}
	var byID struct {
		Node struct{ Name, Cluster string }
	}
	data(t, ts, `query($id: ID!) { node(id: $id) { ... on Release { name cluster } } }`, map[string]any{"id": r.ID}, &byID)
	if byID.Node.Name != "shop" || byID.Node.Cluster != "beta" {
		t.Errorf("node(id) = %+v, want beta/shop", byID.Node)
	}
}

func TestPaginationWhileAdding(t *testing.T) {
	seed(t)
	ctx := context.Background()
	rc := env.REST("alpha")
	install := func(name string) {
		t.Helper()
		if err := localcluster.InstallRelease(ctx, rc, "paging", name, "jobs", nil); err != nil {
			t.Fatal(err)
		}
	}
	var original []string
	for i := range 8 {
		name := fmt.Sprintf("p%02d", i*10)
		install(name)
		original = append(original, "alpha/paging/"+name)
	}
	ts := serve(t, "alpha", "beta")
	q := `query($after: String) { releases(first: 3, after: $after, filter: {namespaces: ["paging"]}) {
		totalCount pageInfo { hasNextPage endCursor } edges { cursor node { cluster namespace name } } } }`
	var seen []string
	var after any
	for page := 0; ; page++ {
		var got struct {
			Releases struct {
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct{ Node node }
			}
		}
		data(t, ts, q, map[string]any{"after": after}, &got)
		for _, e := range got.Releases.Edges {
			seen = append(seen, e.Node.key())
		}
		// Between pages, add one release before the cursor and one after it.
		install(fmt.Sprintf("p%02da", page*30))
		install(fmt.Sprintf("z%02d", page))
		if !got.Releases.PageInfo.HasNextPage {
			break
		}
		after = got.Releases.PageInfo.EndCursor
		if page > 20 {
			t.Fatal("pagination does not end")
		}
	}
	counts := map[string]int{}
	for _, k := range seen {
		counts[k]++
		if counts[k] > 1 {
			t.Errorf("%s seen twice while paging: %v", k, seen)
		}
	}
	for _, k := range original {
		if counts[k] != 1 {
			t.Errorf("%s seen %d times, want once: %v", k, counts[k], seen)
		}
	}
	if !slices.IsSorted(seen) {
		t.Errorf("pages are not in name order: %v", seen)
	}
	if counts["alpha/paging/z00"] != 1 {
		t.Errorf("release added after the cursor was not reached: %v", seen)
	}

	// Walking backward with last/before visits the same names in reverse.
	var back struct {
		Releases struct {
			PageInfo struct {
				HasPreviousPage bool
				StartCursor     string
			}
			Nodes []node
		}
	}
	data(t, ts, `{ releases(last: 2, filter: {namespaces: ["paging"]}) { pageInfo { hasPreviousPage startCursor } nodes { cluster namespace name } } }`, nil, &back)
	if len(back.Releases.Nodes) != 2 || !back.Releases.PageInfo.HasPreviousPage {
		t.Fatalf("last: 2 = %+v, want 2 nodes and a previous page", back.Releases)
	}
}

func TestClusterDown(t *testing.T) {
	seed(t)
	ts := serve(t, "alpha", "gamma")
	gamma := env.Server("gamma")
	if err := gamma.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := gamma.Restart(context.Background()); err != nil {
			t.Errorf("restart gamma: %v", err)
		}
	})
	var got struct {
		Releases struct {
			ClusterErrors []struct{ Cluster, Code, Message string }
			Nodes         []node
		}
		Clusters []struct {
			Name      string
			Reachable bool
			LastError *string
		}
	}
	data(t, ts, `{ releases(first: 100) { clusterErrors { cluster code message } nodes { cluster namespace name } }
		clusters { name reachable lastError } }`, nil, &got)
	ce := got.Releases.ClusterErrors
	if len(ce) != 1 || ce[0].Cluster != "gamma" || ce[0].Code != "CLUSTER_UNAVAILABLE" || !strings.Contains(ce[0].Message, "gamma") {
		t.Errorf("clusterErrors = %+v, want one CLUSTER_UNAVAILABLE for gamma", ce)
	}
	var clustersSeen []string
	for _, n := range got.Releases.Nodes {
		clustersSeen = append(clustersSeen, n.Cluster)
	}
	if !slices.Contains(clustersSeen, "alpha") || slices.Contains(clustersSeen, "gamma") {
		t.Errorf("nodes from clusters %v, want alpha's only", clustersSeen)
	}
	for _, c := range got.Clusters {
		if want := c.Name == "alpha"; c.Reachable != want || (c.Name == "gamma" && c.LastError == nil) {
			t.Errorf("cluster %s reachable=%v lastError=%v, want reachable=%v", c.Name, c.Reachable, c.LastError, want)
		}
	}
	r := post(t, ts, `{ release(cluster: "gamma", namespace: "web", name: "lonely") { name } }`, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "CLUSTER_UNAVAILABLE" {
		t.Errorf("release on a down cluster: %s, want CLUSTER_UNAVAILABLE", r.raw)
	}

	// Back up, it answers again.
	if err := gamma.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	var again struct{ Release struct{ Name string } }
	data(t, ts, `{ release(cluster: "gamma", namespace: "web", name: "lonely") { name } }`, nil, &again)
	if again.Release.Name != "lonely" {
		t.Errorf("after restart: %+v", again)
	}
	if err := gamma.Stop(); err != nil { // leave it as Cleanup expects
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	seed(t)
	ts := serve(t, "alpha", "beta")
	tests := []struct {
		name, query string
		vars        map[string]any
		code, arg   string
	}{
		{"negative first", `{ releases(first: -1) { totalCount } }`, nil, "INVALID_ARGUMENT", "first"},
		{"huge last", `{ releases(last: 100000) { totalCount } }`, nil, "INVALID_ARGUMENT", "last"},
		{"malformed cursor", `{ releases(after: "not-a-cursor") { totalCount } }`, nil, "INVALID_ARGUMENT", "after"},
		{"unknown cluster in filter", `{ releases(filter: {clusters: ["nope"]}) { totalCount } }`, nil, "INVALID_ARGUMENT", "filter.clusters"},
		{"invalid namespace in filter", `{ releases(filter: {namespaces: ["Bad_NS"]}) { totalCount } }`, nil, "INVALID_ARGUMENT", "filter.namespaces"},
		{"invalid release name", `{ release(cluster: "alpha", namespace: "web", name: "No_Such") { name } }`, nil, "INVALID_ARGUMENT", "name"},
		{"invalid revision", `{ release(cluster: "alpha", namespace: "web", name: "frontend", revision: 0) { name } }`, nil, "INVALID_ARGUMENT", "revision"},
		{"unknown cluster", `{ release(cluster: "nope", namespace: "web", name: "frontend") { name } }`, nil, "NOT_FOUND", "nope"},
		{"missing release", `{ release(cluster: "alpha", namespace: "web", name: "ghost") { name } }`, nil, "NOT_FOUND", "ghost"},
		{"missing revision", `{ release(cluster: "alpha", namespace: "web", name: "frontend", revision: 99) { name } }`, nil, "NOT_FOUND", "99"},
		{"malformed id", `{ node(id: "%%%") { id } }`, nil, "INVALID_ARGUMENT", "id"},
		{"malformed variable", `query($n: Int) { releases(first: $n) { totalCount } }`, map[string]any{"n": "ten"}, "GRAPHQL_VALIDATION_FAILED", "n"},
		{"unknown status", `query($f: ReleaseFilter) { releases(filter: $f) { totalCount } }`, map[string]any{"f": map[string]any{"statuses": []string{"HAPPY"}}}, "GRAPHQL_VALIDATION_FAILED", "HAPPY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, ts, tt.query, tt.vars)
			if len(r.Errors) == 0 {
				t.Fatalf("no error; response %s", r.raw)
			}
			e := r.Errors[0]
			if e.Extensions["code"] != tt.code {
				t.Errorf("code = %v, want %s (%s)", e.Extensions["code"], tt.code, r.raw)
			}
			if !strings.Contains(e.Message, tt.arg) {
				t.Errorf("message %q does not name %q", e.Message, tt.arg)
			}
		})
	}
}

func TestHTTPSurface(t *testing.T) {
	seed(t)
	ts := serve(t, "alpha")
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/graphql?query=" + url.QueryEscape(`{ release(cluster: "alpha", namespace: "web", name: "frontend") { name chart { name } } }`))
	if code != 200 || !strings.Contains(body, `"chart":{"name":"webapp"}`) {
		t.Errorf("GET /graphql = %d %s", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := get(p); code != 200 {
			t.Errorf("GET %s = %d, want 200", p, code)
		}
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `helmgraph_http_requests_total{code="200",route="/graphql"}`) {
		t.Errorf("GET /metrics = %d, lacks the request counter:\n%.500s", code, body)
	}
	code, body = get("/")
	if code != 200 || !strings.Contains(body, `id="graphiql"`) {
		t.Errorf("GET / = %d, want the GraphiQL page:\n%s", code, body)
	}
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "http") {
		t.Errorf("page CSP = %q, want only this origin", csp)
	}
	if m := regexp.MustCompile(`/assets/main-[A-Z0-9]+\.js`).FindString(body); m == "" {
		t.Errorf("page names no hashed script: %s", body)
	} else {
		resp, err := http.Get(ts.URL + m)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
			t.Errorf("GET %s = %d %v, want an immutable script", m, resp.StatusCode, resp.Header)
		}
	}
	if strings.Contains(body, "src=\"http") || strings.Contains(body, "href=\"http") {
		t.Error("the page loads something from another origin; it must work offline")
	}
	// A body over the limit is refused, and the server keeps serving.
	big := bytes.Repeat([]byte("x"), 2<<20)
	resp, err = http.Post(ts.URL+"/graphql", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(msg), "exceeds the limit") {
		t.Errorf("2 MiB body: status %d %s, want 413 naming the limit", resp.StatusCode, msg)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Error("server stopped serving after an oversized body")
	}
}
