package release

import (
	"strings"

	"sigs.k8s.io/yaml"
)

// ParseManifest splits a rendered multi-document manifest into the objects it
// declares. Documents that are empty or not objects (comments only, NOTES) are
// skipped; it never fails, because a manifest Helm stored was valid when applied.
func ParseManifest(manifest string) []Resource {
	var out []Resource
	for _, doc := range splitDocuments(manifest) {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj.Kind == "" {
			continue
		}
		out = append(out, Resource{APIVersion: obj.APIVersion, Kind: obj.Kind, Namespace: obj.Metadata.Namespace, Name: obj.Metadata.Name})
	}
	return out
}

func splitDocuments(s string) []string {
	var docs []string
	var cur strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimRight(line, " \t\r\n") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.String())
}
