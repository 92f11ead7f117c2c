package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/helmgraph/helmgraph/auth"
	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/charts"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/graph"
	"github.com/helmgraph/helmgraph/ops"
	"github.com/helmgraph/helmgraph/resolvers"
)

// Options configures a Server.
type Options struct {
	Registry *clusters.Registry
	Log      *slog.Logger
	// MaxBodyBytes bounds a GraphQL request body; 1 MiB by default.
	MaxBodyBytes int64
	// RequestTimeout bounds one GraphQL request; 60s by default.
	RequestTimeout time.Duration
	// Events streams release events to subscriptions; nil without a cache.
	Events *cache.Hub
	// Ready reports whether the server can serve as configured (e.g. its
	// Redis answers); nil means always ready.
	Ready func() error
	// KeepAlive is the websocket keepalive interval; 15s by default.
	KeepAlive time.Duration
	// Ops runs mutations as operations; Charts holds the chart
	// repositories. When nil, the server makes an in-memory manager and an
	// empty chart registry of its own and closes them when Serve returns.
	Ops    *ops.Manager
	Charts *charts.Registry
	// MaxUploadBytes bounds a multipart request body (chart uploads); 5 MiB by default.
	MaxUploadBytes int64
	// Auth authenticates and authorizes every request (see auth); nil
	// serves everyone everything, which only tests and tools do.
	Auth *auth.Guard
	// API hardens the GraphQL endpoint: limits, CORS, rate limit.
	API APIOptions
}

// Server is helmgraph's HTTP server.
type Server struct {
	opts    Options
	owned   []func() // what the server made itself and closes after Serve
	log     *slog.Logger
	handler http.Handler
	metrics *metrics
	rl      limiters
}

// New builds the server's handlers.
func New(opts Options) *Server {
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 60 * time.Second
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.MaxUploadBytes == 0 {
		opts.MaxUploadBytes = 5 << 20
	}
	opts.API.defaults()
	s := &Server{opts: opts, log: opts.Log, metrics: newMetrics()}
	if opts.Ops == nil {
		opts.Ops = ops.NewManager(ops.NewMemoryStore(0), opts.Log)
		s.owned = append(s.owned, opts.Ops.Close)
	}
	if opts.Charts == nil {
		opts.Charts = charts.NewRegistry(charts.Options{Log: opts.Log})
		s.owned = append(s.owned, opts.Charts.Close)
	}
	s.opts = opts

	res := &resolvers.Resolver{Registry: opts.Registry, Log: opts.Log, Events: opts.Events, Ops: opts.Ops, Charts: opts.Charts}
	if opts.Auth != nil {
		res.Auth = opts.Auth
	}
	gql := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: res}))
	// Both subprotocols: graphql-transport-ws (keepalive by ping/pong) and
	// the legacy graphql-ws (keepalive by "ka" messages).
	gql.AddTransport(transport.Websocket{
		KeepAlivePingInterval: opts.KeepAlive,
		PingPongInterval:      opts.KeepAlive,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			ctx, err := s.wsInit(ctx, p)
			return ctx, nil, err
		},
		// Browsers send an Origin: only the same origin and the CORS allow-list may connect.
		Implementation:   transport.CoderWebsocketImplementation{AcceptOptions: coderws.AcceptOptions{OriginPatterns: originPatterns(opts.API.CORS)}},
		PayloadReadLimit: &opts.API.WebsocketReadLimit,
	})
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.GET{})
	gql.AddTransport(transport.POST{})
	// Chart archives arrive as GraphQL multipart requests (the Upload scalar).
	gql.AddTransport(transport.MultipartForm{MaxUploadSize: opts.MaxUploadBytes, MaxMemory: opts.MaxUploadBytes})
	if !opts.API.DisableIntrospection {
		gql.Use(extension.Introspection{})
	}
	gql.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](opts.API.PersistedQueries)})
	// Parsed and validated queries are kept by query text: clients repeat
	// theirs (pages, polls, one subscription per dashboard), and every
	// subscription would otherwise hold its own parsed copy.
	gql.SetQueryCache(lru.New[*ast.QueryDocument](opts.API.PersistedQueries))
	gql.Use(extension.FixedComplexityLimit(opts.API.MaxComplexity))
	gql.Use(depthLimit{max: opts.API.MaxDepth})
	gql.Use(resolvers.NewSharedEventResponses())
	gql.SetErrorPresenter(resolvers.ErrorPresenter)
	gql.SetRecoverFunc(func(ctx context.Context, v any) error {
		s.log.Error("resolver panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		return errors.New("internal error")
	})
	gql.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		kind := "unknown"
		if op.Operation != nil {
			kind = string(op.Operation.Operation)
		}
		start := time.Now()
		h := next(ctx)
		if kind == string(ast.Subscription) {
			// A subscription's responses are its events, each sent to
			// every subscriber: no latency to observe, and nothing to add
			// to the per-subscriber path.
			return h
		}
		obs := s.metrics.operations.WithLabelValues(kind)
		return func(ctx context.Context) *graphql.Response {
			resp := h(ctx)
			obs.Observe(time.Since(start).Seconds())
			return resp
		}
	})

	mux := http.NewServeMux()
	mux.Handle("/graphql", s.cors(s.limit(s.authenticate(gql))))
	pageHandlers(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	s.handler = s.metrics.instrument(mux)
	return s
}

// Handler is the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// limit bounds the request body and the time a request may take.
func (s *Server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		maxBody := s.opts.MaxBodyBytes
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			maxBody = s.opts.MaxUploadBytes // chart uploads
		}
		if r.ContentLength > maxBody {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			fmt.Fprintf(w, `{"errors":[{"message":"request body of %d bytes exceeds the limit of %d bytes","extensions":{"code":"INVALID_ARGUMENT"}}]}`, r.ContentLength, maxBody)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if r.Header.Get("Upgrade") != "" {
			// A websocket lives as long as its subscriptions; each operation
			// on it is bounded by the resolvers instead.
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Serve serves on l until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	defer s.closeOwned()
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// closeOwned stops what the server made itself (an operations manager that
// interrupts running operations, chart index refreshes).
func (s *Server) closeOwned() {
	for _, c := range s.owned {
		c()
	}
}

type metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	operations *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "helmgraph_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		operations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "helmgraph_graphql_operation_seconds", Help: "GraphQL operation latency by operation type.",
		}, []string{"operation"}),
	}
	m.registry.MustRegister(m.requests, m.operations, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int)        { r.code = code; r.ResponseWriter.WriteHeader(code) }
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.URL.Path
		switch route {
		case "/", "/graphql", "/healthz", "/readyz", "/metrics":
		default:
			route = "other" // bounded label values
		}
		m.requests.WithLabelValues(route, fmt.Sprint(rec.code)).Inc()
	})
}
