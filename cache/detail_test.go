package cache_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// detailQueries read a release's heavy fields and history both ways the
// graph resolves them: release(...) (Registry.Get) and releases(...) nodes
// (Release.detail), with the heavy fields of every history entry too.
var detailQueries = map[string]string{
	"release": `query($ns: String!, $n: String!) { release(cluster: "east", namespace: $ns, name: $n) {
  revision status description manifest notes values computedValues resources { apiVersion kind name }
  history { revision status description manifest notes values computedValues } } }`,
	"releases": `query($ns: String!, $n: String!) { releases(filter: {clusters: ["east"], namespaces: [$ns], nameContains: $n}) { nodes {
  name revision status manifest values computedValues history { revision status manifest values } } } }`,
}

type detailAnswer struct {
	Release struct {
		Revision int
		Status   string
		Manifest string
		Values   map[string]any
		History  []struct {
			Revision int
			Status   string
			Values   map[string]any
		}
	}
}

// askTwice runs every detail query twice and checks that the second round
// sent the API server no request and answered the same; it returns the
// answer to the release query.
func askTwice(t *testing.T, url string, reqs *listCounter, vars map[string]any) detailAnswer {
	t.Helper()
	answers := map[string]json.RawMessage{}
	before := reqs.all.Load()
	for name, q := range detailQueries {
		var raw json.RawMessage
		query(t, url, q, vars, &raw)
		answers[name] = raw
	}
	if reqs.all.Load() == before {
		t.Errorf("the first round of queries sent no request: the counting transport sees nothing, or the cache was filled by someone else")
	}
	before, lists, gets := reqs.all.Load(), reqs.n.Load(), reqs.gets.Load()
	for name, q := range detailQueries {
		var raw json.RawMessage
		query(t, url, q, vars, &raw)
		if string(raw) != string(answers[name]) {
			t.Errorf("%s query asked again =\n%s\nfirst answer\n%s", name, raw, answers[name])
		}
	}
	if n := reqs.all.Load() - before; n != 0 {
		t.Errorf("the same queries asked again sent %d requests to the API server (%d LISTs, %d GETs of storage objects), want 0: details and history come from the cache",
			n, reqs.n.Load()-lists, reqs.gets.Load()-gets)
	}
	var got detailAnswer
	if err := json.Unmarshal(answers["release"], &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// A synced release's details and history are read from the cluster once,
// then served from the cache without a request to the API server, and
// follow the release when it is upgraded.
func TestDetailsFromCache(t *testing.T) {
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			ns, name := "detail", "shelf-"+kind
			r, reqs := countedReplica(t, kind, "detail", ns, name)
			eventually(t, "east synced with "+name, func() bool {
				got, ok := find(releases(t, r.ts.URL, map[string]any{"clusters": []string{"east"}, "namespaces": []string{ns}}), ns, name)
				return ok && got.Status == "DEPLOYED" && !got.Stale
			})
			vars := map[string]any{"ns": ns, "n": name}

			got := askTwice(t, r.ts.URL, reqs, vars).Release
			if got.Revision != 1 || got.Values["message"] != name || !strings.Contains(got.Manifest, "kind:") || len(got.History) != 1 {
				t.Errorf("before the upgrade: revision %d, values %v, %d history entries; want revision 1 with message %s, a manifest, 1 entry", got.Revision, got.Values, len(got.History), name)
			}

			upgrade(t, "east", ns, name, "v2")
			eventually(t, "the cache to show revision 2 deployed", func() bool {
				got, ok := find(releases(t, r.ts.URL, map[string]any{"clusters": []string{"east"}, "namespaces": []string{ns}}), ns, name)
				return ok && got.Revision == 2 && got.Status == "DEPLOYED"
			})
			got = askTwice(t, r.ts.URL, reqs, vars).Release
			if got.Revision != 2 || got.Status != "DEPLOYED" || got.Values["message"] != "v2" {
				t.Errorf("after the upgrade: revision %d %s, values %v; want revision 2 DEPLOYED with message v2", got.Revision, got.Status, got.Values)
			}
			var hist []string
			for _, h := range got.History {
				hist = append(hist, fmt.Sprint(h.Revision, " ", h.Status, " ", h.Values["message"]))
			}
			if want := []string{"2 DEPLOYED v2", "1 SUPERSEDED " + name}; fmt.Sprint(hist) != fmt.Sprint(want) {
				t.Errorf("history after the upgrade = %q, want %q", hist, want)
			}
		})
	}
}
