// Package identity implements a generic CSI Identity service: it reports the
// plugin name, version and capabilities, and answers Probe from a caller
// supplied readiness check.
package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// MaxNameLength is the longest plugin name the CSI spec allows.
const MaxNameLength = 63

// Config describes the plugin reported by the Identity service.
type Config struct {
	// Name is the plugin name, e.g. "rbd.csi.ceph.com". It must be a valid
	// CSI plugin name (see ValidateName).
	Name string
	// Version is the opaque vendor version reported by GetPluginInfo. Required.
	Version string
	// Capabilities are returned as is by GetPluginCapabilities.
	Capabilities []*csi.PluginCapability
	// Probe reports whether the plugin is healthy. A nil Probe means always
	// ready. A non-nil error makes Probe fail (see Server.Probe).
	Probe func(ctx context.Context) error
}

// Server is a csi.IdentityServer built from a Config.
type Server struct {
	csi.UnimplementedIdentityServer

	name         string
	version      string
	capabilities []*csi.PluginCapability
	probe        func(ctx context.Context) error
}

var _ csi.IdentityServer = (*Server)(nil)

// New validates cfg and returns an Identity server for it.
func New(cfg Config) (*Server, error) {
	if err := ValidateName(cfg.Name); err != nil {
		return nil, err
	}
	if cfg.Version == "" {
		return nil, errors.New("plugin version must not be empty")
	}
	return &Server{
		name:         cfg.Name,
		version:      cfg.Version,
		capabilities: append([]*csi.PluginCapability(nil), cfg.Capabilities...),
		probe:        cfg.Probe,
	}, nil
}

// ValidateName checks name against the CSI spec's rules for a plugin name:
// domain-name notation, at most MaxNameLength characters, beginning and ending
// with an alphanumeric character, with only alphanumerics, '-' and '.' in
// between. The spec permits upper-case letters but recommends lower case.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("plugin name must not be empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("plugin name %q is %d characters long, at most %d are allowed", name, len(name), MaxNameLength)
	case !isAlphanumeric(name[0]) || !isAlphanumeric(name[len(name)-1]):
		return fmt.Errorf("plugin name %q must begin and end with a letter or digit", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlphanumeric(c) && c != '-' && c != '.' {
			return fmt.Errorf("plugin name %q contains %q; only letters, digits, '-' and '.' are allowed", name, c)
		}
	}
	return nil
}

func isAlphanumeric(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// ServiceCapability returns a plugin capability announcing service t,
// for use in Config.Capabilities.
func ServiceCapability(t csi.PluginCapability_Service_Type) *csi.PluginCapability {
	return &csi.PluginCapability{
		Type: &csi.PluginCapability_Service_{
			Service: &csi.PluginCapability_Service{Type: t},
		},
	}
}

// GetPluginInfo returns the configured plugin name and version.
func (s *Server) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: s.name, VendorVersion: s.version}, nil
}

// GetPluginCapabilities returns the configured plugin capabilities.
func (s *Server) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: s.capabilities}, nil
}

// Probe runs the configured readiness check. It reports ready when there is
// no check or the check succeeds. A failing check is returned as its own
// gRPC status when it carries one, and otherwise as FailedPrecondition with
// the check's message, as the CSI spec prescribes for an unhealthy plugin.
func (s *Server) Probe(ctx context.Context, _ *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	if s.probe != nil {
		if err := s.probe(ctx); err != nil {
			return nil, probeError(err)
		}
	}
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}

func probeError(err error) error {
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.Errorf(codes.FailedPrecondition, "plugin is not healthy: %v", err)
}
