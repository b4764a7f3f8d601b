package controller

import "github.com/seed-6a310834/ceph-csi/shared/journal"

// notEncrypted refuses a source that ceph-csi encrypted (a LUKS image
// whose key is in a KMS, recorded as csi.volume.encryptKMS): a snapshot,
// clone or restore made here would not carry the key, so neither driver
// could open its data. field and id name the source in the request.
func notEncrypted(field, id string, rec *journal.Record) error {
	if kms, ok := rec.EncryptionKMS(); ok {
		return invalidArg(field, "%q is encrypted by ceph-csi (KMS %q): snapshots and clones of encrypted volumes "+
			"are not supported yet", id, kms)
	}
	return nil
}
