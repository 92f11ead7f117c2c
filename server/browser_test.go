package server_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/helmgraph/helmgraph/web"
)

// artifactDir is where browser tests leave screenshots: $HELMGRAPH_ARTIFACTS,
// else .artifacts/ at the repository root.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("HELMGRAPH_ARTIFACTS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", ".artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeArtifact saves a test artifact (a screenshot) and logs where.
func writeArtifact(t *testing.T, name string, b []byte) {
	t.Helper()
	p := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s", p)
}

// browser starts headless Debian chromium, as a user's browser, and records
// every URL the page requests.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	if _, ok := web.Assets(); !ok {
		t.Fatal("the GraphiQL page is not built: run `cd web && npm ci && npm run build` before go test (scripts/test does)")
	}
	profile, err := os.MkdirTemp("", "helmgraph-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelT()
		cancelC()
		cancelA()
		os.RemoveAll(profile)
	})
	var mu sync.Mutex
	var urls []string
	listen := func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	}
	chromedp.ListenTarget(ctx, listen)
	if err := chromedp.Run(ctx, network.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), urls...) }
}

// typeQuery replaces the query editor's text by typing, as a user would.
func typeQuery(q string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.WaitVisible(`.graphiql-query-editor .CodeMirror`, chromedp.ByQuery),
		chromedp.Click(`.graphiql-query-editor .CodeMirror-lines`, chromedp.ByQuery),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(2)), // Ctrl+A
		chromedp.KeyEvent("\b"),
		chromedp.SendKeys(`.graphiql-query-editor textarea`, q, chromedp.ByQuery),
		chromedp.KeyEvent("\x1b"), // close the autocomplete popup typing opened
		// GraphiQL derives the operation name from the text after a short
		// debounce; running before that would send the old name.
		chromedp.Sleep(700 * time.Millisecond),
	}
}

// editorValue reads a CodeMirror editor's text inside GraphiQL.
func editorValue(selector string) string {
	return `(() => { const cm = document.querySelector('` + selector + ` .CodeMirror'); return cm ? cm.CodeMirror.getValue() : ''; })()`
}

func TestGraphiQLInBrowser(t *testing.T) {
	seed(t)
	ts := serve(t, "alpha", "beta")
	ctx, requested := browser(t)

	query := `{ releases(filter: {clusters: ["beta"], namespaces: ["web"]}) { nodes { cluster name revision status } } }`
	var result string
	err := chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/"),
		typeQuery(query),
		chromedp.Click(`.graphiql-execute-button`, chromedp.ByQuery),
	)
	// The result pane fills in when the response arrives; a click that landed
	// while the editor was still busy is repeated once.
	resultHas := chromedp.Poll(editorValue(".graphiql-response")+`.includes('"shop"')`, nil, chromedp.WithPollingTimeout(15*time.Second))
	if err == nil && chromedp.Run(ctx, resultHas) != nil {
		err = chromedp.Run(ctx, chromedp.Click(`.graphiql-execute-button`, chromedp.ByQuery), resultHas)
	}
	if err == nil {
		err = chromedp.Run(ctx, chromedp.Evaluate(editorValue(".graphiql-response"), &result))
	}
	if err != nil {
		var typed string
		var png []byte
		chromedp.Run(ctx, chromedp.Evaluate(editorValue(".graphiql-query-editor"), &typed), chromedp.FullScreenshot(&png, 100))
		os.WriteFile(filepath.Join(artifactDir(t), "graphiql-query-failed.png"), png, 0o644)
		t.Fatalf("run a query in GraphiQL: %v (editor holds %q, result %q)", err, typed, result)
	}
	if !strings.Contains(result, `"revision": 3`) || !strings.Contains(result, `"DEPLOYED"`) {
		t.Errorf("result pane = %s, want beta/web/shop at revision 3 DEPLOYED", result)
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	writeArtifact(t, "graphiql-query.png", png)

	// Nothing may leave for another host: the page works air-gapped.
	base, _ := url.Parse(ts.URL)
	for _, u := range requested() {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "data" && p.Scheme != "blob" && p.Host != base.Host) {
			t.Errorf("the page requested %s; only %s may be contacted", u, base.Host)
		}
	}
}
