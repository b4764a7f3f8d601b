package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

const fileName = "hello.txt"

func (d *demo) createVolume(ctx context.Context) (string, error) {
	resp, err := d.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name:               d.orig.name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: d.cfg.sizeMiB << 20},
		VolumeCapabilities: []*csi.VolumeCapability{d.capability()},
		Parameters:         d.parameters(),
		Secrets:            d.secrets,
	})
	if err != nil {
		return "", err
	}
	d.orig.vol = resp.GetVolume()
	return describe(d.orig), nil
}

// describe names a volume and its image.
func describe(v *volume) string {
	vc := v.vol.GetVolumeContext()
	return fmt.Sprintf("%s: %d MiB, image %s/%s", v.name, mib(v.vol.GetCapacityBytes()), vc[volctx.Pool], vc[volctx.ImageName])
}

func (d *demo) stage(ctx context.Context, v *volume) (string, error) {
	if err := os.MkdirAll(v.staging, 0o750); err != nil {
		return "", err
	}
	_, err := d.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{
		VolumeId: v.vol.GetVolumeId(), StagingTargetPath: v.staging, VolumeCapability: d.capability(),
		Secrets: d.secrets, VolumeContext: v.vol.GetVolumeContext(),
	})
	if err != nil {
		return "", err
	}
	v.staged = true
	return fmt.Sprintf("%s mounted at %s", mountSource(v.staging), v.staging), nil
}

func (d *demo) publish(ctx context.Context, v *volume) (string, error) {
	_, err := d.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: v.vol.GetVolumeId(), StagingTargetPath: v.staging, TargetPath: v.target,
		VolumeCapability: d.capability(), VolumeContext: v.vol.GetVolumeContext(),
	})
	if err != nil {
		return "", err
	}
	v.published = true
	return "bind mount at " + v.target, nil
}

func (d *demo) writeFile(context.Context) (string, error) {
	path := filepath.Join(d.orig.target, fileName)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(d.message); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %q", path, d.message), nil
}

func (d *demo) snapshot(ctx context.Context) (string, error) {
	resp, err := d.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{
		SourceVolumeId: d.orig.vol.GetVolumeId(), Name: "demo-snap-" + d.orig.name, Secrets: d.secrets,
	})
	if err != nil {
		return "", err
	}
	d.snap = resp.GetSnapshot()
	return fmt.Sprintf("demo-snap-%s of %s: %d MiB, ready: %v", d.orig.name, d.orig.name,
		mib(d.snap.GetSizeBytes()), d.snap.GetReadyToUse()), nil
}

func (d *demo) restore(ctx context.Context) (string, error) {
	resp, err := d.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name:               d.restored.name,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: d.cfg.sizeMiB << 20},
		VolumeCapabilities: []*csi.VolumeCapability{d.capability()},
		Parameters:         d.parameters(),
		Secrets:            d.secrets,
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: d.snap.GetSnapshotId()},
		}},
	})
	if err != nil {
		return "", err
	}
	d.restored.vol = resp.GetVolume()
	return describe(d.restored), nil
}

func (d *demo) readBack(context.Context) (string, error) {
	path := filepath.Join(d.restored.target, fileName)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if string(b) != d.message {
		return "", fmt.Errorf("%s holds %q, want %q", path, b, d.message)
	}
	return fmt.Sprintf("%s: %q", path, b), nil
}

func (d *demo) expand(ctx context.Context) (string, error) {
	v := d.restored
	before, err := fsSize(v.target)
	if err != nil {
		return "", err
	}
	size := d.cfg.expandMiB << 20
	cresp, err := d.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: v.vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapability: d.capability(), Secrets: d.secrets,
	})
	if err != nil {
		return "", fmt.Errorf("ControllerExpandVolume: %w", err)
	}
	if cresp.GetNodeExpansionRequired() {
		_, err = d.node.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{
			VolumeId: v.vol.GetVolumeId(), VolumePath: v.target, StagingTargetPath: v.staging,
			CapacityRange: &csi.CapacityRange{RequiredBytes: size}, VolumeCapability: d.capability(),
		})
		if err != nil {
			return "", fmt.Errorf("NodeExpandVolume: %w", err)
		}
	}
	after, err := fsSize(v.target)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("image %d MiB, %s filesystem %d MiB -> %d MiB", mib(cresp.GetCapacityBytes()),
		d.cfg.fsType, mib(before), mib(after)), nil
}

func (d *demo) unstage(ctx context.Context, v *volume) (string, error) {
	if v.published {
		_, err := d.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: v.vol.GetVolumeId(), TargetPath: v.target})
		if err != nil {
			return "", fmt.Errorf("NodeUnpublishVolume: %w", err)
		}
		v.published = false
	}
	_, err := d.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: v.vol.GetVolumeId(), StagingTargetPath: v.staging})
	if err != nil {
		return "", fmt.Errorf("NodeUnstageVolume: %w", err)
	}
	v.staged = false
	return fmt.Sprintf("%s: not mounted any more", v.staging), nil
}

func (d *demo) deleteVolume(ctx context.Context, v *volume) (string, error) {
	if _, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.vol.GetVolumeId(), Secrets: d.secrets}); err != nil {
		return "", err
	}
	detail := v.name
	v.vol = nil
	return detail, nil
}

func (d *demo) deleteSnapshot(ctx context.Context) (string, error) {
	_, err := d.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: d.snap.GetSnapshotId(), Secrets: d.secrets})
	if err != nil {
		return "", err
	}
	name := "demo-snap-" + d.orig.name
	d.snap = nil
	return name, nil
}

// fsSize returns the size of the filesystem at path.
func fsSize(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Blocks) * st.Bsize, nil
}

// mountSource returns "DEVICE (FSTYPE)" of the mount at path, from
// /proc/self/mountinfo.
func mountSource(path string) string {
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "?"
	}
	return findMount(string(mounts), path)
}
