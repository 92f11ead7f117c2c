package tiller

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	hapirelease "k8s.io/helm/pkg/proto/hapi/release"
	"k8s.io/helm/pkg/proto/hapi/services"

	"github.com/helmgraph/helmgraph/release"
)

// ClientVersion is the Helm v2 client version helmgraph announces to Tiller
// (gRPC metadata x-helm-api-client). Tiller refuses a client whose minor
// version is newer than its own.
const ClientVersion = "v2.17.0"

// MaxRecvMsgSize bounds one message from Tiller. Tiller splits ListReleases
// into messages of up to 20 MiB, and a single release (chart included) may
// approach that, so gRPC's default of 4 MiB fails with ResourceExhausted.
const MaxRecvMsgSize = 32 << 20

// keepaliveTime matches Tiller's enforcement policy (MinTime 20s): pinging
// more often would get the connection closed with "too_many_pings".
const keepaliveTime = 30 * time.Second

// TLS is the client side of Tiller's --tls-verify setup. All fields are
// file paths; CAFile empty means the system roots.
type TLS struct {
	CAFile, CertFile, KeyFile string
	// ServerName overrides the name checked in Tiller's certificate.
	ServerName         string
	InsecureSkipVerify bool
}

// Config configures a Driver for one cluster.
type Config struct {
	// Cluster is the cluster's name in helmgraph; it goes into every Ref.
	Cluster string
	// Transport reaches Tiller; the driver closes it on Close.
	Transport Transport
	// TLS, when set, speaks TLS to Tiller.
	TLS *TLS
	// Logger receives the driver's logs; nil means slog.Default().
	Logger *slog.Logger
	// PollInterval is how often Watch lists Tiller (DefaultPollInterval
	// when 0).
	PollInterval time.Duration
}

// Driver reads the Helm v2 releases of one cluster from its Tiller. It is
// safe for concurrent use.
type Driver struct {
	cluster      string
	transport    Transport
	pollInterval time.Duration
	log          *slog.Logger
	conn         *grpc.ClientConn
	svc          services.ReleaseServiceClient
	// dialErr is the last failed dial's error, nil after a good one: gRPC
	// flattens it into a string, and it says best what is wrong (no tiller
	// pod, connection refused).
	dialErr atomic.Pointer[error]
}

// New returns a Driver for cfg.Cluster. It does not contact Tiller.
func New(cfg Config) (*Driver, error) {
	if cfg.Cluster == "" {
		return nil, errors.New("tiller driver: cluster name is empty")
	}
	if cfg.Transport == nil {
		return nil, fmt.Errorf("tiller driver for cluster %q: no transport", cfg.Cluster)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		tcfg := *cfg.TLS
		if tcfg.ServerName == "" {
			// As the Helm v2 client: the host it dialled, which through a
			// port-forward is the local end, 127.0.0.1.
			tcfg.ServerName = "127.0.0.1"
			if d, ok := cfg.Transport.(Direct); ok {
				if host, _, err := net.SplitHostPort(d.Addr); err == nil {
					tcfg.ServerName = host
				}
			}
		}
		tc, err := tcfg.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("tiller driver for cluster %q: %w", cfg.Cluster, err)
		}
		creds = credentials.NewTLS(tc)
	}
	t := cfg.Transport
	d := &Driver{cluster: cfg.Cluster, transport: t, pollInterval: cfg.PollInterval}
	conn, err := grpc.NewClient("passthrough:///tiller",
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			c, err := t.Dial(ctx)
			if err != nil {
				d.dialErr.Store(&err)
			} else {
				d.dialErr.Store(nil)
			}
			return c, err
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxRecvMsgSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: 20 * time.Second}),
		grpc.WithUserAgent("helmgraph"),
		// A Tiller (or forward) that comes back is used again within
		// seconds, not after gRPC's default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("tiller driver for cluster %q: %w", cfg.Cluster, err)
	}
	d.log = log.With(slog.String("cluster", cfg.Cluster), slog.String("driver", "tiller"), slog.String("transport", t.Name()))
	d.conn, d.svc = conn, services.NewReleaseServiceClient(conn)
	return d, nil
}

// ClientConfig is the crypto/tls configuration of c (TLS 1.2 at least); the
// swift driver's direct transport uses it too.
func (c TLS) ClientConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls CA %q: no certificates found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Close closes the connection to Tiller and the transport.
func (d *Driver) Close() error {
	err := d.conn.Close()
	return errors.Join(err, d.transport.Close())
}

