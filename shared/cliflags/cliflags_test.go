package cliflags

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

const testDriver = "rbd.csi.ceph.com"

func parse(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := Register(fs, testDriver)
	return o, fs.Parse(args)
}

func TestDefaults(t *testing.T) {
	o, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		Endpoint:      "unix:///csi/csi.sock",
		Mode:          ModeAll,
		DriverName:    testDriver,
		InstanceID:    "default",
		ClusterConfig: "/etc/ceph-csi-config/config.json",
		LogFormat:     "json",
		LogLevel:      zapcore.InfoLevel,

		CephConnectTimeout: 10 * time.Second,
		CephOpTimeout:      30 * time.Second,
	}
	if *o != want {
		t.Fatalf("defaults = %+v, want %+v", *o, want)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(*Options) bool
		wantErr string
	}{
		{
			name:  "all flags",
			args:  []string{"--endpoint=tcp://127.0.0.1:9000", "--mode=controller", "--node-id=n1", "--driver-name=x.example.com", "--instance-id=i2", "--cluster-config=/c.json", "--metrics-address=:8080", "--log-format=console", "--log-level=debug", "--version", "--ceph-connect-timeout=5s", "--ceph-op-timeout=1m"},
			check: func(o *Options) bool { return *o == allFlags },
		},
		{name: "mode node", args: []string{"-mode", "node"}, check: func(o *Options) bool { return o.Mode == ModeNode }},
		{name: "log level warn", args: []string{"--log-level=warn"}, check: func(o *Options) bool { return o.LogLevel == zapcore.WarnLevel }},
		{name: "bad mode", args: []string{"--mode=both"}, wantErr: `unknown mode "both"`},
		{name: "bad log level", args: []string{"--log-level=loud"}, wantErr: "log-level"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parse error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(o) {
				t.Fatalf("unexpected options %+v", *o)
			}
		})
	}
}

var allFlags = Options{
	Endpoint:       "tcp://127.0.0.1:9000",
	Mode:           ModeController,
	NodeID:         "n1",
	DriverName:     "x.example.com",
	InstanceID:     "i2",
	ClusterConfig:  "/c.json",
	MetricsAddress: ":8080",
	LogFormat:      "console",
	LogLevel:       zapcore.DebugLevel,
	Version:        true,

	CephConnectTimeout: 5 * time.Second,
	CephOpTimeout:      time.Minute,
}

