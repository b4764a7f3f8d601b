// Command registrar is the e2e test's stand-in for node-driver-registrar,
// which cannot be had here (it is not on the Go module proxy). It does what
// the node plugin needs of it, with the same flags: it asks the driver at
// --csi-address for its name (CSI GetPluginInfo), serves the kubelet's
// plugin registration API (k8s.io/kubelet pluginregistration/v1) on
// <--plugin-registration-path>/<driver>-reg.sock so that the kubelet's
// plugin watcher registers the driver with --kubelet-registration-path as
// its endpoint, and answers /healthz on --http-endpoint once the kubelet
// reported the registration and while the driver's socket exists.
//
// It is a test stand-in only: the manifests keep the official image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type options struct {
	csiAddress, kubeletPath, registrationDir, httpEndpoint string
	timeout                                                time.Duration
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("registrar", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.csiAddress, "csi-address", "/csi/csi.sock", "the driver's CSI socket in this container")
	fs.StringVar(&o.kubeletPath, "kubelet-registration-path", "", "the driver's CSI socket as the kubelet sees it")
	fs.StringVar(&o.registrationDir, "plugin-registration-path", "/registration", "the kubelet's plugins_registry directory")
	fs.StringVar(&o.httpEndpoint, "http-endpoint", "", "address of /healthz (empty: none)")
	fs.DurationVar(&o.timeout, "timeout", time.Second, "bound on each CSI call")
	fs.Int("v", 0, "log verbosity (ignored)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.kubeletPath == "" {
		return o, errors.New("--kubelet-registration-path is required")
	}
	o.csiAddress = strings.TrimPrefix(o.csiAddress, "unix://")
	return o, nil
}

func main() {
	o, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "registrar:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Printf("registrar: %v", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	name, err := driverName(ctx, o)
	if err != nil {
		return err
	}
	sock := filepath.Join(o.registrationDir, name+"-reg.sock")
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	reg := &registration{name: name, endpoint: o.kubeletPath}
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, reg)
	go func() { <-ctx.Done(); srv.Stop() }()
	if o.httpEndpoint != "" {
		go serveHealth(ctx, o, reg)
	}
	log.Printf("registrar: serving the registration of %s (endpoint %s) on %s", name, o.kubeletPath, sock)
	return srv.Serve(l)
}

// driverName asks the driver for its name, retrying until it answers or ctx
// ends (the driver may start after this container).
func driverName(ctx context.Context, o options) (string, error) {
	conn, err := grpc.NewClient("unix://"+o.csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	id := csi.NewIdentityClient(conn)
	for {
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		resp, err := id.GetPluginInfo(cctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil && resp.GetName() != "" {
			return resp.GetName(), nil
		}
		log.Printf("registrar: waiting for the driver at %s: %v", o.csiAddress, err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// registration answers the kubelet's plugin watcher.
type registration struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint string
	registered     atomic.Bool
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: r.name, Endpoint: r.endpoint,
		SupportedVersions: []string{"1.0.0"}}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (
	*registerapi.RegistrationStatusResponse, error) {
	r.registered.Store(s.PluginRegistered)
	if s.PluginRegistered {
		log.Printf("registrar: the kubelet registered %s", r.name)
	} else {
		log.Printf("registrar: the kubelet did not register %s: %s", r.name, s.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// serveHealth answers /healthz: 200 once registered while the driver's
// socket exists, 503 otherwise.
func serveHealth(ctx context.Context, o options, r *registration) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(o.csiAddress); err != nil || !r.registered.Load() {
			http.Error(w, fmt.Sprintf("registered: %v, socket: %v", r.registered.Load(), err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: o.httpEndpoint, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("registrar: /healthz: %v", err)
	}
}