// Kind reports release.DriverTiller.
func (d *Driver) Kind() release.DriverKind { return release.DriverTiller }

// Transport names how the driver reaches Tiller: "direct" or "port-forward".
func (d *Driver) Transport() string { return d.transport.Name() }

func (d *Driver) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-helm-api-client", ClientVersion)
}

// Version returns Tiller's version, e.g. "v2.17.0".
func (d *Driver) Version(ctx context.Context) (string, error) {
	resp, err := d.svc.GetVersion(d.ctx(ctx), &services.GetVersionRequest{})
	if err != nil {
		return "", d.classify("get tiller version", err)
	}
	return resp.GetVersion().GetSemVer(), nil
}

// allStatuses asks ListReleases for every status, like `helm list --all`
// (Tiller's default is DEPLOYED only).
var allStatuses = func() []hapirelease.Status_Code {
	var out []hapirelease.Status_Code
	for c := range hapirelease.Status_Code_name {
		out = append(out, hapirelease.Status_Code(c))
	}
	slices.Sort(out)
	return out
}()

// List returns the latest revision of every release in namespaces (all when
// none are given), whatever its status, sorted by namespace and name.
func (d *Driver) List(ctx context.Context, namespaces []string) ([]release.Summary, error) {
	rels, err := d.listAll(ctx, namespaces)
	if err != nil {
		return nil, err
	}
	out := make([]release.Summary, 0, len(rels))
	for _, r := range rels {
		out = append(out, Summary(d.cluster, release.DriverTiller, r))
	}
	return out, nil
}

// listAll reads one ListReleases stream to its end. With every status
// selected Tiller returns every stored revision, not just the latest, so
// this keeps the newest revision of each release, as the Helm v2 CLI does.
// The limit is lifted rather than paged with Offset: Tiller's offset is a
// release name, which cannot resume inside one release's revisions.
func (d *Driver) listAll(ctx context.Context, namespaces []string) ([]*hapirelease.Release, error) {
	req := &services.ListReleasesRequest{Limit: math.MaxInt32, SortBy: services.ListSort_NAME, StatusCodes: allStatuses}
	namespaces = dedupe(namespaces)
	if len(namespaces) == 1 {
		req.Namespace = namespaces[0]
	}
	stream, err := d.svc.ListReleases(d.ctx(ctx), req)
	if err != nil {
		return nil, d.classify("list releases", err)
	}
	latest := map[string]*hapirelease.Release{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, d.classify(fmt.Sprintf("list releases (after %d)", len(latest)), err)
		}
		for _, r := range resp.GetReleases() {
			if len(namespaces) > 0 && !slices.Contains(namespaces, r.GetNamespace()) {
				continue
			}
			if cur, ok := latest[r.GetName()]; !ok || r.GetVersion() > cur.GetVersion() {
				latest[r.GetName()] = r
			}
		}
	}
	out := make([]*hapirelease.Release, 0, len(latest))
	for _, r := range latest {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *hapirelease.Release) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return out, nil
}

// Get returns one revision of a release with its heavy fields; revision 0
// means the latest, whatever its status.
func (d *Driver) Get(ctx context.Context, ref release.Ref, revision int) (*release.Release, error) {
	if err := validRef(ref); err != nil {
		return nil, err
	}
	if revision < 0 || revision > math.MaxInt32 {
		return nil, fmt.Errorf("%w: revision %d of %s: revisions start at 1", release.ErrInvalidArgument, revision, d.describe(ref))
	}
	resp, err := d.svc.GetReleaseContent(d.ctx(ctx), &services.GetReleaseContentRequest{Name: ref.Name, Version: int32(revision)})
	if err != nil {
		what := "get " + d.describe(ref)
		if revision > 0 {
			what = fmt.Sprintf("get revision %d of %s", revision, d.describe(ref))
		}
		return nil, d.classify(what, err)
	}
	r := resp.GetRelease()
	// Tiller's release names are cluster-wide: the same name in another
	// namespace is not this release.
	if r == nil || r.GetNamespace() != ref.Namespace {
		return nil, fmt.Errorf("%s: %w", d.describe(ref), release.ErrNotFound)
	}
	return Release(d.cluster, release.DriverTiller, r)
}

