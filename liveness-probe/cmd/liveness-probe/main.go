// Command liveness-probe probes a CSI driver's Identity service over its
// socket and exports the result as Prometheus metrics and a /healthz endpoint
// for the kubelet. It needs nothing from the driver but the CSI socket.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/app"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/buildinfo"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/config"
	"github.com/seed-6a310834/ceph-csi/liveness-probe/internal/logging"
)

// version and commit are set at build time: -ldflags "-X main.version=v1.2.3
// -X main.commit=abc123" (the module's VERSION file and the git commit).
var version, commit = "dev", ""

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse("liveness-probe", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "liveness-probe:", err)
		return 2
	}
	if cfg.ShowVersion {
		fmt.Fprint(stdout, buildinfo.Text("liveness-probe", version, commit))
		return 0
	}
	log, err := logging.New(cfg.LogFormat, cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "liveness-probe:", err)
		return 2
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := app.Run(ctx, app.Options{Config: cfg, Version: version, Logger: log}); err != nil {
		log.Error("liveness probe failed", zap.Error(err))
		return 1
	}
	return 0
}
