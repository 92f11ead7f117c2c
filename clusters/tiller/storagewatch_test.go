package tiller_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/helmgraph/helmgraph/clusters/tiller"
	"github.com/helmgraph/helmgraph/internal/localcluster"
	"github.com/helmgraph/helmgraph/internal/testenv"
)

// noPoll is a poll interval no test outlasts: what such a watch reports
// beyond its first list, only the storage watch can have caused.
const noPoll = time.Hour

// storageWatchTests run inside TestPortForward, whose agent forwards the
// Tiller pod's port to a Tiller of the test's choosing (the shared one,
// storing releases in ConfigMaps of kube-system, unless a test says).
func storageWatchTests(t *testing.T, agent *localcluster.NodeAgent) {
	t.Run("prompt", testStorageWatch)
	t.Run("secret storage", func(t *testing.T) {
		tl, err := localcluster.StartTiller(ctxFor(t), localcluster.TillerOptions{Binary: tillerBin, Dir: t.TempDir(), Kubeconfig: apiServer.KubeconfigPath, Storage: "secret"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tl.Stop)
		agent.Forward(localcluster.TillerNamespace, localcluster.TillerPodName, tl.Addr)
		t.Cleanup(func() { agent.Forward(localcluster.TillerNamespace, localcluster.TillerPodName, testTiller.Addr) })
		testStorageWatchOf(t, tl.Addr)
	})
	t.Run("reconnects", testStorageWatchReconnects)
	t.Run("forbidden", testStorageWatchForbidden)
}

// watching starts the Watch of a port-forward driver through rc, its logs
// going to a buffer, and waits for the initial set; stop ends the Watch and
// returns its error and the logs.
func watching(t *testing.T, rc *rest.Config, interval time.Duration) (sink *sinkLog, d *tiller.Driver, stop func() (error, string)) {
	t.Helper()
	var logs bytes.Buffer // written by Watch's goroutines only until stop returns
	var err error
	d, err = tiller.New(tiller.Config{Cluster: clusterName, Transport: &tiller.PortForward{Cluster: clusterName, REST: rc}, PollInterval: interval,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	initial, err := d.List(ctxFor(t), nil)
	if err != nil {
		t.Fatalf("List() error = %v", err)
	}
	sink = &sinkLog{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Watch(ctx, sink) }()
	t.Cleanup(cancel)
	sink.waitFor(t, fmt.Sprintf("replace %d", len(initial)))
	return sink, d, func() (error, string) {
		cancel()
		err := <-done
		return err, logs.String()
	}
}

// lifecycle installs, upgrades and purges release name through the Tiller
// at addr and waits for each to reach sink, returning how long the slowest
// took.
func lifecycle(t *testing.T, sink *sinkLog, addr, name string) time.Duration {
	t.Helper()
	ctx := ctxFor(t)
	c, err := localcluster.DialTiller(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Gone already unless a step failed; then it would spoil the other tests' lists.
		c.Delete(context.Background(), name, true)
		c.Close()
	})
	var slowest time.Duration
	for _, step := range []struct {
		do   func() error
		want string
	}{
		{func() error { return c.Install(ctx, "storagewatch", name, "jobs", nil) }, "upsert " + name + " v1 DEPLOYED"},
		{func() error { return c.Upgrade(ctx, name, "jobs", map[string]any{"suspend": true}) }, "upsert " + name + " v2 DEPLOYED"},
		{func() error { return c.Delete(ctx, name, true) }, "delete " + name},
	} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		sink.waitFor(t, step.want)
		slowest = max(slowest, time.Since(start))
	}
	return slowest
}

// Through a port-forward, the storage watch reports changes promptly: the
// poll interval is an hour, so only it can explain them.
func testStorageWatch(t *testing.T) { testStorageWatchOf(t, testTiller.Addr) }

func testStorageWatchOf(t *testing.T, addr string) {
	sink, _, stop := watching(t, apiServer.RESTConfig(), noPoll)
	slowest := lifecycle(t, sink, addr, "prompt")
	if slowest > 5*time.Second {
		t.Errorf("slowest change took %s to reach the sink; want a few seconds at most", slowest)
	}
	err, logs := stop()
	if err != nil {
		t.Errorf("Watch() after cancel = %v, want nil", err)
	}
	if strings.Contains(logs, "level=WARN") {
		t.Errorf("Watch logged warnings with a working storage watch:\n%s", logs)
	}
	t.Logf("slowest change reached the sink after %s", slowest)
}

// The storage watch comes back by itself when its connection to the API
// server breaks and connecting fails for a while: it warns, retries, and
// then reports changes promptly again.
func testStorageWatchReconnects(t *testing.T) {
	link := newAPILink(t)
	rc := apiServer.RESTConfig()
	rc.Host = "https://" + link.addr
	sink, d, stop := watching(t, rc, noPoll)
	// The storage watch lists once when it starts; a list that fails (no
	// API server) ends Watch for its caller to retry, which is not what
	// this test is about.
	time.Sleep(time.Second)
	link.down()
	time.Sleep(1500 * time.Millisecond) // a refused attempt or two
	if err := link.up(); err != nil {
		t.Fatal(err)
	}
	// The forward to Tiller broke too; the driver reopens it on its own.
	deadline := time.Now().Add(15 * time.Second)
	for _, err := d.List(ctxFor(t), nil); err != nil; _, err = d.List(ctxFor(t), nil) {
		if time.Now().After(deadline) {
			t.Fatalf("List() still failing 15s after the API server was reachable again: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if slowest := lifecycle(t, sink, testTiller.Addr, "reconnected"); slowest > 5*time.Second {
		t.Errorf("slowest change took %s to reach the sink; want a few seconds at most", slowest)
	}
	err, logs := stop()
	if err != nil {
		t.Errorf("Watch() after cancel = %v, want nil", err)
	}
	for _, want := range []string{`level=WARN msg="tiller storage watch unavailable`, `level=INFO msg="tiller storage watch established`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not contain %q (the watch did not go down and come back?):\n%s", want, logs)
		}
	}
}

// apiLink relays TCP to the API server, and can break: down closes every
// connection through it and refuses new ones until up.
type apiLink struct {
	addr  string
	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]bool
}

func newAPILink(t *testing.T) *apiLink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &apiLink{addr: l.Addr().String(), conns: map[net.Conn]bool{}}
	a.serve(l)
	t.Cleanup(a.down)
	return a
}

