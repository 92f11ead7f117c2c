// Command kube-apiserver is a test component: a real kube-apiserver from
// k8s.io/kubernetes with an embedded etcd in the same process, so a test or
// `helmgraph demo` can start a whole API server with one binary.
//
// Environment:
//
//	ETCD_DATA_DIR     where etcd keeps its data (required)
//	ETCD_CLIENT_PORT  loopback port etcd listens on for clients (required)
//	ETCD_PEER_PORT    loopback port for etcd's peer listener (required)
//
// All command-line arguments go to kube-apiserver unchanged; --etcd-servers is
// added to point at the embedded etcd.
package main

import (
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	dir, cport, pport := os.Getenv("ETCD_DATA_DIR"), os.Getenv("ETCD_CLIENT_PORT"), os.Getenv("ETCD_PEER_PORT")
	if dir == "" || cport == "" || pport == "" {
		fmt.Fprintln(os.Stderr, "kube-apiserver: ETCD_DATA_DIR, ETCD_CLIENT_PORT and ETCD_PEER_PORT must be set")
		os.Exit(2)
	}
	clientURL, _ := url.Parse("http://127.0.0.1:" + cport)
	peerURL, _ := url.Parse("http://127.0.0.1:" + pport)

	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "helmgraph-test"
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-apiserver: start etcd:", err)
		os.Exit(1)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "kube-apiserver: etcd not ready after 60s")
		os.Exit(1)
	}

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(append(os.Args[1:], "--etcd-servers="+clientURL.String()))
	code := cli.Run(cmd)
	e.Close()
	os.Exit(code)
}
