package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/server"
)

// serveLive starts helmgraph as `serve` runs it: with the watch-fed cache and
// its event hub, so subscriptions stream what the clusters' watches see.
// It returns once every cluster is synced.
func serveLive(t *testing.T, names ...string) *httptest.Server {
	t.Helper()
	var cfgs []clusters.Config
	for _, c := range env.Configs() {
		if slices.Contains(names, c.Name) {
			cfgs = append(cfgs, c)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := clusters.Open(cfgs, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc := cache.NewService(memory.New(), reg, cache.SyncOptions{Log: quiet})
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	ts := httptest.NewServer(server.New(server.Options{Registry: reg, Log: quiet, Events: svc.Hub}).Handler())
	t.Cleanup(func() { ts.Close(); cancel(); <-done })
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got struct{ Clusters []struct{ Synced bool } }
		data(t, ts, `{ clusters { synced } }`, nil, &got)
		if !slices.ContainsFunc(got.Clusters, func(c struct{ Synced bool }) bool { return !c.Synced }) {
			return ts
		}
		if time.Now().After(deadline) {
			t.Fatalf("clusters not synced after 60s: %+v", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func webDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "web")
}

// TestNodeGraphQLWSClient holds the websocket server to the protocol's
// reference client: graphql-ws, from npm, run by Node.
func TestNodeGraphQLWSClient(t *testing.T) {
	seed(t)
	ctx := context.Background()
	rc := env.REST("beta")
	if err := localcluster.InstallRelease(ctx, rc, "sub-node", "api", "webapp", map[string]any{"message": "v1"}); err != nil {
		t.Fatal(err)
	}
	ts := serveLive(t, "beta")
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/graphql"
	q := `subscription { releaseEvents(filter: {clusters: ["beta"], namespaces: ["sub-node"]}) { type previousStatus previousRevision release { cluster namespace name revision status } } }`
	cmd := exec.Command("node", filepath.Join(webDir(), "test", "subscribe.mjs"), wsURL, q, "10", "60000")
	cmd.Dir = webDir()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node (needs web/node_modules: scripts/build-web): %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.Contains(lines.Text(), `"connected":true`) {
		t.Fatalf("graphql-ws client did not connect: %q %s", lines.Text(), stderr.String())
	}
	// The subscription is registered right after connection_ack; give the
	// subscribe message a moment to arrive before the change happens.
	time.Sleep(300 * time.Millisecond)
	if err := localcluster.UpgradeRelease(ctx, rc, "sub-node", "api", "webapp", map[string]any{"message": "v2"}); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Data struct {
			ReleaseEvents struct {
				Type             string
				PreviousStatus   *string
				PreviousRevision *int
				Release          struct {
					Cluster, Namespace, Name, Status string
					Revision                         int
				}
			}
		}
		Errors []any
	}
	// Helm writes revision 2 as pending-upgrade, then marks it deployed (and
	// revision 1 superseded): the stream shows the release's latest revision
	// going through those states.
	var seen []string
	for lines.Scan() {
		ev.Data.ReleaseEvents.PreviousRevision = nil
		if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
			t.Fatalf("node printed %q: %v", lines.Text(), err)
		}
		e := ev.Data.ReleaseEvents
		seen = append(seen, fmt.Sprintf("%s %d %s", e.Type, e.Release.Revision, e.Release.Status))
		if len(ev.Errors) > 0 || e.Type != "MODIFIED" || e.Release.Name != "api" || e.PreviousRevision == nil {
			t.Fatalf("event = %s, want MODIFIED events of beta/sub-node/api with the previous revision", lines.Text())
		}
		if e.Release.Revision == 2 && e.Release.Status == "DEPLOYED" {
			break
		}
	}
	if want := "MODIFIED 2 DEPLOYED"; len(seen) == 0 || seen[len(seen)-1] != want {
		t.Fatalf("events = %v (%s), want them to end with %s", seen, stderr.String(), want)
	}
	if seen[0] != "MODIFIED 2 PENDING_UPGRADE" {
		t.Errorf("first event = %s, want the pending-upgrade revision first", seen[0])
	}
}

// TestGraphiQLSubscription runs a releaseEvents subscription in the page and
// sees an upgrade made in the real API server arrive there.
func TestGraphiQLSubscription(t *testing.T) {
	seed(t)
	ctx := context.Background()
	rc := env.REST("alpha")
	if err := localcluster.InstallRelease(ctx, rc, "sub-page", "web", "webapp", map[string]any{"message": "v1"}); err != nil {
		t.Fatal(err)
	}
	ts := serveLive(t, "alpha")
	bctx, _ := browser(t)
	q := `subscription Watch { releaseEvents(filter: {namespaces: ["sub-page"]}) { type previousRevision release { name revision status } } }`
	err := chromedp.Run(bctx,
		chromedp.Navigate(ts.URL+"/"),
		typeQuery(q),
		chromedp.Click(`.graphiql-execute-button`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("start the subscription in GraphiQL: %v", err)
	}
	// The page's websocket subscribes asynchronously; upgrade until the page
	// shows an event (each upgrade is a real change in the cluster).
	var result string
	for i := 2; i < 6 && !strings.Contains(result, "MODIFIED"); i++ {
		time.Sleep(time.Second)
		if err := localcluster.UpgradeRelease(ctx, rc, "sub-page", "web", "webapp", map[string]any{"message": "v" + string(rune('0'+i))}); err != nil {
			t.Fatal(err)
		}
		chromedp.Run(bctx, chromedp.Poll(editorValue(".graphiql-response")+`.includes('MODIFIED')`, nil, chromedp.WithPollingTimeout(5*time.Second)))
		chromedp.Run(bctx, chromedp.Evaluate(editorValue(".graphiql-response"), &result))
	}
	var png []byte
	chromedp.Run(bctx, chromedp.FullScreenshot(&png, 100))
	writeArtifact(t, "graphiql-subscription.png", png)
	if !strings.Contains(result, `"MODIFIED"`) || !strings.Contains(result, `"name": "web"`) {
		t.Fatalf("the page's result pane = %q, want a MODIFIED event for sub-page/web", result)
	}
}

// TestGraphiQLSubscriptionWithToken: with authentication on, the token typed
// into GraphiQL's headers editor authenticates the page's websocket too.
func TestGraphiQLSubscriptionWithToken(t *testing.T) {
	azSeed(t)
	s := serveAuth(t, server.APIOptions{}, true)
	bctx, _ := browser(t)
	name := "page-tok" + runSuffix()
	q := `subscription Mine { releaseEvents(filter: {namespaces: ["authz-dev1"]}) { type release { namespace name status } } }`
	const headersEditor = `.graphiql-editor-tool .graphiql-editor:not(.hidden)`
	getHeaders := `document.querySelector('` + headersEditor + ` .CodeMirror').CodeMirror.getValue()`
	var headers string
	err := chromedp.Run(bctx,
		chromedp.Navigate(s.ts.URL+"/"),
		chromedp.WaitVisible(`.graphiql-query-editor .CodeMirror`, chromedp.ByQuery),
		chromedp.Click(`//button[normalize-space(.)='Headers']`, chromedp.BySearch),
		chromedp.Sleep(300*time.Millisecond),
		// Typed, as a user would, so GraphiQL's own state holds the headers.
		chromedp.Click(headersEditor+` .CodeMirror-lines`, chromedp.ByQuery),
		chromedp.SendKeys(headersEditor+` textarea`, `{"Authorization": "Bearer `+aliceToken+`"}`, chromedp.ByQuery),
		chromedp.KeyEvent("\x1b"),
		chromedp.Evaluate(getHeaders, &headers),
		typeQuery(q),
		chromedp.Click(`.graphiql-execute-button`, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(headers, aliceToken) {
		var png []byte
		var dbg string
		chromedp.Run(bctx, chromedp.FullScreenshot(&png, 100), chromedp.Evaluate(`[...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].map(e => (e.offsetParent !== null) + ':' + e.CodeMirror.getValue()).join('|') + ' focus=' + document.activeElement.outerHTML.slice(0,120)`, &dbg))
		writeArtifact(t, "graphiql-headers-failed.png", png)
		t.Logf("editors: %s", dbg)
		t.Fatalf("set the token in the headers editor and subscribe: %v (headers %q)", err, headers)
	}
	var result string
	for i := 0; i < 4 && !strings.Contains(result, name); i++ {
		time.Sleep(time.Second)
		n := fmt.Sprintf("%s-%d", name, i)
		if err := localcluster.InstallRelease(context.Background(), env.REST("alpha"), "authz-dev1", n, "webapp", nil); err != nil {
			t.Fatal(err)
		}
		chromedp.Run(bctx, chromedp.Poll(editorValue(".graphiql-response")+`.includes('`+n+`')`, nil, chromedp.WithPollingTimeout(5*time.Second)))
		chromedp.Run(bctx, chromedp.Evaluate(editorValue(".graphiql-response"), &result))
	}
	var png []byte
	chromedp.Run(bctx, chromedp.FullScreenshot(&png, 100))
	writeArtifact(t, "graphiql-subscription-token.png", png)
	if !strings.Contains(result, name) {
		t.Fatalf("result pane = %q, want an event for %s delivered over the token-authenticated websocket", result, name)
	}
	// Without the token the page's websocket is refused.
	if _, m, err := wsInit(t, s.ts, ""); err == nil && m.Type == "connection_ack" {
		t.Error("a websocket without a token was acknowledged")
	}
}
