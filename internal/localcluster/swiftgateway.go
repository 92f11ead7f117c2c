package localcluster

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/protoadapt"
	hapichart "k8s.io/helm/pkg/proto/hapi/chart"
	hapirelease "k8s.io/helm/pkg/proto/hapi/release"
	"k8s.io/helm/pkg/proto/hapi/services"
	"sigs.k8s.io/yaml"
)

// SwiftGateway is a swift-compatible HTTP/JSON gateway over a real Tiller,
// for the swift driver's tests and the demo: appscode/swift is not served by
// the Go module proxy. It serves swift's documented read routes as swift v0.12 does
// (grpc-gateway v1 over swift's ReleaseService, which calls Tiller):
//
//	GET /tiller/v2/version/json                  GetVersion      {"Version":{"sem_ver":..}}
//	GET /tiller/v2/releases/json                 SummarizeReleases ?limit&offset&sort_by&sort_order&filter&namespace&status_codes&all
//	GET /tiller/v2/releases/{name}/json          GetHistory      ?max
//	GET /tiller/v2/releases/{name}/status/json   GetReleaseStatus ?version
//	GET /tiller/v2/releases/{name}/content/json  GetReleaseContent ?version&format_values_as_json
//	POST /tiller/v2/releases/{name}/json         InstallRelease  body: chart, values, namespace, dry_run, ...
//	PUT /tiller/v2/releases/{name}/json          UpdateRelease   body: chart, values, dry_run, reset_values, ...
//	DELETE /tiller/v2/releases/{name}/json       UninstallRelease ?purge&disable_hooks&timeout
//	GET /tiller/v2/releases/{name}/rollback/json RollbackRelease ?version&dry_run&...
//
// Charts are sent inline (swift's chart_url, which swift downloads itself,
// is answered with Unimplemented here).
//
// JSON is grpc-gateway's default: proto field names (snake_case), enums as
// strings, zero values omitted, timestamps RFC 3339. As in swift, a list
// passes limit through to Tiller (0 means Tiller's default of 512), lists
// every stored revision that matches, only DEPLOYED ones unless all=true or
// status_codes says otherwise, and leaves count/next/total unset. Errors are
// grpc-gateway's: the HTTP status for the gRPC code (Tiller's own errors are
// codes.Unknown, so 500) and a body {"error","code","message"}.
type SwiftGateway struct {
	// Fail, when set, answers every request with a 500 as swift does when
	// Tiller fails, with this message.
	Fail string

	conn *grpc.ClientConn
	svc  services.ReleaseServiceClient
	// clientVersion goes to Tiller as x-helm-api-client, as swift's own
	// Helm client does.
	clientVersion string
}

// NewSwiftGateway connects to the Tiller at tillerAddr (without TLS) and
// returns the gateway's handler; Close it when done.
func NewSwiftGateway(tillerAddr, clientVersion string) (*SwiftGateway, error) {
	conn, err := grpc.NewClient(tillerAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, err
	}
	return &SwiftGateway{conn: conn, svc: services.NewReleaseServiceClient(conn), clientVersion: clientVersion}, nil
}

// Close closes the connection to Tiller.
func (g *SwiftGateway) Close() error { return g.conn.Close() }

// ServeSwift serves the gateway on l until l is closed, like swift's
// --api-address listener.
func (g *SwiftGateway) ServeSwift(l net.Listener) error {
	return (&http.Server{Handler: g.Handler(), ReadHeaderTimeout: 10 * time.Second}).Serve(l)
}

