package controller

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// notEncrypted refuses a source that ceph-csi encrypted (an fscrypt
// subvolume whose key is in a KMS, recorded as csi.volume.encryptKMS): a
// snapshot, clone, restore or shallow volume made here would not carry the
// key, so neither driver could open its data. field and id name the source
// in the request.
func notEncrypted(field, id string, rec *journal.Record) error {
	if kms, ok := rec.EncryptionKMS(); ok {
		return status.Errorf(codes.InvalidArgument, "%s %q: encrypted by ceph-csi (KMS %q): snapshots and clones of "+
			"encrypted volumes are not supported yet", field, id, kms)
	}
	return nil
}
