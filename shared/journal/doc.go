// Package journal is the omap journal: the idempotency store that maps a CSI
// request name (the PVC's pvc-<uid>) to a reserved UUID and image or
// subvolume name. Its on-cluster layout is ceph-csi's, so records written by
// ceph-csi are readable:
//
//   - directory object csi.volumes.<instance> (csi.snaps.<instance> for
//     snapshots) with omap key csi.volume.<request name> (csi.snap.<name>)
//     whose value is the UUID, or "<16-hex pool id>/<uuid>" when the image
//     lives in another pool than the journal;
//   - per-UUID object csi.volume.<uuid> (csi.snap.<uuid>) with keys
//     csi.volname / csi.snapname, csi.imagename, csi.imageid, csi.source,
//     csi.volume.owner and any further attribute (encryption keys, backing
//     snapshot).
//
// # Crash safety and twins
//
// Reserve derives the UUID from the request name (a SHA-1 name-based UUID in
// a namespace of the journal's own), so the retry of a request whose process
// died, and a twin request racing in another process, both land on the same
// UUID object. The UUID object is created exclusively with every attribute in
// one atomic RADOS operation, then the directory entry is written: a crash in
// between leaves a UUID object that the next Reserve of the same name adopts,
// never an orphan it cannot see. Undo removes the directory entry first and
// the UUID object last, so a retried delete, which knows only the UUID from
// the CSI ID, can always finish. A derived UUID already held by another name
// (only possible with records written by other software) falls back to
// random UUIDs.
//
// # Cost in RADOS round trips
//
//	Lookup (unknown name)  1  read directory entry
//	Lookup (known name)    2  + read UUID object
//	Reserve                2  exclusive create of the UUID object with its
//	                          attributes; directory entry (+1 read and +1
//	                          create per UUID collision)
//	Get                    1  read UUID object
//	SetImageID             1  assert-exists + omap set, one compound op
//	SetAttributes          1  same
//	Undo                   3  read directory entry; remove it; remove the
//	                          UUID object
//
// A CreateVolume thus pays 1 + 2 + 1 = 4 round trips of journal (ceph-csi
// pays more: separate create, name and attribute writes, and a read-back), a
// DeleteVolume 1 + 3 = 4. A caller that creates the image first, under the
// name Planned returns, and passes its ID in Reservation.ImageID pays
// 1 + 2 = 3: the ID goes into the UUID object's exclusive create. The conformance suite in journaltest pins these
// numbers (RoundTrips) and runs over the in-memory store and over real RADOS.
package journal
