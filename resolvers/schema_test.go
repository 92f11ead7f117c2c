package resolvers_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/introspection"

	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/graph"
	"github.com/helmgraph/helmgraph/resolvers"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// introspect runs the standard full introspection query against the
// executable schema and returns the response's data.
func introspect(t *testing.T) json.RawMessage {
	t.Helper()
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{Registry: clusters.NewRegistry(nil)}}))
	srv.AddTransport(transport.POST{})
	srv.Use(extension.Introspection{})
	resp, err := client.New(srv).RawPost(introspection.Query)
	if err != nil {
		t.Fatalf("introspection query: %v", err)
	}
	if len(resp.Errors) > 0 && string(resp.Errors) != "null" {
		t.Fatalf("introspection query errors: %s", resp.Errors)
	}
	b, err := json.MarshalIndent(resp.Data, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// The introspected schema is the API's contract: any change to it shows up
// here and must be accepted with -update.
func TestSchemaGolden(t *testing.T) {
	got := introspect(t)
	golden := filepath.Join("testdata", "schema.golden.json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./resolvers/ -run TestSchemaGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("introspected schema differs from %s at %s\n(if the change is intended, run go test ./resolvers/ -run TestSchemaGolden -update)", golden, firstDiff(string(got), string(want)))
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return "(no line differs)"
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

type schemaDoc struct {
	Schema struct {
		Types []struct {
			Kind        string
			Name        string
			Description *string
			Fields      []namedDoc
			InputFields []namedDoc
			EnumValues  []namedDoc
		}
	} `json:"__schema"`
}

type namedDoc struct {
	Name        string
	Description *string
}

// builtinScalars are the GraphQL spec's scalars, described by the spec.
var builtinScalars = []string{"String", "Boolean", "Int", "Float", "ID"}

// Product rule: every type and field of the API carries a description.
func TestSchemaDescriptions(t *testing.T) {
	var doc schemaDoc
	if err := json.Unmarshal(introspect(t), &doc); err != nil {
		t.Fatal(err)
	}
	empty := func(d *string) bool { return d == nil || strings.TrimSpace(*d) == "" }
	checked := 0
	for _, typ := range doc.Schema.Types {
		if strings.HasPrefix(typ.Name, "__") || slices.Contains(builtinScalars, typ.Name) {
			continue
		}
		checked++
		if empty(typ.Description) {
			t.Errorf("%s %s has no description", strings.ToLower(typ.Kind), typ.Name)
		}
		for kind, members := range map[string][]namedDoc{"field": typ.Fields, "input field": typ.InputFields, "enum value": typ.EnumValues} {
			for _, m := range members {
				if empty(m.Description) {
					t.Errorf("%s %s.%s has no description", kind, typ.Name, m.Name)
				}
			}
		}
	}
	// Guard against a query or decoding that silently finds nothing to check.
	if checked < 10 {
		t.Errorf("checked %d types, want every type of the schema (at least 10)", checked)
	}
}
