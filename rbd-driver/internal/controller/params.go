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
	// TryOtherMounters, CephLogDir and CephLogStrategy are passed to the
	// node as they are (validated).
	TryOtherMounters string
	CephLogDir       string
	CephLogStrategy  string
	// RadosNamespace is the namespace the StorageClass asks for ("":
	// none); it must be the cluster's.
	RadosNamespace string
	layout         imageLayout
	// Metadata are the PVC/PV names, recorded with --set-metadata.
	Metadata map[string]string
	// TopologyPools are the topologyConstrainedPools (nil: none).
	TopologyPools []topologyPool
}

// parseParams validates the StorageClass parameters against
// StorageClassParams (an unknown key is InvalidArgument with the nearest
// known one suggested) and then their values.
func parseParams(in map[string]string) (*volumeParams, error) {
	if err := checkTable(StorageClassParams, in); err != nil {
		return nil, err
	}
	p := &volumeParams{
		ClusterID: in[paramClusterID], Pool: in[paramPool], DataPool: in[paramDataPool],
		JournalPool: in[paramJournalPool], NamePrefix: in[paramNamePrefix],
		Mounter: volctx.Normalize(in[paramMounter]), FsType: in[paramFsType], MkfsOptions: in[paramMkfsOptions],
		MapOptions: in[paramMapOptions], UnmapOptions: in[paramUnmapOptions],
		TryOtherMounters: in[paramTryOtherMounters], CephLogDir: in[paramCephLogDir],
		CephLogStrategy: in[paramCephLogStrategy],
	}
	ns, hasNS := in[paramRadosNamespace]
	if hasNS && ns == "" {
		return nil, invalidArg("parameters."+paramRadosNamespace, "is empty")
	}
	p.RadosNamespace = ns
	features, err := parseFeatures(in[paramImageFeatures])
	if err != nil {
		return nil, err
	}
	p.Features = features
	if p.layout, err = parseLayout(in); err != nil {
		return nil, err
	}
	if p.TopologyPools, err = parseTopologyPools(in[paramTopologyPools]); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	if err := p.validateNode(); err != nil {
		return nil, err
	}
	p.Metadata = pick(in, paramPVCName, paramPVCNS, paramPVName)
	return p, nil
}

func (p *volumeParams) validate() error {
	switch {
	case p.ClusterID == "":
		return invalidArg("parameters."+paramClusterID, "is required")
	case p.Pool == "" && len(p.TopologyPools) == 0:
		return invalidArg("parameters."+paramPool, "is required (or "+paramTopologyPools+")")
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

// parseFeatures validates a comma-separated feature list. An empty list
// (imageFeatures unset) leaves the choice to the cluster's
// rbd_default_features, as ceph-csi does: librbd applies it when no
// features are given.
func parseFeatures(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
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

// context returns the volume context NodeStageVolume needs. journalPool
// is the pool of the volume's journal directory, as ceph-csi writes it
// (its rbdVol.JournalPool: the image pool for every volume it makes).
func (p *volumeParams) context(ns, imageName, dirPool string) map[string]string {
	ctx := map[string]string{
		volctx.ClusterID:   p.ClusterID,
		volctx.Pool:        p.Pool,
		volctx.ImageName:   imageName,
		volctx.Mounter:     p.Mounter,
		volctx.JournalPool: dirPool,
	}
	for k, v := range map[string]string{
		volctx.DataPool: p.DataPool, volctx.RadosNamespace: ns,
		volctx.MkfsOptions: p.MkfsOptions, volctx.MapOptions: p.MapOptions,
		volctx.UnmapOptions: p.UnmapOptions, volctx.FsType: p.FsType,
		volctx.ImageFeatures: strings.Join(p.Features, ","), volctx.TryOtherMounters: p.TryOtherMounters,
		volctx.CephLogDir: p.CephLogDir, volctx.CephLogStrategy: p.CephLogStrategy,
	} {
		if v != "" {
			ctx[k] = v
		}
	}
	return ctx
}

// String renders the parameters for logs.
func (p *volumeParams) String() string {
	features := strings.Join(p.Features, ",")
	if features == "" {
		features = "(cluster default)"
	}
	return fmt.Sprintf("cluster=%s pool=%s features=%s mounter=%s", p.ClusterID, p.Pool, features, p.Mounter)
}
