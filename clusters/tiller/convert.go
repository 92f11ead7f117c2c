package tiller

import (
	"fmt"

	hapichart "k8s.io/helm/pkg/proto/hapi/chart"
	hapirelease "k8s.io/helm/pkg/proto/hapi/release"
	"sigs.k8s.io/yaml"

	"github.com/helmgraph/helmgraph/release"
)

// Summary converts a Helm v2 release message into a release.Summary of
// cluster, with kind as its driver (tiller, or swift which serves the same
// messages as JSON).
func Summary(cluster string, kind release.DriverKind, r *hapirelease.Release) release.Summary {
	s := release.Summary{
		Ref:      release.Ref{Cluster: cluster, Namespace: r.GetNamespace(), Name: r.GetName()},
		Revision: int(r.GetVersion()),
		Status:   release.StatusUnknown,
		Driver:   kind,
	}
	if info := r.GetInfo(); info != nil {
		if st := info.GetStatus(); st != nil {
			s.RawStatus = st.GetCode().String()
			s.Status = release.ParseRawStatus(s.RawStatus)
		}
		s.Description = info.GetDescription()
		switch {
		case info.GetLastDeployed() != nil:
			s.Updated = info.GetLastDeployed().AsTime()
		case info.GetFirstDeployed() != nil:
			s.Updated = info.GetFirstDeployed().AsTime()
		}
	} else {
		s.RawStatus = hapirelease.Status_UNKNOWN.String()
	}
	if m := r.GetChart().GetMetadata(); m != nil {
		s.Chart = release.Chart{Name: m.GetName(), Version: m.GetVersion(), AppVersion: m.GetAppVersion()}
	}
	return s
}

// Release converts a Helm v2 release message with its heavy fields: the
// user-supplied values (Config.Raw, YAML), the computed values (the chart's
// defaults coalesced with them, as `helm get values --all` shows), the
// manifest and the notes Tiller rendered.
func Release(cluster string, kind release.DriverKind, r *hapirelease.Release) (*release.Release, error) {
	out := &release.Release{Summary: Summary(cluster, kind, r), Manifest: r.GetManifest()}
	out.Notes = r.GetInfo().GetStatus().GetNotes()
	user, err := parseValues(r.GetConfig().GetRaw())
	if err != nil {
		return nil, fmt.Errorf("values of revision %d of release %q: %w", r.GetVersion(), r.GetName(), err)
	}
	out.Values = user
	computed, err := CoalesceValues(r.GetChart(), user)
	if err != nil {
		return nil, fmt.Errorf("computed values of revision %d of release %q: %w", r.GetVersion(), r.GetName(), err)
	}
	out.ComputedValues = computed
	return out, nil
}

func parseValues(raw string) (map[string]any, error) {
	out := map[string]any{}
	if raw == "" {
		return out, nil
	}
	if err := yaml.Unmarshal([]byte(raw), &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// CoalesceValues merges a chart's default values (and its subcharts', each
// under its name, with `global` passed down) under the user-supplied ones,
// as Helm v2's chartutil.CoalesceValues does: user values win, maps merge
// key by key, and a user value of null deletes the chart's default.
func CoalesceValues(ch *hapichart.Chart, user map[string]any) (map[string]any, error) {
	v := deepCopy(user)
	if ch == nil {
		return v, nil
	}
	return coalesceChart(ch, v)
}

func coalesceChart(ch *hapichart.Chart, v map[string]any) (map[string]any, error) {
	defaults, err := parseValues(ch.GetValues().GetRaw())
	if err != nil {
		return nil, fmt.Errorf("chart %q values.yaml: %w", ch.GetMetadata().GetName(), err)
	}
	v = coalesceMaps(v, defaults)
	for _, sub := range ch.GetDependencies() {
		name := sub.GetMetadata().GetName()
		sv, _ := v[name].(map[string]any)
		if sv == nil {
			sv = map[string]any{}
		}
		// Globals flow down: the parent's win over the subchart's own.
		if g, ok := v["global"].(map[string]any); ok {
			sg, _ := sv["global"].(map[string]any)
			sv["global"] = coalesceMaps(deepCopy(g), sg)
		}
		if v[name], err = coalesceChart(sub, sv); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// coalesceMaps fills dst with src's keys dst lacks, recursing into maps both
// hold; a key dst sets to null drops src's default for it.
func coalesceMaps(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, sv := range src {
		dv, ok := dst[k]
		switch {
		case !ok:
			dst[k] = deepCopyValue(sv)
		case dv == nil:
			delete(dst, k)
		default:
			dm, dIsMap := dv.(map[string]any)
			sm, sIsMap := sv.(map[string]any)
			if dIsMap && sIsMap {
				dst[k] = coalesceMaps(dm, sm)
			}
		}
	}
	return dst
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopy(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopyValue(e)
		}
		return out
	}
	return v
}