// Handler returns the gateway's routes.
func (g *SwiftGateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tiller/v2/version/json", g.version)
	mux.HandleFunc("GET /tiller/v2/releases/json", g.summarize)
	mux.HandleFunc("GET /tiller/v2/releases/{name}/json", g.history)
	mux.HandleFunc("GET /tiller/v2/releases/{name}/status/json", g.status)
	mux.HandleFunc("GET /tiller/v2/releases/{name}/content/json", g.content)
	mux.HandleFunc("POST /tiller/v2/releases/{name}/json", g.install)
	mux.HandleFunc("PUT /tiller/v2/releases/{name}/json", g.update)
	mux.HandleFunc("DELETE /tiller/v2/releases/{name}/json", g.uninstall)
	mux.HandleFunc("GET /tiller/v2/releases/{name}/rollback/json", g.rollback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Fail != "" {
			swiftError(w, status.Error(codes.Unknown, g.Fail))
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			// grpc-gateway answers unknown routes with NotFound.
			swiftError(w, status.Error(codes.NotFound, "Not Found"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (g *SwiftGateway) ctx(r *http.Request) context.Context {
	return metadata.AppendToOutgoingContext(r.Context(), "x-helm-api-client", g.clientVersion)
}

var swiftMarshal = protojson.MarshalOptions{UseProtoNames: true}

// raw marshals a Helm v2 message as grpc-gateway's JSONPb{OrigName: true}.
func swiftRaw(m protoadapt.MessageV1) json.RawMessage {
	if m == nil {
		return nil
	}
	b, err := swiftMarshal.Marshal(protoadapt.MessageV2Of(m))
	if err != nil || string(b) == "{}" {
		return nil
	}
	return b
}

func (g *SwiftGateway) version(w http.ResponseWriter, r *http.Request) {
	resp, err := g.svc.GetVersion(g.ctx(r), &services.GetVersionRequest{})
	if err != nil {
		swiftError(w, err)
		return
	}
	swiftJSON(w, struct {
		Version json.RawMessage `json:"Version,omitempty"`
	}{swiftRaw(resp.GetVersion())})
}

type swiftReleaseSummary struct {
	Name          string          `json:"name,omitempty"`
	Info          json.RawMessage `json:"info,omitempty"`
	ChartMetadata json.RawMessage `json:"chart_metadata,omitempty"`
	Config        json.RawMessage `json:"config,omitempty"`
	Version       int32           `json:"version,omitempty"`
	Namespace     string          `json:"namespace,omitempty"`
}

func (g *SwiftGateway) summarize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := &services.ListReleasesRequest{Filter: q.Get("filter"), Namespace: q.Get("namespace"), Offset: q.Get("offset")}
	var err error
	if req.Limit, err = swiftIntParam(q.Get("limit"), 64); err != nil {
		swiftError(w, status.Errorf(codes.InvalidArgument, "limit: %v", err))
		return
	}
	if v, ok := swiftEnumParam(q.Get("sort_by"), services.ListSort_SortBy_value); ok {
		req.SortBy = services.ListSort_SortBy(v)
	}
	if v, ok := swiftEnumParam(q.Get("sort_order"), services.ListSort_SortOrder_value); ok {
		req.SortOrder = services.ListSort_SortOrder(v)
	}
	if all, _ := strconv.ParseBool(q.Get("all")); all {
		for c := range hapirelease.Status_Code_name {
			req.StatusCodes = append(req.StatusCodes, hapirelease.Status_Code(c))
		}
	} else {
		for _, s := range q["status_codes"] {
			if v, ok := hapirelease.Status_Code_value[s]; ok { // unknown words are dropped, as swift does
				req.StatusCodes = append(req.StatusCodes, hapirelease.Status_Code(v))
			}
		}
	}
	stream, err := g.svc.ListReleases(g.ctx(r), req)
	if err != nil {
		swiftError(w, err)
		return
	}
	var out struct {
		Releases []swiftReleaseSummary `json:"releases,omitempty"`
	}
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			swiftError(w, err)
			return
		}
		for _, rel := range resp.GetReleases() {
			out.Releases = append(out.Releases, swiftReleaseSummary{
				Name: rel.GetName(), Info: swiftRaw(rel.GetInfo()), ChartMetadata: swiftRaw(rel.GetChart().GetMetadata()),
				Config: swiftRaw(rel.GetConfig()), Version: rel.GetVersion(), Namespace: rel.GetNamespace(),
			})
		}
	}
	swiftJSON(w, out)
}

func (g *SwiftGateway) history(w http.ResponseWriter, r *http.Request) {
	maxRevs, err := swiftIntParam(r.URL.Query().Get("max"), 32)
	if err != nil {
		swiftError(w, status.Errorf(codes.InvalidArgument, "max: %v", err))
		return
	}
	resp, err := g.svc.GetHistory(g.ctx(r), &services.GetHistoryRequest{Name: r.PathValue("name"), Max: int32(maxRevs)})
	if err != nil {
		swiftError(w, err)
		return
	}
	var out struct {
		Releases []json.RawMessage `json:"releases,omitempty"`
	}
	for _, rel := range resp.GetReleases() {
		out.Releases = append(out.Releases, swiftRaw(rel))
	}
	swiftJSON(w, out)
}

func (g *SwiftGateway) status(w http.ResponseWriter, r *http.Request) {
	v, err := swiftIntParam(r.URL.Query().Get("version"), 32)
	if err != nil {
		swiftError(w, status.Errorf(codes.InvalidArgument, "version: %v", err))
		return
	}
	resp, err := g.svc.GetReleaseStatus(g.ctx(r), &services.GetReleaseStatusRequest{Name: r.PathValue("name"), Version: int32(v)})
	if err != nil {
		swiftError(w, err)
		return
	}
	swiftJSON(w, struct {
		Name      string          `json:"name,omitempty"`
		Info      json.RawMessage `json:"info,omitempty"`
		Namespace string          `json:"namespace,omitempty"`
	}{resp.GetName(), swiftRaw(resp.GetInfo()), resp.GetNamespace()})
}

func (g *SwiftGateway) content(w http.ResponseWriter, r *http.Request) {
	v, err := swiftIntParam(r.URL.Query().Get("version"), 32)
	if err != nil {
		swiftError(w, status.Errorf(codes.InvalidArgument, "version: %v", err))
		return
	}
	resp, err := g.svc.GetReleaseContent(g.ctx(r), &services.GetReleaseContentRequest{Name: r.PathValue("name"), Version: int32(v)})
	if err != nil {
		swiftError(w, err)
		return
	}
	rel := resp.GetRelease()
	if asJSON, _ := strconv.ParseBool(r.URL.Query().Get("format_values_as_json")); asJSON && rel != nil {
		// As swift: values YAML rewritten as JSON, left alone if it fails.
		if c := rel.GetConfig(); c != nil {
			if j, err := yaml.YAMLToJSON([]byte(c.Raw)); err == nil {
				c.Raw = string(j)
			}
		}
		if c := rel.GetChart().GetValues(); c != nil {
			if j, err := yaml.YAMLToJSON([]byte(c.Raw)); err == nil {
				c.Raw = string(j)
			}
		}
	}
	swiftJSON(w, struct {
		Release json.RawMessage `json:"release,omitempty"`
	}{swiftRaw(rel)})
}

func swiftIntParam(s string, bits int) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, bits)
}

