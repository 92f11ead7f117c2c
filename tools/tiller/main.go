// Command tiller is a test component: Helm v2's Tiller server built from
// k8s.io/helm v2.17.0, doing what k8s.io/helm/cmd/tiller does (a main
// package cannot be imported) minus the probe, metrics and tracing servers,
// which helmgraph's tests and demo never use.
//
// Flags: --listen (gRPC address), --storage (configmap, secret or memory),
// --history-max, and Tiller's TLS flags (--tls, --tls-verify, --tls-cert,
// --tls-key, --tls-ca-cert). --probe is accepted for compatibility with
// Tiller's command line and must be false. The Kubernetes connection comes
// from $KUBECONFIG (Tiller has no --kubeconfig flag); releases are stored in
// the namespace $TILLER_NAMESPACE (kube-system by default).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"k8s.io/klog"

	"k8s.io/helm/pkg/kube"
	"k8s.io/helm/pkg/proto/hapi/services"
	"k8s.io/helm/pkg/storage"
	"k8s.io/helm/pkg/storage/driver"
	"k8s.io/helm/pkg/tiller"
	"k8s.io/helm/pkg/tiller/environment"
	"k8s.io/helm/pkg/tlsutil"
	"k8s.io/helm/pkg/version"
)

var (
	grpcAddr   = flag.String("listen", fmt.Sprintf(":%v", environment.DefaultTillerPort), "address:port to listen on")
	probe      = flag.Bool("probe", false, "enable probing over http (not supported by this build; must be false)")
	store      = flag.String("storage", "configmap", "storage driver to use: configmap, secret or memory")
	tlsEnable  = flag.Bool("tls", false, "enable TLS")
	tlsVerify  = flag.Bool("tls-verify", false, "enable TLS and verify the client's certificate")
	keyFile    = flag.String("tls-key", "", "path to TLS private key file")
	certFile   = flag.String("tls-cert", "", "path to TLS certificate file")
	caCertFile = flag.String("tls-ca-cert", "", "trust client certificates signed by this CA")
	maxHistory = flag.Int("history-max", 0, "maximum number of releases kept in release history, 0 for no limit")
	showVer    = flag.Bool("version", false, "print the version number")
)

func main() {
	klog.InitFlags(nil)
	flag.Parse()
	if *showVer {
		fmt.Println(version.GetVersion())
		return
	}
	if *probe {
		log.Fatal("--probe is not supported by this build of tiller; pass --probe=false")
	}
	logger := newLogger("main")

	clientset, err := kube.New(nil).KubernetesClientSet()
	if err != nil {
		logger.Fatalf("Cannot initialize Kubernetes connection: %s", err)
	}
	env := environment.New()
	switch *store {
	case "memory":
		env.Releases = storage.Init(driver.NewMemory())
	case "configmap":
		cm := driver.NewConfigMaps(clientset.CoreV1().ConfigMaps(namespace()))
		cm.Log = newLogger("storage/driver").Printf
		env.Releases = storage.Init(cm)
	case "secret":
		s := driver.NewSecrets(clientset.CoreV1().Secrets(namespace()))
		s.Log = newLogger("storage/driver").Printf
		env.Releases = storage.Init(s)
	default:
		logger.Fatalf("unknown storage %q (known: configmap, secret, memory)", *store)
	}
	env.Releases.Log = newLogger("storage").Printf
	if *maxHistory > 0 {
		env.Releases.MaxHistory = *maxHistory
	}
	kubeClient := kube.New(nil)
	kubeClient.Log = newLogger("kube").Printf
	env.KubeClient = kubeClient

	var opts []grpc.ServerOption
	if *tlsEnable || *tlsVerify {
		to := tlsutil.Options{CertFile: *certFile, KeyFile: *keyFile}
		if *tlsVerify {
			to.CaCertFile = *caCertFile
			to.ClientAuth = tls.RequireAndVerifyClientCert
		}
		cfg, err := tlsutil.ServerConfig(to)
		if err != nil {
			logger.Fatalf("Could not create server TLS configuration: %v", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	opts = append(opts,
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 10 * time.Minute}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 20 * time.Second}),
	)
	srv := tiller.NewServer(opts...)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(srv, healthSrv)

	lstn, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		logger.Fatalf("Server died: %s", err)
	}
	rs := tiller.NewReleaseServer(env, clientset, false)
	rs.Log = newLogger("tiller").Printf
	services.RegisterReleaseServiceServer(srv, rs)
	healthSrv.SetServingStatus("Tiller", healthpb.HealthCheckResponse_SERVING)

	logger.Printf("Starting Tiller %s (tls=%t)", version.GetVersion(), *tlsEnable || *tlsVerify)
	logger.Printf("GRPC listening on %s", lstn.Addr())
	logger.Printf("Storage driver is %s", env.Releases.Name())
	if err := srv.Serve(lstn); err != nil {
		logger.Fatalf("Server died: %s", err)
	}
}

func newLogger(prefix string) *log.Logger {
	return log.New(os.Stderr, "["+prefix+"] ", log.Flags())
}

func namespace() string {
	if ns := os.Getenv("TILLER_NAMESPACE"); ns != "" {
		return ns
	}
	return environment.DefaultTillerNamespace
}