// History returns every stored revision of a release, newest first.
func (d *Driver) History(ctx context.Context, ref release.Ref) ([]release.Summary, error) {
	if err := validRef(ref); err != nil {
		return nil, err
	}
	resp, err := d.svc.GetHistory(d.ctx(ctx), &services.GetHistoryRequest{Name: ref.Name, Max: math.MaxInt32})
	if err != nil {
		return nil, d.classify("get history of "+d.describe(ref), err)
	}
	var out []release.Summary
	for _, r := range resp.GetReleases() {
		if r.GetNamespace() != ref.Namespace {
			continue
		}
		out = append(out, Summary(d.cluster, release.DriverTiller, r))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", d.describe(ref), release.ErrNotFound)
	}
	slices.SortFunc(out, func(a, b release.Summary) int { return cmp.Compare(b.Revision, a.Revision) })
	return out, nil
}

// classify wraps a gRPC error from Tiller with the release sentinel that
// says what the caller can do about it. Tiller reports most failures as
// codes.Unknown with a message, so the message decides.
func (d *Driver) classify(what string, err error) error {
	where := fmt.Sprintf("%s: tiller of cluster %q (%s)", what, d.cluster, d.transport.Name())
	for _, s := range []error{release.ErrClusterUnavailable, release.ErrNotFound, release.ErrInvalidArgument} {
		if errors.Is(err, s) { // from the transport (no tiller pod, ...)
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w: %w", where, release.ErrClusterUnavailable, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w: %w", where, release.ErrClusterUnavailable, err)
	}
	msg := st.Message()
	if st.Code() == codes.Unavailable {
		if de := d.dialErr.Load(); de != nil {
			if errors.Is(*de, release.ErrClusterUnavailable) {
				return fmt.Errorf("%s: %w", where, *de)
			}
			return fmt.Errorf("%s: %w: %w", where, release.ErrClusterUnavailable, *de)
		}
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Internal, codes.Aborted, codes.DataLoss:
		return fmt.Errorf("%s: %w: %s", where, release.ErrClusterUnavailable, msg)
	case codes.NotFound:
		return fmt.Errorf("%s: %w: %s", where, release.ErrNotFound, msg)
	case codes.InvalidArgument:
		return fmt.Errorf("%s: %w: %s", where, release.ErrInvalidArgument, msg)
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("%s: %w: %s", where, release.ErrClusterUnavailable, msg)
	}
	switch {
	case strings.Contains(msg, "incompatible versions"):
		// Tiller refuses every call but GetVersion from a client whose
		// minor version is newer than its own.
		return fmt.Errorf("%s: %w: tiller is older than helmgraph's Helm v2 client %s and refuses it (%s); upgrade tiller to v2.17",
			where, release.ErrClusterUnavailable, ClientVersion, msg)
	case strings.Contains(msg, "not found"), strings.HasPrefix(msg, "no revision for release"):
		return fmt.Errorf("%s: %w: %s", where, release.ErrNotFound, msg)
	case strings.HasPrefix(msg, "invalid release name"), strings.HasPrefix(msg, "no release provided"):
		return fmt.Errorf("%s: %w: %s", where, release.ErrInvalidArgument, msg)
	}
	return fmt.Errorf("%s: %s", where, msg)
}

func (d *Driver) describe(ref release.Ref) string {
	return fmt.Sprintf("release %q in namespace %q of cluster %q", ref.Name, ref.Namespace, d.cluster)
}

func validRef(ref release.Ref) error { return ValidateRef(ref) }

// validName is Tiller's own rule for release names (ValidName, at most 53
// characters).
var validName = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])+$`)

// ValidateRef checks a ref as Tiller would check its name, before the name
// goes into a request (or, for swift, a URL path).
func ValidateRef(ref release.Ref) error {
	if ref.Namespace == "" || ref.Name == "" {
		return fmt.Errorf("%w: release %q in namespace %q: both a namespace and a name are required", release.ErrInvalidArgument, ref.Name, ref.Namespace)
	}
	if len(ref.Name) > 53 || !validName.MatchString(ref.Name) {
		return fmt.Errorf("%w: release name %q: Helm v2 names are at most 53 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", release.ErrInvalidArgument, ref.Name)
	}
	return nil
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
