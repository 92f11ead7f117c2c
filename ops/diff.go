package ops

import (
	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/yaml"
)

// Discard is a Reporter that drops progress, for work done on no
// operation's behalf (validation dry runs).
type Discard struct{}

// Progress drops text.
func (Discard) Progress(string) {}

// UnifiedDiff is the unified diff (3 lines of context) from a to b, as a dry
// run shows it; empty when they are equal.
func UnifiedDiff(fromName, toName, a, b string) string {
	s, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: fromName, ToFile: toName, Context: 3,
	})
	if err != nil {
		return ""
	}
	return s
}

// ValuesYAML renders values for a diff; empty for no values.
func ValuesYAML(v map[string]any) string {
	if len(v) == 0 {
		return ""
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
