package controller

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// StorageClass parameter names (as ceph-csi users write them). The
// volume-context keys of the same name are in internal/volctx.
const (
	paramClusterID      = "clusterID"
	paramPool           = "pool"
	paramDataPool       = "dataPool"
	paramImageFeatures  = "imageFeatures"
	paramJournalPool    = "journalPool"
	paramNamePrefix     = "volumeNamePrefix"
	paramMounter        = "mounter"
	paramMkfsOptions    = "mkfsOptions"
	paramMapOptions     = "mapOptions"
	paramUnmapOptions   = "unmapOptions"
	paramImageFormat    = "imageFormat"
	paramEncrypted      = "encrypted"
	paramThickProvision = "thickProvision"

	// k8sPrefix marks the parameters Kubernetes sidecars add (with
	// --extra-create-metadata) or pass through; they are tolerated.
	k8sPrefix    = "csi.storage.k8s.io/"
	paramFsType  = volctx.FsType
	paramPVCName = k8sPrefix + "pvc/name"
	paramPVCNS   = k8sPrefix + "pvc/namespace"
	paramPVName  = k8sPrefix + "pv/name"
)

// compatParams are ceph-csi parameters accepted only with the value that
// means "off" (what this driver does anyway), so existing StorageClasses
// keep working and a request for the feature fails loudly.
var compatParams = map[string]string{
	paramImageFormat:    "2",
	paramEncrypted:      "false",
	paramThickProvision: "false",
}

// volumeParams are the validated parameters of a CreateVolume request.
type volumeParams struct {
	ClusterID    string
	Pool         string
	DataPool     string
	JournalPool  string
	NamePrefix   string
	Features     []string
	Mounter      string
	FsType       string
	MkfsOptions  string
	MapOptions   string
	UnmapOptions string
	// Metadata are the PVC/PV names, recorded with --set-metadata.
	Metadata map[string]string
}

var knownParams = map[string]bool{
	paramClusterID: true, paramPool: true, paramDataPool: true, paramImageFeatures: true,
	paramJournalPool: true, paramNamePrefix: true, paramMounter: true, paramMkfsOptions: true,
	paramMapOptions: true, paramUnmapOptions: true,
}

// parseParams validates the StorageClass parameters. Unknown keys are
// InvalidArgument (a typo must not silently give a different volume),
// except the csi.storage.k8s.io/ ones Kubernetes adds.
func parseParams(in map[string]string) (*volumeParams, error) {
	if err := checkKeys(in); err != nil {
		return nil, err
	}
	p := &volumeParams{
		ClusterID: in[paramClusterID], Pool: in[paramPool], DataPool: in[paramDataPool],
		JournalPool: in[paramJournalPool], NamePrefix: in[paramNamePrefix],
		Mounter: in[paramMounter], FsType: in[paramFsType], MkfsOptions: in[paramMkfsOptions],
		MapOptions: in[paramMapOptions], UnmapOptions: in[paramUnmapOptions],
	}
	if p.Mounter == "" {
		p.Mounter = volctx.DefaultMounter
	}
	features, err := parseFeatures(in[paramImageFeatures])
	if err != nil {
		return nil, err
	}
	p.Features = features
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.Metadata = pick(in, paramPVCName, paramPVCNS, paramPVName)
	return p, nil
}

func checkKeys(in map[string]string) error {
	var unknown []string
	for k, v := range in {
		if want, ok := compatParams[k]; ok && !strings.EqualFold(v, want) {
			return invalidArg("parameters."+k, "%q is not supported (only %q)", v, want)
		}
		if !knownParams[k] && compatParams[k] == "" && !strings.HasPrefix(k, k8sPrefix) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return invalidArg("parameters", "unknown parameters %s", strings.Join(unknown, ", "))
	}
	return nil
}

func (p *volumeParams) validate() error {
	switch {
	case p.ClusterID == "":
		return invalidArg("parameters."+paramClusterID, "is required")
	case p.Pool == "":
		return invalidArg("parameters."+paramPool, "is required")
	case !volctx.ValidMounter(p.Mounter):
		return invalidArg("parameters."+paramMounter, "%q is not one of %s", p.Mounter,
			strings.Join(volctx.Mounters(), ", "))
	case !fsTypes[p.FsType]:
		return invalidArg("parameters."+paramFsType, "%q is not supported (want ext4, ext3 or xfs)", p.FsType)
	}
	for _, f := range []struct{ name, value string }{
		{paramPool, p.Pool}, {paramDataPool, p.DataPool}, {paramJournalPool, p.JournalPool},
		{paramNamePrefix, p.NamePrefix},
	} {
		if err := checkName(f.name, f.value); err != nil {
			return err
		}
	}
	return nil
}

// checkName refuses characters that break image specs (pool/ns/image@snap).
func checkName(param, v string) error {
	if strings.ContainsAny(v, "/@ \t\n") || len(v) > 64 {
		return invalidArg("parameters."+param, "%q must be at most 64 characters without '/', '@' or spaces", v)
	}
	return nil
}

func pick(in map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v := in[k]; v != "" {
			out[k] = v
		}
	}
	return out
}

// imageFeatureNames lists the accepted features and what each requires.
var featureDeps = map[string]string{
	"layering":       "",
	"exclusive-lock": "",
	"object-map":     "exclusive-lock",
	"fast-diff":      "object-map",
	"deep-flatten":   "",
	"journaling":     "exclusive-lock",
}

// DefaultImageFeatures is used when imageFeatures is unset.
const DefaultImageFeatures = "layering"

// parseFeatures validates a comma-separated feature list.
func parseFeatures(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultImageFeatures
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if _, ok := featureDeps[f]; !ok {
			return nil, invalidArg("parameters."+paramImageFeatures, "unknown image feature %q (supported: %s)",
				f, strings.Join(sortedKeys(featureDeps), ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, f := range out {
		if dep := featureDeps[f]; dep != "" && !slices.Contains(out, dep) {
			return nil, invalidArg("parameters."+paramImageFeatures, "feature %q requires %q", f, dep)
		}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// context returns the volume context NodeStageVolume needs.
func (p *volumeParams) context(ns, imageName string) map[string]string {
	ctx := map[string]string{
		volctx.ClusterID:     p.ClusterID,
		volctx.Pool:          p.Pool,
		volctx.ImageName:     imageName,
		volctx.Mounter:       p.Mounter,
		volctx.ImageFeatures: strings.Join(p.Features, ","),
	}
	for k, v := range map[string]string{
		volctx.DataPool: p.DataPool, volctx.JournalPool: p.JournalPool, volctx.RadosNamespace: ns,
		volctx.MkfsOptions: p.MkfsOptions, volctx.MapOptions: p.MapOptions,
		volctx.UnmapOptions: p.UnmapOptions, volctx.FsType: p.FsType,
	} {
		if v != "" {
			ctx[k] = v
		}
	}
	return ctx
}

// String renders the parameters for logs.
func (p *volumeParams) String() string {
	return fmt.Sprintf("cluster=%s pool=%s features=%s mounter=%s", p.ClusterID, p.Pool,
		strings.Join(p.Features, ","), p.Mounter)
}
