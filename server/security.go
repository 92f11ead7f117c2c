package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/helmgraph/helmgraph/auth"
)

// APIOptions hardens the GraphQL endpoint.
type APIOptions struct {
	// MaxDepth bounds the nesting of a query's selections; 12 by default.
	MaxDepth int
	// MaxComplexity bounds a query's complexity (each field counts 1); 1000 by default.
	MaxComplexity int
	// DisableIntrospection refuses __schema and __type queries.
	DisableIntrospection bool
	// CORS lists the origins (scheme://host[:port]) browsers may call from;
	// the same origin is always allowed for websockets.
	CORS []string
	// RatePerSecond and RateBurst bound each subject's requests (a token
	// bucket per subject); 0 disables the limit.
	RatePerSecond float64
	RateBurst     int
	// WebsocketReadLimit bounds one websocket message from a client; 64 KiB by default.
	WebsocketReadLimit int64
	// PersistedQueries is how many automatic persisted queries are kept; 1000 by default.
	PersistedQueries int
}

func (o *APIOptions) defaults() {
	if o.MaxDepth == 0 {
		o.MaxDepth = 12
	}
	if o.MaxComplexity == 0 {
		o.MaxComplexity = 1000
	}
	if o.WebsocketReadLimit == 0 {
		o.WebsocketReadLimit = 64 << 10
	}
	if o.PersistedQueries == 0 {
		o.PersistedQueries = 1000
	}
	if o.RatePerSecond > 0 && o.RateBurst == 0 {
		o.RateBurst = max(1, int(o.RatePerSecond))
	}
}

// writeError answers a request refused before GraphQL execution with a
// GraphQL-shaped JSON body.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}}})
}

// authenticate puts the caller's identity into the request context, or
// answers 401. Websocket upgrades are let through without credentials:
// browsers cannot set headers on them, so their credentials come in
// connection_init (wsInit).
func (s *Server) authenticate(next http.Handler) http.Handler {
	g := s.opts.Auth
	if g == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r) // CORS preflights carry no credentials
			return
		}
		hdr := r.Header.Get("Authorization")
		if r.Method == http.MethodGet && isUpgrade(r) && hdr == "" {
			next.ServeHTTP(w, r)
			return
		}
		id, err := g.Authn.Authenticate(r.Context(), hdr)
		if err != nil {
			// Failures count against the client's address, so that guessing
			// is rate limited too and cannot flood the audit log.
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			if !s.allow("unauthenticated@" + host) {
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusTooManyRequests, "RATE_LIMITED", "too many requests without valid credentials")
				return
			}
			s.denied(r.Context(), "http "+r.Method+" "+r.URL.Path, err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="helmgraph"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", err.Error())
			return
		}
		if !s.allow(id.Subject) {
			s.denied(auth.WithIdentity(r.Context(), id), "http "+r.Method+" "+r.URL.Path, fmt.Errorf("rate limit exceeded"))
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "RATE_LIMITED", fmt.Sprintf("rate limit of %g requests per second exceeded for %q", s.opts.API.RatePerSecond, id.Subject))
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
	})
}

// denied records a request refused before any resolver ran.
func (s *Server) denied(ctx context.Context, what string, err error) {
	if s.opts.Auth == nil {
		return
	}
	subject := "(unauthenticated)"
	if id, ok := auth.FromContext(ctx); ok {
		subject = id.Subject
	}
	s.opts.Auth.Audit.Record(auth.Entry{Subject: subject, Operation: what, Result: "denied", Error: err.Error()})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// wsInit authenticates a websocket from its connection_init payload (the
// Authorization key, as GraphiQL's headers editor sends it), or from the
// upgrade request's header.
func (s *Server) wsInit(ctx context.Context, p transportInitPayload) (context.Context, error) {
	g := s.opts.Auth
	if g == nil {
		return ctx, nil
	}
	if _, ok := auth.FromContext(ctx); ok && p.Authorization() == "" {
		return ctx, nil // authenticated by the upgrade request's header
	}
	id, err := g.Authn.Authenticate(ctx, p.Authorization())
	if err != nil {
		s.denied(ctx, "websocket connection_init", err)
		return ctx, err
	}
	if !s.allow(id.Subject) {
		err := fmt.Errorf("rate limit exceeded for %q", id.Subject)
		s.denied(auth.WithIdentity(ctx, id), "websocket connection_init", err)
		return ctx, err
	}
	return auth.WithIdentity(ctx, id), nil
}

// transportInitPayload is what wsInit needs of gqlgen's InitPayload.
type transportInitPayload interface{ Authorization() string }

// limiters holds one token bucket per subject.
type limiters struct {
	mu   sync.Mutex
	m    map[string]*limiterEntry
	last time.Time
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func (s *Server) allow(subject string) bool {
	o := s.opts.API
	if o.RatePerSecond <= 0 {
		return true
	}
	s.rl.mu.Lock()
	defer s.rl.mu.Unlock()
	now := time.Now()
	if s.rl.m == nil {
		s.rl.m = map[string]*limiterEntry{}
	}
	if now.Sub(s.rl.last) > time.Minute { // forget idle subjects
		for k, e := range s.rl.m {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(s.rl.m, k)
			}
		}
		s.rl.last = now
	}
	e, ok := s.rl.m[subject]
	if !ok {
		e = &limiterEntry{l: rate.NewLimiter(rate.Limit(o.RatePerSecond), o.RateBurst)}
		s.rl.m[subject] = e
	}
	e.seen = now
	return e.l.AllowN(now, 1)
}

// cors answers preflights and sets the CORS headers for allowed origins.
func (s *Server) cors(next http.Handler) http.Handler {
	allowed := s.opts.API.CORS
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		ok := origin != "" && slices.Contains(allowed, origin)
		if ok {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !ok {
				writeError(w, http.StatusForbidden, "FORBIDDEN", "origin not allowed")
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Apollo-Require-Preflight")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originPatterns turns the CORS allow-list into the websocket library's
// host patterns; the same origin is always accepted.
func originPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// depthLimit refuses operations nested deeper than max, counting through
// fragments (a fragment cycle is refused by validation before this runs).
type depthLimit struct{ max int }

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	if n := depth(op.Operation.SelectionSet, 0, d.max); n > d.max {
		err := gqlerror.Errorf("query is nested deeper than the limit of %d levels", d.max)
		err.Extensions = map[string]any{"code": "QUERY_TOO_DEEP"}
		return err
	}
	return nil
}

func depth(set ast.SelectionSet, at, limit int) int {
	deepest := at
	if at > limit {
		return at // no need to look further
	}
	for _, sel := range set {
		var n int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				// Introspection: bounded by the schema, and GraphiQL's own
				// query nests type references deeper than any real query.
				continue
			}
			if len(s.SelectionSet) == 0 {
				n = at + 1
			} else {
				n = depth(s.SelectionSet, at+1, limit)
			}
		case *ast.InlineFragment:
			n = depth(s.SelectionSet, at, limit)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n = depth(s.Definition.SelectionSet, at, limit)
			}
		}
		deepest = max(deepest, n)
	}
	return deepest
}