// enumParam parses an enum query parameter as grpc-gateway does: its name
// or its number.
func swiftEnumParam(s string, values map[string]int32) (int32, bool) {
	if s == "" {
		return 0, false
	}
	if v, ok := values[s]; ok {
		return v, true
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err == nil
}

func swiftJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		swiftError(w, status.Error(codes.Internal, err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// writeError answers as grpc-gateway v1's default error handler.
func swiftError(w http.ResponseWriter, err error) {
	st, ok := status.FromError(err)
	if !ok {
		st = status.New(codes.Unknown, err.Error())
	}
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Code    int32  `json:"code"`
		Message string `json:"message"`
	}{st.Message(), int32(st.Code()), st.Message()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(swiftHTTPStatus(st.Code()))
	w.Write(body)
}

// httpStatus is grpc-gateway's HTTPStatusFromCode.
func swiftHTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return http.StatusRequestTimeout
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// swiftInt64 is an int64 as grpc-gateway accepts it: a JSON number or string.
type swiftInt64 int64

func (n *swiftInt64) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	*n = swiftInt64(v)
	return err
}

// swiftChangeBody is the body of swift's InstallReleaseRequest and
// UpdateReleaseRequest (the fields this gateway supports).
type swiftChangeBody struct {
	Chart        json.RawMessage `json:"chart"`
	Values       json.RawMessage `json:"values"`
	ChartURL     string          `json:"chart_url"`
	DryRun       bool            `json:"dry_run"`
	DisableHooks bool            `json:"disable_hooks"`
	Namespace    string          `json:"namespace"`
	ReuseName    bool            `json:"reuse_name"`
	Timeout      swiftInt64      `json:"timeout"`
	Wait         bool            `json:"wait"`
	Recreate     bool            `json:"recreate"`
	ResetValues  bool            `json:"reset_values"`
	ReuseValues  bool            `json:"reuse_values"`
	Force        bool            `json:"force"`
}

var swiftUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

func (b swiftChangeBody) decode() (*hapichart.Chart, *hapichart.Config, error) {
	if len(b.Chart) == 0 || string(b.Chart) == "null" {
		if b.ChartURL != "" {
			return nil, nil, status.Error(codes.Unimplemented, "chart_url is not supported by this gateway; send the chart inline")
		}
		return nil, nil, status.Error(codes.InvalidArgument, "chart is required")
	}
	ch, vals := &hapichart.Chart{}, &hapichart.Config{} // nil values cause render errors in Tiller, as swift notes
	if err := swiftUnmarshal.Unmarshal(b.Chart, protoadapt.MessageV2Of(ch)); err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "chart: %v", err)
	}
	if len(b.Values) > 0 && string(b.Values) != "null" {
		if err := swiftUnmarshal.Unmarshal(b.Values, protoadapt.MessageV2Of(vals)); err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "values: %v", err)
		}
	}
	return ch, vals, nil
}