func TestDriverFlagsOnSameFlagSet(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o := Register(fs, testDriver)
	extra := fs.String("domain-labels", "", "driver specific flag")
	if err := fs.Parse([]string{"--node-id=n1", "--domain-labels=zone"}); err != nil {
		t.Fatal(err)
	}
	if o.NodeID != "n1" || *extra != "zone" {
		t.Fatalf("node-id %q, domain-labels %q", o.NodeID, *extra)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantErrs []string
	}{
		{name: "node id given", args: []string{"--node-id=n1"}},
		{name: "controller without node id", args: []string{"--mode=controller"}},
		{name: "tcp endpoint", args: []string{"--node-id=n1", "--endpoint=tcp://0.0.0.0:10000"}},
		{name: "metrics address", args: []string{"--node-id=n1", "--metrics-address=127.0.0.1:9090"}},
		{name: "console logs", args: []string{"--node-id=n1", "--log-format=console"}},
		{name: "all mode needs node id", args: nil, wantErrs: []string{"--node-id: required in \"all\" mode"}},
		{name: "node mode needs node id", args: []string{"--mode=node"}, wantErrs: []string{"--node-id: required in \"node\" mode"}},
		{name: "bad endpoint", args: []string{"--node-id=n1", "--endpoint=/csi/csi.sock"}, wantErrs: []string{"--endpoint:"}},
		{name: "relative unix endpoint", args: []string{"--node-id=n1", "--endpoint=unix://csi.sock"}, wantErrs: []string{"--endpoint:", "absolute"}},
		{name: "bad driver name", args: []string{"--node-id=n1", "--driver-name=rbd_csi"}, wantErrs: []string{"--driver-name:"}},
		{name: "empty driver name", args: []string{"--node-id=n1", "--driver-name="}, wantErrs: []string{"--driver-name:"}},
		{name: "empty instance id", args: []string{"--node-id=n1", "--instance-id="}, wantErrs: []string{"--instance-id: must not be empty"}},
		{name: "instance id with space", args: []string{"--node-id=n1", "--instance-id=a b"}, wantErrs: []string{"--instance-id:"}},
		{name: "empty cluster config", args: []string{"--node-id=n1", "--cluster-config="}, wantErrs: []string{"--cluster-config: must not be empty"}},
		{name: "metrics address without port", args: []string{"--node-id=n1", "--metrics-address=localhost"}, wantErrs: []string{"--metrics-address:"}},
		{name: "metrics address empty port", args: []string{"--node-id=n1", "--metrics-address=localhost:"}, wantErrs: []string{"--metrics-address:", "missing port"}},
		{name: "bad log format", args: []string{"--node-id=n1", "--log-format=text"}, wantErrs: []string{"--log-format:"}},
		{name: "short ceph timeouts", args: []string{"--node-id=n1", "--ceph-connect-timeout=1s", "--ceph-op-timeout=2s"}},
		{name: "ceph connect timeout under a second", args: []string{"--node-id=n1", "--ceph-connect-timeout=500ms"}, wantErrs: []string{"--ceph-connect-timeout:", "at least 1s"}},
		{name: "ceph op timeout not whole seconds", args: []string{"--node-id=n1", "--ceph-op-timeout=1500ms"}, wantErrs: []string{"--ceph-op-timeout:", "whole number of seconds"}},
		{name: "ceph op timeout zero", args: []string{"--node-id=n1", "--ceph-op-timeout=0s"}, wantErrs: []string{"--ceph-op-timeout:"}},
		{
			name:     "every problem reported",
			args:     []string{"--endpoint=x", "--log-format=text", "--instance-id="},
			wantErrs: []string{"--endpoint:", "--log-format:", "--instance-id:", "--node-id:"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			err = o.Validate()
			if len(tc.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want errors %q", tc.wantErrs)
			}
			for _, want := range tc.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestValidateModeSetDirectly(t *testing.T) {
	o, err := parse(t, "--node-id=n1")
	if err != nil {
		t.Fatal(err)
	}
	o.Mode = "sideways"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--mode:") {
		t.Fatalf("Validate = %v, want a --mode error", err)
	}
}

func TestMode(t *testing.T) {
	tests := []struct {
		mode           Mode
		wantController bool
		wantNode       bool
	}{
		{ModeController, true, false},
		{ModeNode, false, true},
		{ModeAll, true, true},
		{Mode(""), false, false},
		{Mode("other"), false, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.mode), func(t *testing.T) {
			if got := tc.mode.ServesController(); got != tc.wantController {
				t.Errorf("ServesController = %v, want %v", got, tc.wantController)
			}
			if got := tc.mode.ServesNode(); got != tc.wantNode {
				t.Errorf("ServesNode = %v, want %v", got, tc.wantNode)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{in: "controller", want: ModeController},
		{in: "node", want: ModeNode},
		{in: "all", want: ModeAll},
		{in: "All", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMode(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseMode(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseHelpAndUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		help, bad bool
	}{
		{args: []string{"--endpoint=unix:///x"}},
		{args: []string{"--help"}, help: true},
		{args: []string{"-h"}, help: true},
		{args: []string{"--no-such-flag"}, bad: true},
		{args: []string{"--endpoint=unix:///x", "extra"}, bad: true},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		Register(fs, "x.csi.ceph.com")
		help, err := Parse(fs, tc.args)
		if help != tc.help || (err != nil) != tc.bad || (err != nil && !errors.Is(err, ErrUsage)) {
			t.Errorf("Parse(%q) = %v, %v; want help %v, usage error %v", tc.args, help, err, tc.help, tc.bad)
		}
	}
}
