package testenv

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/protoadapt"
	hapirelease "k8s.io/helm/pkg/proto/hapi/release"
	"k8s.io/helm/pkg/proto/hapi/services"
	"sigs.k8s.io/yaml"
)

// SwiftGateway is a swift-compatible HTTP/JSON gateway over a real Tiller,
// for testing the swift driver: appscode/swift is not served by the Go module
// proxy. It serves swift's documented read routes as swift v0.12 does
// (grpc-gateway v1 over swift's ReleaseService, which calls Tiller):
//
//	GET /tiller/v2/version/json                  GetVersion      {"Version":{"sem_ver":..}}
//	GET /tiller/v2/releases/json                 SummarizeReleases ?limit&offset&sort_by&sort_order&filter&namespace&status_codes&all
//	GET /tiller/v2/releases/{name}/json          GetHistory      ?max
//	GET /tiller/v2/releases/{name}/status/json   GetReleaseStatus ?version
//	GET /tiller/v2/releases/{name}/content/json  GetReleaseContent ?version&format_values_as_json
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Fail != "" {
			writeError(w, status.Error(codes.Unknown, g.Fail))
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			// grpc-gateway answers unknown routes with NotFound.
			writeError(w, status.Error(codes.NotFound, "Not Found"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (g *SwiftGateway) ctx(r *http.Request) context.Context {
	return metadata.AppendToOutgoingContext(r.Context(), "x-helm-api-client", g.clientVersion)
}

var marshal = protojson.MarshalOptions{UseProtoNames: true}

// raw marshals a Helm v2 message as grpc-gateway's JSONPb{OrigName: true}.
func raw(m protoadapt.MessageV1) json.RawMessage {
	if m == nil {
		return nil
	}
	b, err := marshal.Marshal(protoadapt.MessageV2Of(m))
	if err != nil || string(b) == "{}" {
		return nil
	}
	return b
}

func (g *SwiftGateway) version(w http.ResponseWriter, r *http.Request) {
	resp, err := g.svc.GetVersion(g.ctx(r), &services.GetVersionRequest{})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct {
		Version json.RawMessage `json:"Version,omitempty"`
	}{raw(resp.GetVersion())})
}

type releaseSummary struct {
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
	if req.Limit, err = intParam(q.Get("limit"), 64); err != nil {
		writeError(w, status.Errorf(codes.InvalidArgument, "limit: %v", err))
		return
	}
	if v, ok := enumParam(q.Get("sort_by"), services.ListSort_SortBy_value); ok {
		req.SortBy = services.ListSort_SortBy(v)
	}
	if v, ok := enumParam(q.Get("sort_order"), services.ListSort_SortOrder_value); ok {
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
		writeError(w, err)
		return
	}
	var out struct {
		Releases []releaseSummary `json:"releases,omitempty"`
	}
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, err)
			return
		}
		for _, rel := range resp.GetReleases() {
			out.Releases = append(out.Releases, releaseSummary{
				Name: rel.GetName(), Info: raw(rel.GetInfo()), ChartMetadata: raw(rel.GetChart().GetMetadata()),
				Config: raw(rel.GetConfig()), Version: rel.GetVersion(), Namespace: rel.GetNamespace(),
			})
		}
	}
	writeJSON(w, out)
}

func (g *SwiftGateway) history(w http.ResponseWriter, r *http.Request) {
	maxRevs, err := intParam(r.URL.Query().Get("max"), 32)
	if err != nil {
		writeError(w, status.Errorf(codes.InvalidArgument, "max: %v", err))
		return
	}
	resp, err := g.svc.GetHistory(g.ctx(r), &services.GetHistoryRequest{Name: r.PathValue("name"), Max: int32(maxRevs)})
	if err != nil {
		writeError(w, err)
		return
	}
	var out struct {
		Releases []json.RawMessage `json:"releases,omitempty"`
	}
	for _, rel := range resp.GetReleases() {
		out.Releases = append(out.Releases, raw(rel))
	}
	writeJSON(w, out)
}

func (g *SwiftGateway) status(w http.ResponseWriter, r *http.Request) {
	v, err := intParam(r.URL.Query().Get("version"), 32)
	if err != nil {
		writeError(w, status.Errorf(codes.InvalidArgument, "version: %v", err))
		return
	}
	resp, err := g.svc.GetReleaseStatus(g.ctx(r), &services.GetReleaseStatusRequest{Name: r.PathValue("name"), Version: int32(v)})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct {
		Name      string          `json:"name,omitempty"`
		Info      json.RawMessage `json:"info,omitempty"`
		Namespace string          `json:"namespace,omitempty"`
	}{resp.GetName(), raw(resp.GetInfo()), resp.GetNamespace()})
}

func (g *SwiftGateway) content(w http.ResponseWriter, r *http.Request) {
	v, err := intParam(r.URL.Query().Get("version"), 32)
	if err != nil {
		writeError(w, status.Errorf(codes.InvalidArgument, "version: %v", err))
		return
	}
	resp, err := g.svc.GetReleaseContent(g.ctx(r), &services.GetReleaseContentRequest{Name: r.PathValue("name"), Version: int32(v)})
	if err != nil {
		writeError(w, err)
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
	writeJSON(w, struct {
		Release json.RawMessage `json:"release,omitempty"`
	}{raw(rel)})
}

func intParam(s string, bits int) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, bits)
}

// enumParam parses an enum query parameter as grpc-gateway does: its name
// or its number.
func enumParam(s string, values map[string]int32) (int32, bool) {
	if s == "" {
		return 0, false
	}
	if v, ok := values[s]; ok {
		return v, true
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err == nil
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, status.Error(codes.Internal, err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// writeError answers as grpc-gateway v1's default error handler.
func writeError(w http.ResponseWriter, err error) {
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
	w.WriteHeader(httpStatus(st.Code()))
	w.Write(body)
}

// httpStatus is grpc-gateway's HTTPStatusFromCode.
func httpStatus(c codes.Code) int {
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
