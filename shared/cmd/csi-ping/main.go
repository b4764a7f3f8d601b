// Command csi-ping calls the Identity service of a CSI driver and prints
// what it answers: the driver's name and version, its capabilities and its
// readiness. `make demo` uses it; operators can use it to check a socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "csi-ping:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("csi-ping", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "unix:///csi/csi.sock", "CSI endpoint (unix:///path or tcp://host:port)")
	timeout := fs.Duration("timeout", 5*time.Second, "deadline of the whole exchange")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target, err := grpcTarget(*endpoint)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return report(ctx, csi.NewIdentityClient(conn), out)
}

// grpcTarget turns a CSI endpoint into a gRPC target.
func grpcTarget(endpoint string) (string, error) {
	switch {
	case strings.HasPrefix(endpoint, "unix://"):
		return "unix://" + strings.TrimPrefix(endpoint, "unix://"), nil
	case strings.HasPrefix(endpoint, "tcp://"):
		return "dns:///" + strings.TrimPrefix(endpoint, "tcp://"), nil
	case strings.HasPrefix(endpoint, "/"):
		return "unix://" + endpoint, nil
	}
	return "", fmt.Errorf("endpoint %q: want unix:///path or tcp://host:port", endpoint)
}

func report(ctx context.Context, c csi.IdentityClient, out io.Writer) error {
	info, err := c.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		return fmt.Errorf("GetPluginInfo: %w", err)
	}
	fmt.Fprintf(out, "GetPluginInfo:          name=%s version=%s\n", info.GetName(), info.GetVendorVersion())
	caps, err := c.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	if err != nil {
		return fmt.Errorf("GetPluginCapabilities: %w", err)
	}
	var names []string
	for _, cp := range caps.GetCapabilities() {
		if s := cp.GetService(); s != nil {
			names = append(names, s.GetType().String())
		}
		if v := cp.GetVolumeExpansion(); v != nil {
			names = append(names, "VOLUME_EXPANSION_"+v.GetType().String())
		}
	}
	fmt.Fprintf(out, "GetPluginCapabilities:  %s\n", strings.Join(names, ", "))
	probe, err := c.Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		return fmt.Errorf("Probe: %w", err)
	}
	ready := probe.GetReady() == nil || probe.GetReady().GetValue()
	fmt.Fprintf(out, "Probe:                  ready=%t\n", ready)
	return nil
}