func (a *apiLink) up() error {
	l, err := net.Listen("tcp", a.addr)
	if err != nil {
		return err
	}
	a.serve(l)
	return nil
}

func (a *apiLink) serve(l net.Listener) {
	a.mu.Lock()
	a.l = l
	a.mu.Unlock()
	target := strings.TrimPrefix(apiServer.URL, "https://")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go a.relay(c, target)
		}
	}()
}

// relay joins c to a new connection to target until either side ends or
// the link goes down.
func (a *apiLink) relay(c net.Conn, target string) {
	u, err := net.Dial("tcp", target)
	if err == nil && !a.track(c, u) {
		u.Close()
		err = net.ErrClosed
	}
	if err != nil {
		c.Close()
		return
	}
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
	a.mu.Lock()
	delete(a.conns, c)
	delete(a.conns, u)
	a.mu.Unlock()
}

// track remembers the pair for down, unless the link is down already.
func (a *apiLink) track(cs ...net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.l == nil {
		return false
	}
	for _, c := range cs {
		a.conns[c] = true
	}
	return true
}

func (a *apiLink) down() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.l != nil {
		a.l.Close()
		a.l = nil
	}
	for c := range a.conns {
		c.Close()
		delete(a.conns, c)
	}
}

// An identity that may port-forward to Tiller but not read its storage:
// the storage watch is refused, Watch says so once per resource and keeps
// reporting changes by polling, without failing.
func testStorageWatchForbidden(t *testing.T) {
	rc := poller(t)
	sink, _, stop := watching(t, rc, 200*time.Millisecond)
	lifecycle(t, sink, testTiller.Addr, "polled")
	// Let the refused watches retry at least once.
	time.Sleep(2 * time.Second)
	err, logs := stop()
	if err != nil {
		t.Errorf("Watch() with the storage watch forbidden = %v, want nil", err)
	}
	for _, res := range []string{"configmaps", "secrets"} {
		var warns int
		for line := range strings.Lines(logs) {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "resource="+res) {
				warns++
				if !strings.Contains(line, "forbidden") {
					t.Errorf("warning for %s does not say it is forbidden: %s", res, line)
				}
			}
		}
		if warns != 1 || !strings.Contains(logs, `level=DEBUG msg="tiller storage watch still unavailable" `) {
			t.Errorf("warnings for %s = %d, want 1, then retries at debug level; logs:\n%s", res, warns, logs)
		}
	}
	if strings.Contains(logs, apiServer.Token) {
		t.Errorf("logs contain the cluster's token:\n%s", logs)
	}
}

// poller is a client that may find the Tiller pod and port-forward to it,
// and nothing else: no configmaps, no secrets.
func poller(t *testing.T) *rest.Config {
	t.Helper()
	ctx := ctxFor(t)
	const user = "tiller-poller"
	cs, err := kubernetes.NewForConfig(apiServer.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: localcluster.TillerNamespace}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create", "get"}},
	}}
	if _, err := cs.RbacV1().Roles(role.Namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: role.Namespace},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user}}
	if _, err := cs.RbacV1().RoleBindings(rb.Namespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rc := apiServer.RESTConfig()
	rc.Impersonate = rest.ImpersonationConfig{UserName: user}
	attrs := authorizationv1.ResourceAttributes{Namespace: role.Namespace, Verb: "create", Resource: "pods", Subresource: "portforward"}
	if err := testenv.WaitAllowed(ctx, rc, attrs); err != nil {
		t.Fatal(err)
	}
	return rc
}
