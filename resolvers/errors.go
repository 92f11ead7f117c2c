package resolvers

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/helmgraph/helmgraph/release"
)

// ErrorPresenter sets extensions.code once for every error a resolver
// returns, from the sentinel it wraps (release.ErrorCode).
func ErrorPresenter(ctx context.Context, err error) *gqlerror.Error {
	gerr := graphql.DefaultErrorPresenter(ctx, err)
	var own *gqlerror.Error
	if errors.As(err, &own) && own.Extensions["code"] != nil {
		return gerr // gqlgen's parse/validation errors keep their codes
	}
	if gerr.Extensions == nil {
		gerr.Extensions = map[string]any{}
	}
	gerr.Extensions["code"] = release.ErrorCode(err)
	return gerr
}