func (g *SwiftGateway) changeBody(w http.ResponseWriter, r *http.Request) (swiftChangeBody, *hapichart.Chart, *hapichart.Config, bool) {
	var b swiftChangeBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&b); err != nil {
		swiftError(w, status.Errorf(codes.InvalidArgument, "body: %v", err))
		return b, nil, nil, false
	}
	ch, vals, err := b.decode()
	if err != nil {
		swiftError(w, err)
		return b, nil, nil, false
	}
	return b, ch, vals, true
}

func (g *SwiftGateway) install(w http.ResponseWriter, r *http.Request) {
	b, ch, vals, ok := g.changeBody(w, r)
	if !ok {
		return
	}
	ns := b.Namespace
	if ns == "" {
		ns = "default" // as swift
	}
	resp, err := g.svc.InstallRelease(g.ctx(r), &services.InstallReleaseRequest{Name: r.PathValue("name"), Chart: ch, Values: vals,
		DryRun: b.DryRun, DisableHooks: b.DisableHooks, Namespace: ns, ReuseName: b.ReuseName, Timeout: int64(b.Timeout), Wait: b.Wait})
	if err != nil {
		swiftError(w, err)
		return
	}
	swiftJSON(w, struct {
		Release json.RawMessage `json:"release,omitempty"`
	}{swiftRaw(resp.GetRelease())})
}

func (g *SwiftGateway) update(w http.ResponseWriter, r *http.Request) {
	b, ch, vals, ok := g.changeBody(w, r)
	if !ok {
		return
	}
	resp, err := g.svc.UpdateRelease(g.ctx(r), &services.UpdateReleaseRequest{Name: r.PathValue("name"), Chart: ch, Values: vals,
		DryRun: b.DryRun, DisableHooks: b.DisableHooks, Recreate: b.Recreate, Timeout: int64(b.Timeout), ResetValues: b.ResetValues,
		Wait: b.Wait, ReuseValues: b.ReuseValues, Force: b.Force})
	if err != nil {
		swiftError(w, err)
		return
	}
	swiftJSON(w, struct {
		Release json.RawMessage `json:"release,omitempty"`
	}{swiftRaw(resp.GetRelease())})
}

func (g *SwiftGateway) uninstall(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	timeout, err := swiftIntParam(q.Get("timeout"), 64)
	if err != nil {
		swiftError(w, status.Errorf(codes.InvalidArgument, "timeout: %v", err))
		return
	}
	purge, _ := strconv.ParseBool(q.Get("purge"))
	hooks, _ := strconv.ParseBool(q.Get("disable_hooks"))
	resp, err := g.svc.UninstallRelease(g.ctx(r), &services.UninstallReleaseRequest{Name: r.PathValue("name"), Purge: purge, DisableHooks: hooks, Timeout: timeout})
	if err != nil {
		swiftError(w, err)
		return
	}
	swiftJSON(w, struct {
		Release json.RawMessage `json:"release,omitempty"`
		Info    string          `json:"info,omitempty"`
	}{swiftRaw(resp.GetRelease()), resp.GetInfo()})
}

func (g *SwiftGateway) rollback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	version, err := swiftIntParam(q.Get("version"), 32)
	if err != nil {
		swiftError(w, status.Errorf(codes.InvalidArgument, "version: %v", err))
		return
	}
	timeout, err := swiftIntParam(q.Get("timeout"), 64)
	if err != nil {
		swiftError(w, status.Errorf(codes.InvalidArgument, "timeout: %v", err))
		return
	}
	flag := func(n string) bool { v, _ := strconv.ParseBool(q.Get(n)); return v }
	resp, err := g.svc.RollbackRelease(g.ctx(r), &services.RollbackReleaseRequest{Name: r.PathValue("name"), Version: int32(version),
		DryRun: flag("dry_run"), DisableHooks: flag("disable_hooks"), Recreate: flag("recreate"), Timeout: timeout, Wait: flag("wait"), Force: flag("force")})
	if err != nil {
		swiftError(w, err)
		return
	}
	swiftJSON(w, struct {
		Release json.RawMessage `json:"release,omitempty"`
	}{swiftRaw(resp.GetRelease())})
}
