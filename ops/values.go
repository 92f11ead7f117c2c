package ops

import (
	"encoding/json"
	"fmt"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/helmgraph/helmgraph/release"
)

// Limits on values documents: MaxValuesBytes bounds the document's size and
// MaxValuesNodes the number of YAML nodes it stands for once aliases are
// expanded, which is what defuses "billion laughs" documents: a few hundred
// bytes whose aliases expand to billions of nodes.
const (
	MaxValuesBytes = 1 << 20
	MaxValuesNodes = 100_000
)

// ParseValues parses user-supplied values, a YAML or JSON document whose top
// level is a mapping. arg names the argument in errors, e.g. "values". An
// empty document means no values.
func ParseValues(arg, doc string) (map[string]any, error) {
	if len(doc) > MaxValuesBytes {
		return nil, fmt.Errorf("%w: %s: %d bytes exceeds the limit of %d bytes", release.ErrInvalidArgument, arg, len(doc), MaxValuesBytes)
	}
	if strings.TrimSpace(doc) == "" {
		return map[string]any{}, nil
	}
	// Parse into nodes first: node trees keep aliases unexpanded, so a
	// bomb costs what its bytes cost, and the expanded size can be counted.
	var root yamlv3.Node
	if err := yamlv3.Unmarshal([]byte(doc), &root); err != nil {
		return nil, fmt.Errorf("%w: %s: not valid YAML or JSON: %v", release.ErrInvalidArgument, arg, err)
	}
	if n := expandedNodes(&root, map[*yamlv3.Node]int{}, 0); n > MaxValuesNodes {
		return nil, fmt.Errorf("%w: %s: expands to more than %d YAML nodes (alias bomb?)", release.ErrInvalidArgument, arg, MaxValuesNodes)
	}
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not valid YAML or JSON: %v", release.ErrInvalidArgument, arg, err)
	}
	var out map[string]any
	if err := json.Unmarshal(js, &out); err != nil {
		return nil, fmt.Errorf("%w: %s: must be a mapping of keys to values at the top level", release.ErrInvalidArgument, arg)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// expandedNodes counts the nodes n stands for with every alias expanded,
// memoised per node so that counting is linear in the document. Counting
// stops early once past the limit; depth guards against alias cycles.
func expandedNodes(n *yamlv3.Node, memo map[*yamlv3.Node]int, depth int) int {
	if n == nil {
		return 0
	}
	if depth > 1000 {
		return MaxValuesNodes + 1
	}
	if c, ok := memo[n]; ok {
		return c
	}
	memo[n] = MaxValuesNodes + 1 // in progress: a cycle counts as too big
	total := 1
	if n.Kind == yamlv3.AliasNode {
		total += expandedNodes(n.Alias, memo, depth+1)
	}
	for _, c := range n.Content {
		total += expandedNodes(c, memo, depth+1)
		if total > MaxValuesNodes {
			break
		}
	}
	memo[n] = total
	return total
}
