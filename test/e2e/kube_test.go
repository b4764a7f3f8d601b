package e2e

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const gib = int64(1) << 30

// The VolumeSnapshot API (external-snapshotter's CRDs), used through the
// dynamic client.
var (
	vsGVR      = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}
	vscGVR     = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotcontents"}
	vsClassGVR = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1",
		Resource: "volumesnapshotclasses"}
	vgsGVR = schema.GroupVersionResource{Group: "groupsnapshot.storage.k8s.io", Version: "v1beta2",
		Resource: "volumegroupsnapshots"}
	vgsClassGVR = schema.GroupVersionResource{Group: "groupsnapshot.storage.k8s.io", Version: "v1beta2",
		Resource: "volumegroupsnapshotclasses"}
)

// kube is the test's access to the API server, as the admin.
type kube struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
}

func newKube(kubeconfig string) (*kube, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	rc.QPS, rc.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &kube{cs: cs, dyn: dyn}, nil
}

// createOrUpdate creates obj with create, or updates it with update when it
// already exists.
func createOrUpdate[T any](ctx context.Context, obj T,
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	update func(context.Context, T, metav1.UpdateOptions) (T, error)) error {
	_, err := create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = update(ctx, obj, metav1.UpdateOptions{})
	}
	return err
}

func (k *kube) createNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := k.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (k *kube) createServiceAccount(ctx context.Context, ns, name string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	_, err := k.cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// applySecret fills the driver's Secret template with data.
func (k *kube) applySecret(ctx context.Context, ns, name string, data map[string]string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}
	c := k.cs.CoreV1().Secrets(ns)
	return createOrUpdate(ctx, s, c.Create, c.Update)
}

// copyStorageClass applies a copy of the applied sample StorageClass under
// name with params set (all other fields as the sample has them).
func (k *kube) copyStorageClass(ctx context.Context, sample, name string, params map[string]string) error {
	c := k.cs.StorageV1().StorageClasses()
	sc, err := c.Get(ctx, sample, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("sample StorageClass %s: %w", sample, err)
	}
	cp := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: sc.Provisioner,
		Parameters: map[string]string{}, ReclaimPolicy: sc.ReclaimPolicy, MountOptions: sc.MountOptions,
		AllowVolumeExpansion: sc.AllowVolumeExpansion, VolumeBindingMode: sc.VolumeBindingMode,
	}
	for key, v := range sc.Parameters {
		cp.Parameters[key] = v
	}
	for key, v := range params {
		cp.Parameters[key] = v
	}
	_ = c.Delete(ctx, name, metav1.DeleteOptions{})
	_, err = c.Create(ctx, cp, metav1.CreateOptions{})
	return err
}

// copySnapshotClass applies a copy of the applied sample
// VolumeSnapshotClass under name with params set.
func (k *kube) copySnapshotClass(ctx context.Context, sample, name string, params map[string]string) error {
	return k.copyClass(ctx, vsClassGVR, sample, name, params)
}

// copyGroupSnapshotClass does the same for a VolumeGroupSnapshotClass.
func (k *kube) copyGroupSnapshotClass(ctx context.Context, sample, name string, params map[string]string) error {
	return k.copyClass(ctx, vgsClassGVR, sample, name, params)
}

// copyClass applies a copy of the applied sample class of gvr under name
// with params set.
func (k *kube) copyClass(ctx context.Context, gvr schema.GroupVersionResource, sample, name string, params map[string]string) error {
	c := k.dyn.Resource(gvr)
	u, err := c.Get(ctx, sample, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("sample %s %s: %w", gvr.Resource, sample, err)
	}
	cp := u.DeepCopy()
	cp.Object["metadata"] = map[string]any{"name": name}
	for key, v := range params {
		if err := unstructured.SetNestedField(cp.Object, v, "parameters", key); err != nil {
			return err
		}
	}
	_ = c.Delete(ctx, name, metav1.DeleteOptions{})
	_, err = c.Create(ctx, cp, metav1.CreateOptions{})
	return err
}

// claim describes a PVC the scenarios create.
type claim struct {
	name, class string
	mode        corev1.PersistentVolumeMode
	access      corev1.PersistentVolumeAccessMode
	size        string
	// source, when set, is the data source (a VolumeSnapshot or PVC).
	source *corev1.TypedLocalObjectReference
	// labels of the PVC (a VolumeGroupSnapshot selects its PVCs by them).
	labels map[string]string
}

func snapshotSource(name string) *corev1.TypedLocalObjectReference {
	group := "snapshot.storage.k8s.io"
	return &corev1.TypedLocalObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: name}
}

func pvcSource(name string) *corev1.TypedLocalObjectReference {
	return &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: name}
}

func (k *kube) createPVC(ctx context.Context, ns string, c claim) error {
	mode := c.mode
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: ns, Labels: c.labels},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &c.class, VolumeMode: &mode, DataSource: c.source,
			AccessModes: []corev1.PersistentVolumeAccessMode{c.access},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(c.size)},
			},
		},
	}
	_, err := k.cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{})
	return err
}

func (k *kube) pvc(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return k.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
}

func (k *kube) pv(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	return k.cs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
}

// resizePVC asks for a new size of the PVC.
func (k *kube) resizePVC(ctx context.Context, ns, name, size string) error {
	patch := fmt.Sprintf(`{"spec":{"resources":{"requests":{"storage":%q}}}}`, size)
	_, err := k.cs.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, name, types.MergePatchType, []byte(patch),
		metav1.PatchOptions{})
	return err
}

// events returns the messages of the object's events, with reason when
// reason is not empty.
func (k *kube) events(ctx context.Context, ns, kind, name, reason string) ([]string, error) {
	sel := "involvedObject.kind=" + kind + ",involvedObject.name=" + name
	if reason != "" {
		sel += ",reason=" + reason
	}
	list, err := k.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out, nil
}
