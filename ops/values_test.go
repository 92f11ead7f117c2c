package ops_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/release"
)

const billionLaughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

func TestParseValues(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    map[string]any
		wantErr string
	}{
		{"yaml", "message: hi\nservice:\n  port: 8080\n", map[string]any{"message": "hi", "service": map[string]any{"port": float64(8080)}}, ""},
		{"json", `{"message":"hi","list":[1,2]}`, map[string]any{"message": "hi", "list": []any{float64(1), float64(2)}}, ""},
		{"empty", "  \n", map[string]any{}, ""},
		{"null document", "null", map[string]any{}, ""},
		{"small anchors are fine", "base: &b {x: 1}\nother: *b\n", map[string]any{"base": map[string]any{"x": float64(1)}, "other": map[string]any{"x": float64(1)}}, ""},
		{"malformed", "a: [1, 2\n", nil, "values: not valid YAML or JSON"},
		{"not a mapping", "- 1\n- 2\n", nil, "values: must be a mapping"},
		{"scalar", "hello", nil, "values: must be a mapping"},
		{"too big", "a: " + strings.Repeat("x", ops.MaxValuesBytes), nil, "values: 1048579 bytes exceeds the limit of 1048576 bytes"},
		{"billion laughs", billionLaughs, nil, "values: expands to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			got, err := ops.ParseValues("values", tt.doc)
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v, want well under a second", took)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, release.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want ErrInvalidArgument containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}
