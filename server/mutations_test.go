package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/registry"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/clusters/helm"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/server"
)

// The mutation tests use their own namespaces (ops-e2e*) on alpha and beta,
// so the read-path tests' releases stay as they are.

const repoPassword = "chart-repo-pw-do-not-print"

// serveOps starts helmgraph over alpha and beta with an operations manager
// and a chart registry the test owns.
func serveOps(t *testing.T, co charts.Options) *httptest.Server {
	t.Helper()
	var cfgs []clusters.Config
	for _, c := range env.Configs() {
		if c.Name == "alpha" || c.Name == "beta" {
			c.Timeout = clusters.Duration(20 * time.Second)
			cfgs = append(cfgs, c)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := clusters.Open(cfgs, log)
	if err != nil {
		t.Fatal(err)
	}
	mgr := ops.NewManager(ops.NewMemoryStore(0), log)
	co.Log = log
	chs := charts.NewRegistry(co)
	ts := httptest.NewServer(server.New(server.Options{Registry: reg, Log: log, Ops: mgr, Charts: chs}).Handler())
	t.Cleanup(func() { ts.Close(); mgr.Close(); chs.Close() })
	return ts
}

func configMapTemplate(extra string) string {
	return `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
  chartVersion: {{ .Chart.Version | quote }}
` + extra
}

func appChart(version string) testenv.Chart {
	return testenv.Chart{
		Name: "app", Version: version, AppVersion: "v" + version, Description: "an app for the mutation tests",
		Icon: "https://icons.example/app.png", Values: map[string]any{"message": "default"},
		Templates: map[string]string{"configmap.yaml": configMapTemplate("")},
	}
}

// hookPod is a Pod hook; with no kubelet it never runs: tests set its phase.
func hookPod(name, hook string) string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-` + name + `
  annotations:
    helm.sh/hook: ` + hook + `
spec:
  restartPolicy: Never
  containers:
    - name: check
      image: registry.example/check:1
      command: ["sh", "-c", "echo checking {{ .Release.Name }}"]
`
}

// --- GraphQL helpers ---

const opFields = `id kind phase dryRun target { cluster namespace name }
	messages { time text } error { code message }
	release { revision status chart { name version } values }
	dryRunResult { revision manifest values computedValues deployedRevision manifestDiff valuesDiff }
	tests { name kind phase logs logsError }
	createdAt startedAt finishedAt`

type operation struct {
	ID, Kind, Phase string
	DryRun          bool
	Target          struct{ Cluster, Namespace, Name string }
	Messages        []struct {
		Time time.Time
		Text string
	}
	Error   *struct{ Code, Message string }
	Release *struct {
		Revision int
		Status   string
		Chart    struct{ Name, Version string }
		Values   map[string]any
	}
	DryRunResult *struct {
		Revision                 int
		Manifest                 string
		Values, ComputedValues   map[string]any
		DeployedRevision         *int
		ManifestDiff, ValuesDiff string
	}
	Tests []struct {
		Name, Kind, Phase, Logs string
		LogsError               *string
	}
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

func (o operation) texts() []string {
	var out []string
	for _, m := range o.Messages {
		out = append(out, m.Text)
	}
	return out
}

// mutate runs a mutation returning an Operation and fails on any error.
func mutate(t *testing.T, ts *httptest.Server, field, inputType string, input map[string]any) operation {
	t.Helper()
	r := post(t, ts, fmt.Sprintf(`mutation($in: %s!) { %s(input: $in) { %s } }`, inputType, field, opFields), map[string]any{"in": input})
	assertNoRepoSecrets(t, r.raw)
	if len(r.Errors) > 0 {
		t.Fatalf("%s: unexpected errors: %s", field, r.raw)
	}
	var out map[string]operation
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatal(err)
	}
	return out[field]
}

// mutateErr runs a mutation that must fail with code, and returns the message.
func mutateErr(t *testing.T, ts *httptest.Server, field, inputType string, input map[string]any, code string, contains ...string) string {
	t.Helper()
	r := post(t, ts, fmt.Sprintf(`mutation($in: %s!) { %s(input: $in) { id } }`, inputType, field), map[string]any{"in": input})
	assertNoRepoSecrets(t, r.raw)
	if len(r.Errors) == 0 {
		t.Errorf("%s(%v): no error, want %s", field, input, code)
		return ""
	}
	e := r.Errors[0]
	if e.Extensions["code"] != code {
		t.Errorf("%s: error code %v (%s), want %s", field, e.Extensions["code"], e.Message, code)
	}
	for _, c := range contains {
		if !strings.Contains(e.Message, c) {
			t.Errorf("%s: error %q does not contain %q", field, e.Message, c)
		}
	}
	return e.Message
}

func getOp(t *testing.T, ts *httptest.Server, id string) operation {
	t.Helper()
	var got struct{ Operation *operation }
	data(t, ts, `query($id: ID!) { operation(id: $id) { `+opFields+` } }`, map[string]any{"id": id}, &got)
	if got.Operation == nil {
		t.Fatalf("operation(%s) = null", id)
	}
	return *got.Operation
}

// waitOp polls the operation until it ends.
func waitOp(t *testing.T, ts *httptest.Server, id string) operation {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		op := getOp(t, ts, id)
		if op.Phase == "SUCCEEDED" || op.Phase == "FAILED" {
			checkMessages(t, op)
			return op
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s still %s after 90s; messages: %q", id, op.Phase, op.texts())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkMessages(t *testing.T, op operation) {
	t.Helper()
	if len(op.Messages) < 2 {
		t.Errorf("operation %s has %d messages, want at least the first and the last", op.ID, len(op.Messages))
		return
	}
	for i := 1; i < len(op.Messages); i++ {
		if op.Messages[i].Time.Before(op.Messages[i-1].Time) {
			t.Errorf("operation %s: message %d (%q) is older than message %d", op.ID, i, op.Messages[i].Text, i-1)
		}
	}
	last := op.Messages[len(op.Messages)-1].Text
	if op.Phase == "SUCCEEDED" && last != "succeeded" || op.Phase == "FAILED" && !strings.HasPrefix(last, "failed: ") {
		t.Errorf("operation %s %s ends with message %q", op.ID, op.Phase, last)
	}
	if op.StartedAt == nil || op.FinishedAt == nil || op.FinishedAt.Before(*op.StartedAt) || op.StartedAt.Before(op.CreatedAt) {
		t.Errorf("operation %s: createdAt %v startedAt %v finishedAt %v, want them in order", op.ID, op.CreatedAt, op.StartedAt, op.FinishedAt)
	}
}

func wantSucceeded(t *testing.T, op operation) {
	t.Helper()
	if op.Phase != "SUCCEEDED" || op.Error != nil {
		t.Fatalf("operation %s %s: %s, error %+v; messages %q", op.ID, op.Kind, op.Phase, op.Error, op.texts())
	}
}

func assertNoRepoSecrets(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, repoPassword) {
		t.Fatalf("response contains the chart repository's password: %s", body)
	}
}

// --- the cluster's own view ---

func clientset(t *testing.T, cluster string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.REST(cluster))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// storedRevisions reads Helm's storage Secrets: revision → status label.
func storedRevisions(t *testing.T, cluster, ns, name string) map[int]string {
	t.Helper()
	l, err := clientset(t, cluster).CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, s := range l.Items {
		var v int
		fmt.Sscan(s.Labels["version"], &v)
		out[v] = s.Labels["status"]
	}
	return out
}

func configMapMessage(t *testing.T, cluster, ns, name string) (string, bool) {
	t.Helper()
	cm, err := clientset(t, cluster).CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["message"], true
}

// ensureNamespace creates a namespace and its default ServiceAccount: no
// controller-manager runs, and Pods (hooks) need the account.
func ensureNamespace(t *testing.T, cluster, ns string) {
	t.Helper()
	cs := clientset(t, cluster)
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// finishPod stands in for the kubelet: the test API server runs no pods, so
// when the hook pod appears the test sets its status phase through the
// status subresource, as a kubelet would when the container exits.
func finishPod(t *testing.T, cluster, ns, name string, phase corev1.PodPhase) {
	t.Helper()
	cs := clientset(t, cluster)
	deadline := time.Now().Add(60 * time.Second)
	for {
		pod, err := cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err == nil {
			pod.Status.Phase = phase
			if _, err = cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err == nil {
				return
			}
		}
		if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			t.Fatalf("set phase of pod %s/%s: %v", ns, name, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook pod %s/%s did not appear within 60s", ns, name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func addRepo(t *testing.T, ts *httptest.Server, in map[string]any) map[string]any {
	t.Helper()
	r := post(t, ts, `mutation($in: RepositoryInput!) { addRepository(input: $in) { name url oci flavor hasCredentials uploadSupported lastRefresh lastError chartCount } }`, map[string]any{"in": in})
	assertNoRepoSecrets(t, r.raw)
	if len(r.Errors) > 0 {
		t.Fatalf("addRepository: %s", r.raw)
	}
	var out struct{ AddRepository map[string]any }
	json.Unmarshal(r.Data, &out)
	return out.AddRepository
}

// --- the tests ---

// Install → upgrade (dry run, then for real) → rollback → uninstall of a chart
// from a real HTTP repository with basic auth, through GraphQL over HTTP,
// checking Helm's storage in the cluster after each step.
func TestMutationLifecycle(t *testing.T) {
	const cluster, ns, name = "alpha", "ops-e2e", "web"
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Username: "ci", Password: repoPassword})
	repo.Add(t, testenv.PackageChart(t, appChart("1.0.0")))
	repo.Add(t, testenv.PackageChart(t, appChart("2.0.0")))
	ts := serveOps(t, charts.Options{})

	info := addRepo(t, ts, map[string]any{"name": "main", "url": repo.URL, "username": "ci", "password": repoPassword, "flavor": "chartmuseum"})
	if info["hasCredentials"] != true || info["chartCount"] != float64(1) || info["lastError"] != nil || info["flavor"] != "chartmuseum" {
		t.Errorf("addRepository = %v, want credentials, 1 chart, no error", info)
	}
	var list struct {
		Repositories []struct{ Name string }
		Charts       struct {
			TotalCount int
			Nodes      []struct {
				Name, Version, Description, IconURL, AppVersion string
				Versions                                        []struct{ Version, AppVersion string }
			}
		}
	}
	data(t, ts, `{ repositories { name } charts(repository: "main", query: "app") { totalCount nodes { name version description iconURL appVersion versions { version appVersion } } } }`, nil, &list)
	if len(list.Repositories) != 1 || list.Charts.TotalCount != 1 {
		t.Fatalf("repositories/charts = %+v", list)
	}
	if c := list.Charts.Nodes[0]; c.Name != "app" || c.Version != "2.0.0" || c.AppVersion != "v2.0.0" || c.IconURL != "https://icons.example/app.png" ||
		c.Description == "" || len(c.Versions) != 2 || c.Versions[1].Version != "1.0.0" {
		t.Errorf("charts(main) = %+v, want app 2.0.0 with icon, description and versions 2.0.0, 1.0.0", c)
	}

	// A dry-run install renders against the cluster and installs nothing.
	op := waitOp(t, ts, mutate(t, ts, "installRelease", "InstallReleaseInput", map[string]any{
		"cluster": cluster, "namespace": ns, "name": name, "createNamespace": true, "dryRun": true,
		"chart": map[string]any{"repository": "main", "name": "app", "version": "1.0.0"}, "values": "message: one\n",
	}).ID)
	wantSucceeded(t, op)
	if dr := op.DryRunResult; dr == nil || dr.Revision != 1 || dr.DeployedRevision != nil || !strings.Contains(dr.Manifest, `message: "one"`) ||
		!strings.Contains(dr.ManifestDiff, "--- (nothing deployed)") || !strings.Contains(dr.ManifestDiff, `+  message: "one"`) || dr.ComputedValues["message"] != "one" {
		t.Errorf("dry-run install = %+v, want revision 1 rendered with message one and a diff from nothing", dr)
	}
	if got := storedRevisions(t, cluster, ns, name); len(got) != 0 {
		t.Errorf("after a dry-run install the cluster stores %v, want nothing", got)
	}

	// Install 1.0.0.
	op = mutate(t, ts, "installRelease", "InstallReleaseInput", map[string]any{
		"cluster": cluster, "namespace": ns, "name": name, "createNamespace": true,
		"chart": map[string]any{"repository": "main", "name": "app", "version": "1.0.0"}, "values": "message: one\n",
	})
	if op.Phase != "PENDING" || op.Kind != "INSTALL" || op.Target.Cluster != cluster || op.Target.Name != name || op.ID == "" {
		t.Errorf("installRelease returned %+v, want a PENDING INSTALL of %s/%s/%s", op, cluster, ns, name)
	}
	if len(op.Messages) == 0 || !strings.Contains(op.Messages[0].Text, "install chart app 1.0.0") {
		t.Errorf("first message = %q, want it to say what is installed", op.texts())
	}
	op = waitOp(t, ts, op.ID)
	wantSucceeded(t, op)
	if op.Release == nil || op.Release.Revision != 1 || op.Release.Status != "DEPLOYED" || op.Release.Chart.Version != "1.0.0" || op.Release.Values["message"] != "one" {
		t.Errorf("install result release = %+v, want revision 1 DEPLOYED of app 1.0.0 with message one", op.Release)
	}
	if !slices.ContainsFunc(op.texts(), func(s string) bool { return strings.HasPrefix(s, "helm: ") }) {
		t.Errorf("messages %q carry no progress from Helm", op.texts())
	}
	if got := storedRevisions(t, cluster, ns, name); len(got) != 1 || got[1] != "deployed" {
		t.Errorf("after install the cluster stores %v, want revision 1 deployed", got)
	}
	if msg, ok := configMapMessage(t, cluster, ns, name+"-config"); !ok || msg != "one" {
		t.Errorf("after install ConfigMap message = %q (exists %v), want one", msg, ok)
	}

	// A dry-run upgrade renders and diffs, and changes nothing.
	op = mutate(t, ts, "upgradeRelease", "UpgradeReleaseInput", map[string]any{
		"cluster": cluster, "namespace": ns, "name": name, "dryRun": true,
		"chart": map[string]any{"repository": "main", "name": "app"}, "values": `{"message": "two"}`,
	})
	op = waitOp(t, ts, op.ID)
	wantSucceeded(t, op)
	dr := op.DryRunResult
	if !op.DryRun || dr == nil || op.Release != nil {
		t.Fatalf("dry run: dryRun %v result %+v release %+v, want a dry-run result and no release", op.DryRun, dr, op.Release)
	}
	if dr.Revision != 2 || dr.DeployedRevision == nil || *dr.DeployedRevision != 1 || !strings.Contains(dr.Manifest, `message: "two"`) ||
		dr.Values["message"] != "two" || dr.ComputedValues["message"] != "two" {
		t.Errorf("dry run result = %+v, want revision 2 over deployed 1 with message two", dr)
	}
	for _, want := range []string{"--- revision 1 (deployed)", "+++ revision 2 (dry run)", `-  message: "one"`, `+  message: "two"`, `-  chartVersion: "1.0.0"`, `+  chartVersion: "2.0.0"`} {
		if !strings.Contains(dr.ManifestDiff, want) {
			t.Errorf("manifest diff does not contain %q:\n%s", want, dr.ManifestDiff)
		}
	}
	if !strings.Contains(dr.ValuesDiff, "-message: one") || !strings.Contains(dr.ValuesDiff, "+message: two") {
		t.Errorf("values diff:\n%s\nwant message one → two", dr.ValuesDiff)
	}
	if got := storedRevisions(t, cluster, ns, name); len(got) != 1 {
		t.Errorf("after a dry run the cluster stores %v, want only revision 1", got)
	}

	// Upgrade to 2.0.0, following it over a websocket subscription.
	op = mutate(t, ts, "upgradeRelease", "UpgradeReleaseInput", map[string]any{
		"cluster": cluster, "namespace": ns, "name": name, "description": "to two",
		"chart": map[string]any{"repository": "main", "name": "app", "version": "2.0.0"}, "values": "message: two\n",
	})
	streamed := subscribeOp(t, ts, op.ID)
	if last := streamed[len(streamed)-1]; last.Phase != "SUCCEEDED" {
		t.Errorf("subscription's last update: %s, want SUCCEEDED", last.Phase)
	}
	op = waitOp(t, ts, op.ID)
	wantSucceeded(t, op)
	if op.Release == nil || op.Release.Revision != 2 || op.Release.Chart.Version != "2.0.0" {
		t.Errorf("upgrade result release = %+v, want revision 2 of app 2.0.0", op.Release)
	}
	if got := storedRevisions(t, cluster, ns, name); got[1] != "superseded" || got[2] != "deployed" {
		t.Errorf("after upgrade the cluster stores %v, want 1 superseded and 2 deployed", got)
	}
	if msg, _ := configMapMessage(t, cluster, ns, name+"-config"); msg != "two" {
		t.Errorf("after upgrade ConfigMap message = %q, want two", msg)
	}

	// A dry-run rollback shows what revision 1 would bring back.
	op = waitOp(t, ts, mutate(t, ts, "rollbackRelease", "RollbackReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": name, "revision": 1, "dryRun": true}).ID)
	wantSucceeded(t, op)
	if dr := op.DryRunResult; dr == nil || dr.Revision != 3 || !strings.Contains(dr.ManifestDiff, `+  message: "one"`) {
		t.Errorf("rollback dry run = %+v, want revision 3 bringing message one back", dr)
	}

	// Roll back to revision 1.
	op = waitOp(t, ts, mutate(t, ts, "rollbackRelease", "RollbackReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": name, "revision": 1}).ID)
	wantSucceeded(t, op)
	if op.Release == nil || op.Release.Revision != 3 || op.Release.Status != "DEPLOYED" || op.Release.Chart.Version != "1.0.0" {
		t.Errorf("rollback result release = %+v, want revision 3 DEPLOYED of app 1.0.0", op.Release)
	}
	if got := storedRevisions(t, cluster, ns, name); got[2] != "superseded" || got[3] != "deployed" {
		t.Errorf("after rollback the cluster stores %v, want 2 superseded and 3 deployed", got)
	}
	if msg, _ := configMapMessage(t, cluster, ns, name+"-config"); msg != "one" {
		t.Errorf("after rollback ConfigMap message = %q, want one", msg)
	}

	// Operations are listed, newest first, and filtered.
	var ol struct {
		Operations struct {
			TotalCount int
			Nodes      []struct{ Kind, Phase string }
		}
	}
	data(t, ts, `{ operations(filter: {cluster: "alpha", name: "web"}, first: 10) { totalCount nodes { kind phase } } }`, nil, &ol)
	var kinds []string
	for _, n := range ol.Operations.Nodes {
		kinds = append(kinds, n.Kind)
	}
	if want := []string{"ROLLBACK", "ROLLBACK", "UPGRADE", "UPGRADE", "INSTALL", "INSTALL"}; !slices.Equal(kinds, want) || ol.Operations.TotalCount != 6 {
		t.Errorf("operations = %v (total %d), want %v", kinds, ol.Operations.TotalCount, want)
	}

	// Uninstall without history: the release and its objects are gone.
	op = waitOp(t, ts, mutate(t, ts, "uninstallRelease", "UninstallReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": name}).ID)
	wantSucceeded(t, op)
	if op.Release != nil {
		t.Errorf("uninstall result release = %+v, want null (no history kept)", op.Release)
	}
	if got := storedRevisions(t, cluster, ns, name); len(got) != 0 {
		t.Errorf("after uninstall the cluster stores %v, want nothing", got)
	}
	if _, ok := configMapMessage(t, cluster, ns, name+"-config"); ok {
		t.Errorf("after uninstall the release's ConfigMap still exists")
	}
	mutateErr(t, ts, "uninstallRelease", "UninstallReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": name}, "NOT_FOUND", `release "web"`)
}

// subscribeOp follows an operation over graphql-transport-ws until it completes.
func subscribeOp(t *testing.T, ts *httptest.Server, id string) []operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	c, err := testenv.DialGraphQL(ctx, ts.URL+"/graphql", testenv.GraphQLTransportWS)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.Subscribe(ctx, "1", `subscription($id: ID!) { operation(id: $id) { `+opFields+` } }`, map[string]any{"id": id}); err != nil {
		t.Fatal(err)
	}
	var out []operation
	for {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("subscription: %v (after %d updates)", err, len(out))
		}
		switch m.Type {
		case "complete":
			if len(out) == 0 {
				t.Fatal("subscription completed without any update")
			}
			for i := 1; i < len(out); i++ {
				if len(out[i].Messages) < len(out[i-1].Messages) {
					t.Errorf("update %d has fewer messages than update %d", i, i-1)
				}
			}
			return out
		case "error":
			t.Fatalf("subscription error: %s", m.Payload)
		}
		var p struct {
			Data struct{ Operation operation }
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Data.Operation)
	}
}

// Two operations on one release are never interleaved: the second is
// refused with CONFLICT while the first runs. A release stuck in a pending
// state is reported as such, and rolling it back is the way out.
func TestMutationConflicts(t *testing.T) {
	const cluster, ns, name = "beta", "ops-e2e", "hooked"
	ensureNamespace(t, cluster, ns)
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{})
	hooked := appChart("1.0.0")
	hooked.Name = "hooked"
	repo.Add(t, testenv.PackageChart(t, hooked))
	hooked.Version = "1.1.0"
	hooked.Templates = map[string]string{"configmap.yaml": configMapTemplate(""), "pre-upgrade.yaml": hookPod("pre-upgrade", "pre-upgrade")}
	repo.Add(t, testenv.PackageChart(t, hooked))
	ts := serveOps(t, charts.Options{})
	addRepo(t, ts, map[string]any{"name": "hooks", "url": repo.URL})

	wantSucceeded(t, waitOp(t, ts, mutate(t, ts, "installRelease", "InstallReleaseInput", map[string]any{
		"cluster": cluster, "namespace": ns, "name": name, "chart": map[string]any{"repository": "hooks", "name": "hooked", "version": "1.0.0"},
	}).ID))

	// The upgrade to 1.1.0 waits on its pre-upgrade hook pod, which only
	// this test can finish: meanwhile a second upgrade must be refused.
	first := mutate(t, ts, "upgradeRelease", "UpgradeReleaseInput", map[string]any{
		"cluster": cluster, "namespace": ns, "name": name, "chart": map[string]any{"repository": "hooks", "name": "hooked", "version": "1.1.0"}, "values": "message: first",
	})
	second := map[string]any{"cluster": cluster, "namespace": ns, "name": name, "chart": map[string]any{"repository": "hooks", "name": "hooked", "version": "1.0.0"}, "values": "message: second"}
	mutateErr(t, ts, "upgradeRelease", "UpgradeReleaseInput", second, "CONFLICT", first.ID)
	mutateErr(t, ts, "rollbackRelease", "RollbackReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": name}, "CONFLICT", first.ID)
	finishPod(t, cluster, ns, name+"-pre-upgrade", corev1.PodSucceeded)
	op := waitOp(t, ts, first.ID)
	wantSucceeded(t, op)
	if got := storedRevisions(t, cluster, ns, name); len(got) != 2 || got[2] != "deployed" {
		t.Errorf("after the first upgrade the cluster stores %v, want revision 2 deployed and nothing of the refused one", got)
	}
	if msg, _ := configMapMessage(t, cluster, ns, name+"-config"); msg != "first" {
		t.Errorf("ConfigMap message = %q, want first (the refused upgrade must not have run)", msg)
	}

	// Now simulate an interrupted upgrade: Helm's storage holds a newer
	// revision in pending-upgrade, as a helm process killed mid-upgrade leaves it.
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	if err := cfg.Init(helm.NewRESTClientGetter(env.REST(cluster), ns), ns, helm.StorageSecret); err != nil {
		t.Fatal(err)
	}
	lasti, err := cfg.Releases.Last(name)
	if err != nil {
		t.Fatal(err)
	}
	pending := *lasti.(*rspb.Release)
	info := *pending.Info
	pending.Info, pending.Version = &info, pending.Version+1
	pending.Info.Status, pending.Info.Description = rcommon.StatusPendingUpgrade, "Preparing upgrade"
	if err := cfg.Releases.Create(&pending); err != nil {
		t.Fatal(err)
	}
	mutateErr(t, ts, "upgradeRelease", "UpgradeReleaseInput", second, "CONFLICT", "stuck in PENDING_UPGRADE (revision 3)", "rollbackRelease")
	var rel struct{ Release struct{ Status string } }
	data(t, ts, `{ release(cluster: "beta", namespace: "ops-e2e", name: "hooked") { status } }`, nil, &rel)
	if rel.Release.Status != "PENDING_UPGRADE" {
		t.Errorf("release status = %s, want PENDING_UPGRADE reported", rel.Release.Status)
	}
	op = waitOp(t, ts, mutate(t, ts, "rollbackRelease", "RollbackReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": name, "revision": 2}).ID)
	wantSucceeded(t, op)
	if got := storedRevisions(t, cluster, ns, name); got[4] != "deployed" {
		t.Errorf("after the rollback the cluster stores %v, want revision 4 deployed", got)
	}
	// And the release can be upgraded again.
	wantSucceeded(t, waitOp(t, ts, mutate(t, ts, "upgradeRelease", "UpgradeReleaseInput", second).ID))
	if msg, _ := configMapMessage(t, cluster, ns, name+"-config"); msg != "second" {
		t.Errorf("ConfigMap message = %q, want second", msg)
	}
}

// testRelease runs the chart's test hooks. No kubelet runs in the test API
// server, so a test pod never runs by itself: the test plays the kubelet and
// sets the pod's phase to Succeeded or Failed through the status subresource,
// which is what Helm watches. Logs come from the kubelet too, so they are empty.
func TestMutationTestRelease(t *testing.T) {
	const cluster, ns = "alpha", "ops-e2e-test"
	ensureNamespace(t, cluster, ns)
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{})
	tested := appChart("1.0.0")
	tested.Name = "tested"
	tested.Templates = map[string]string{"configmap.yaml": configMapTemplate(""), "tests/smoke.yaml": hookPod("smoke", "test")}
	repo.Add(t, testenv.PackageChart(t, tested))
	ts := serveOps(t, charts.Options{})
	addRepo(t, ts, map[string]any{"name": "tested", "url": repo.URL})

	for _, tc := range []struct {
		name      string
		phase     corev1.PodPhase
		wantOp    string
		wantCode  string
		wantPhase string
	}{
		{"passes", corev1.PodSucceeded, "SUCCEEDED", "", "SUCCEEDED"},
		{"fails", corev1.PodFailed, "FAILED", "TEST_FAILED", "FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := "t-" + tc.name
			wantSucceeded(t, waitOp(t, ts, mutate(t, ts, "installRelease", "InstallReleaseInput", map[string]any{
				"cluster": cluster, "namespace": ns, "name": rel, "chart": map[string]any{"repository": "tested", "name": "tested"},
			}).ID))
			op := mutate(t, ts, "testRelease", "TestReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": rel, "timeout": "2m"})
			finishPod(t, cluster, ns, rel+"-smoke", tc.phase)
			op = waitOp(t, ts, op.ID)
			if op.Phase != tc.wantOp || (tc.wantCode == "") != (op.Error == nil) || (op.Error != nil && op.Error.Code != tc.wantCode) {
				t.Errorf("test operation: %s error %+v, want %s %s; messages %q", op.Phase, op.Error, tc.wantOp, tc.wantCode, op.texts())
			}
			if len(op.Tests) != 1 || op.Tests[0].Name != rel+"-smoke" || op.Tests[0].Kind != "Pod" || op.Tests[0].Phase != tc.wantPhase {
				t.Fatalf("tests = %+v, want %s-smoke %s", op.Tests, rel, tc.wantPhase)
			}
			// Logs are read through the API server's pods/log endpoint, as
			// `helm test --logs` does. A pod no kubelet ever ran has no
			// container output: the API server answers with an empty log.
			if tr := op.Tests[0]; tr.LogsError != nil || !strings.HasPrefix(tr.Logs, "POD LOGS: "+rel+"-smoke (check)") {
				t.Errorf("logs = %q, logsError %v; want the (empty) log of container check read without error", tr.Logs, tr.LogsError)
			}
			if op.Release == nil || op.Release.Revision != 1 {
				t.Errorf("test operation release = %+v, want revision 1", op.Release)
			}
		})
	}
}

// Bad input gets a clear error naming the culprit, and the release in the
// cluster stays as it was.
func TestMutationBadInput(t *testing.T) {
	const cluster, ns, name = "beta", "ops-e2e-bad", "steady"
	repo := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Username: "ci", Password: repoPassword})
	repo.Add(t, testenv.PackageChart(t, appChart("1.0.0")))
	broken := appChart("1.0.0")
	broken.Name = "norender"
	broken.Templates = map[string]string{"configmap.yaml": configMapTemplate(`{{ if .Values.breakMe }}{{ fail "norender refuses to render with breakMe" }}{{ end }}`)}
	repo.Add(t, testenv.PackageChart(t, broken))
	repo.AddFile("corrupt-1.0.0.tgz", []byte("\x1f\x8b\x08 definitely not a chart"))
	big := appChart("1.0.0")
	big.Name = "huge"
	var pad strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&pad, "# %x\n", uint64(i)*0x9E3779B97F4A7C15)
	}
	big.Templates["padding.yaml"] = pad.String()
	repo.Add(t, testenv.PackageChart(t, big))
	badName := appChart("1.0.0")
	badName.Name = "badname"
	badName.Templates["bad.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"
	repo.Add(t, testenv.PackageChart(t, badName))
	ts := serveOps(t, charts.Options{MaxArchiveBytes: 16 << 10})

	mutateErr := func(field, typ string, in map[string]any, code string, contains ...string) {
		t.Helper()
		mutateErr(t, ts, field, typ, in, code, contains...)
	}
	// Repositories.
	r := post(t, ts, `mutation { addRepository(input: {name: "wrong", url: "`+repo.URL+`", username: "ci", password: "not-`+repoPassword+`"}) { name } }`, nil)
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "INVALID_ARGUMENT" || !strings.Contains(r.Errors[0].Message, "credentials refused") || strings.Contains(r.raw, "not-"+repoPassword) {
		t.Errorf("addRepository with a wrong password: %s, want INVALID_ARGUMENT credentials refused, without the password", r.raw)
	}
	r = post(t, ts, `mutation { addRepository(input: {name: "down", url: "http://127.0.0.1:1/charts"}) { name } }`, nil)
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "CLUSTER_UNAVAILABLE" || !strings.Contains(r.Errors[0].Message, `repository "down"`) {
		t.Errorf("addRepository of an unreachable repository: %s, want CLUSTER_UNAVAILABLE naming it", r.raw)
	}
	addRepo(t, ts, map[string]any{"name": "main", "url": repo.URL, "username": "ci", "password": repoPassword})

	chartOf := func(n string) map[string]any { return map[string]any{"repository": "main", "name": n} }
	install := func(extra map[string]any) map[string]any {
		in := map[string]any{"cluster": cluster, "namespace": ns, "name": name, "createNamespace": true, "chart": chartOf("app")}
		for k, v := range extra {
			in[k] = v
		}
		return in
	}
	wantSucceeded(t, waitOp(t, ts, mutate(t, ts, "installRelease", "InstallReleaseInput", install(map[string]any{"values": "message: steady"})).ID))
	before := storedRevisions(t, cluster, ns, name)

	const bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
	upgrade := func(extra map[string]any) map[string]any {
		in := map[string]any{"cluster": cluster, "namespace": ns, "name": name, "chart": chartOf("app")}
		for k, v := range extra {
			in[k] = v
		}
		return in
	}
	start := time.Now()
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"values": bomb}), "INVALID_ARGUMENT", "input.values", "alias bomb")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusing a billion-laughs document took %v", took)
	}
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"values": "message: [unclosed"}), "INVALID_ARGUMENT", "input.values", "not valid YAML")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"values": "- a list"}), "INVALID_ARGUMENT", "input.values", "mapping")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"chart": map[string]any{"repository": "main", "name": "app", "version": "7.7.7"}}), "INVALID_ARGUMENT", "input.chart.version", `"7.7.7"`, "available: 1.0.0")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"chart": chartOf("nothere")}), "INVALID_ARGUMENT", "input.chart.name", "nothere")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"chart": map[string]any{"repository": "elsewhere", "name": "app"}}), "INVALID_ARGUMENT", "input.chart.repository")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"chart": chartOf("corrupt")}), "INVALID_ARGUMENT", "archive of chart corrupt 1.0.0", "not a valid chart archive")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"chart": chartOf("huge")}), "INVALID_ARGUMENT", "archive of chart huge 1.0.0", "larger than the limit")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"chart": chartOf("norender"), "values": "breakMe: true"}), "INVALID_ARGUMENT", "norender refuses to render")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"timeout": "soon"}), "INVALID_ARGUMENT", "input.timeout")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"reuseValues": true, "resetValues": true}), "INVALID_ARGUMENT", "reuseValues")
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"name": "missing"}), "NOT_FOUND", `release "missing"`)
	mutateErr("upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"cluster": "nowhere"}), "INVALID_ARGUMENT", "input.cluster", `"nowhere"`)
	mutateErr("installRelease", "InstallReleaseInput", install(map[string]any{"name": "Bad_Name"}), "INVALID_ARGUMENT", "Bad_Name")
	mutateErr("installRelease", "InstallReleaseInput", install(map[string]any{"name": strings.Repeat("a", 54)}), "INVALID_ARGUMENT", "at most 53")
	mutateErr("installRelease", "InstallReleaseInput", install(map[string]any{"namespace": "Not A Namespace"}), "INVALID_ARGUMENT", "namespace")
	mutateErr("installRelease", "InstallReleaseInput", install(nil), "CONFLICT", "cannot reuse a name")
	mutateErr("installRelease", "InstallReleaseInput", install(map[string]any{"chart": map[string]any{"repository": "main", "name": "app", "oci": "oci://x/y"}}), "INVALID_ARGUMENT", "exactly one")
	mutateErr("rollbackRelease", "RollbackReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": name, "revision": 9}, "INVALID_ARGUMENT", "input.revision", "no revision 9")
	mutateErr("rollbackRelease", "RollbackReleaseInput", map[string]any{"cluster": cluster, "namespace": ns, "name": name}, "INVALID_ARGUMENT", "no revision 0")

	if after := storedRevisions(t, cluster, ns, name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after refused changes the cluster stores %v, want %v as before", after, before)
	}
	if msg, _ := configMapMessage(t, cluster, ns, name+"-config"); msg != "steady" {
		t.Errorf("ConfigMap message = %q, want steady", msg)
	}
	var ol struct{ Operations struct{ TotalCount int } }
	data(t, ts, `{ operations(filter: {name: "steady"}) { totalCount } }`, nil, &ol)
	if ol.Operations.TotalCount != 1 {
		t.Errorf("%d operations on the release, want only the install: refused input starts none", ol.Operations.TotalCount)
	}

	// A chart that renders but whose objects the API server refuses fails
	// in the operation; with atomic the release is rolled back to what it was.
	op := waitOp(t, ts, mutate(t, ts, "upgradeRelease", "UpgradeReleaseInput", upgrade(map[string]any{"chart": chartOf("badname"), "atomic": true, "values": "message: broken"})).ID)
	if op.Phase != "FAILED" || op.Error == nil || op.Error.Code != "INVALID_ARGUMENT" || !strings.Contains(op.Error.Message, "Bad_Name") {
		t.Errorf("upgrade to a chart with an invalid object: %s %+v, want FAILED INVALID_ARGUMENT naming Bad_Name", op.Phase, op.Error)
	}
	if got := storedRevisions(t, cluster, ns, name); got[2] != "failed" || got[3] != "deployed" {
		t.Errorf("after the atomic upgrade failed the cluster stores %v, want revision 2 failed and 3 (the rollback) deployed", got)
	}
	if msg, _ := configMapMessage(t, cluster, ns, name+"-config"); msg != "steady" {
		t.Errorf("ConfigMap message = %q after the atomic rollback, want steady", msg)
	}
}

// postMultipart sends a GraphQL multipart request (the spec gqlgen serves)
// with one file bound to the variable at path.
func postMultipart(t *testing.T, ts *httptest.Server, query string, vars map[string]any, path, filename string, file []byte) gqlResponse {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	mw.WriteField("operations", string(ops))
	mw.WriteField("map", fmt.Sprintf(`{"0": [%q]}`, path))
	fw, _ := mw.CreateFormFile("0", filename)
	fw.Write(file)
	mw.Close()
	resp, err := http.Post(ts.URL+"/graphql", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	out.raw = string(raw)
	return out
}

// Charts also come from uploads (to a ChartMuseum-style repository, or
// straight into an install) and from a real OCI registry.
func TestMutationUploadsAndOCI(t *testing.T) {
	const ns = "ops-e2e-src"
	museum := testenv.NewChartRepo(t, testenv.ChartRepoOptions{Token: "museum-token"})
	oci := testenv.NewOCIRegistry(t)
	ts := serveOps(t, charts.Options{})
	addRepo(t, ts, map[string]any{"name": "museum", "url": museum.URL, "token": "museum-token", "flavor": "chartmuseum"})

	// Upload to the ChartMuseum API, then install from the repository.
	r := postMultipart(t, ts, `mutation($f: Upload!) { uploadChart(repository: "museum", archive: $f) { repository name version appVersion } }`,
		map[string]any{"f": nil}, "variables.f", "app-3.0.0.tgz", testenv.PackageChart(t, appChart("3.0.0")))
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"version":"3.0.0"`) {
		t.Fatalf("uploadChart: %s", r.raw)
	}
	if museum.Requests("/api/charts") != 1 {
		t.Errorf("ChartMuseum saw %d uploads, want 1", museum.Requests("/api/charts"))
	}
	op := waitOp(t, ts, mutate(t, ts, "installRelease", "InstallReleaseInput", map[string]any{
		"cluster": "alpha", "namespace": ns, "name": "from-museum", "createNamespace": true, "chart": map[string]any{"repository": "museum", "name": "app"},
	}).ID)
	wantSucceeded(t, op)
	if op.Release.Chart.Version != "3.0.0" {
		t.Errorf("installed %s, want the uploaded 3.0.0", op.Release.Chart.Version)
	}
	r = postMultipart(t, ts, `mutation($f: Upload!) { uploadChart(repository: "museum", archive: $f) { version } }`,
		map[string]any{"f": nil}, "variables.f", "app-3.0.0.tgz", testenv.PackageChart(t, appChart("3.0.0")))
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "CONFLICT" {
		t.Errorf("uploading the same version again: %s, want CONFLICT", r.raw)
	}

	// Install an archive uploaded with the mutation itself.
	r = postMultipart(t, ts, `mutation($in: InstallReleaseInput!) { installRelease(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"cluster": "alpha", "namespace": ns, "name": "from-upload", "createNamespace": true, "values": "message: uploaded", "chart": map[string]any{"archive": nil}}},
		"variables.in.chart.archive", "app-4.0.0.tgz", testenv.PackageChart(t, appChart("4.0.0")))
	if len(r.Errors) > 0 {
		t.Fatalf("installRelease with an uploaded archive: %s", r.raw)
	}
	var started struct{ InstallRelease struct{ ID string } }
	json.Unmarshal(r.Data, &started)
	wantSucceeded(t, waitOp(t, ts, started.InstallRelease.ID))
	if msg, _ := configMapMessage(t, "alpha", ns, "from-upload-config"); msg != "uploaded" {
		t.Errorf("ConfigMap of the uploaded chart's release: message %q, want uploaded", msg)
	}
	r = postMultipart(t, ts, `mutation($in: InstallReleaseInput!) { installRelease(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"cluster": "alpha", "namespace": ns, "name": "from-junk", "chart": map[string]any{"archive": nil}}},
		"variables.in.chart.archive", "junk.tgz", []byte("junk"))
	if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "INVALID_ARGUMENT" || !strings.Contains(r.Errors[0].Message, "junk.tgz") {
		t.Errorf("installRelease with a broken upload: %s, want INVALID_ARGUMENT naming junk.tgz", r.raw)
	}

	// OCI: push with the Helm SDK's registry client, as `helm push` does;
	// helmgraph pulls with it.
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Push(testenv.PackageChart(t, appChart("5.0.0")), oci.Host+"/charts/app:5.0.0"); err != nil {
		t.Fatalf("push: %v", err)
	}
	info := addRepo(t, ts, map[string]any{"name": "oci", "url": "oci://" + oci.Host + "/charts", "plainHTTP": true})
	if info["oci"] != true {
		t.Errorf("addRepository(oci) = %v, want oci true", info)
	}
	op = waitOp(t, ts, mutate(t, ts, "installRelease", "InstallReleaseInput", map[string]any{
		"cluster": "beta", "namespace": ns, "name": "from-oci", "createNamespace": true, "chart": map[string]any{"oci": "oci://" + oci.Host + "/charts/app:5.0.0"},
	}).ID)
	wantSucceeded(t, op)
	if op.Release.Chart.Version != "5.0.0" || !strings.Contains(op.Messages[0].Text, "oci://"+oci.Host+"/charts/app:5.0.0") {
		t.Errorf("OCI install: release %+v, first message %q", op.Release, op.Messages[0].Text)
	}
	if got := storedRevisions(t, "beta", ns, "from-oci"); got[1] != "deployed" {
		t.Errorf("beta stores %v for from-oci, want revision 1 deployed", got)
	}
	var cl struct {
		Charts struct {
			Nodes []struct{ Name, Version string }
		}
	}
	data(t, ts, `{ charts(repository: "oci", query: "app") { nodes { name version } } }`, nil, &cl)
	if len(cl.Charts.Nodes) != 1 || cl.Charts.Nodes[0].Version != "5.0.0" {
		t.Errorf("charts(oci, app) = %+v, want app 5.0.0", cl.Charts.Nodes)
	}
}
