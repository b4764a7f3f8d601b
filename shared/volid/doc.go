// Package volid encodes and decodes the CSI volume and snapshot identifiers
// used by ceph-csi, so that volumes created by either driver can be handled by
// the other.
//
// # Format
//
// An identifier is a string of dash-separated fields:
//
//	VVVV-LLLL-<clusterID>-<PPPPPPPPPPPPPPPP>-<uuid>
//
// where
//
//   - VVVV is the encoding version as 4 hex digits. Only version 1 ("0001")
//     exists.
//   - LLLL is the byte length of the cluster ID as 4 hex digits. Because the
//     length is given explicitly, the cluster ID may itself contain dashes.
//   - <clusterID> is the cluster ID from the cluster configuration, verbatim.
//   - PPPPPPPPPPPPPPPP is the location ID (the RBD pool ID, or the CephFS
//     file system ID) as a big-endian 64-bit value in 16 hex digits.
//   - <uuid> is the 36-character UUID (8-4-4-4-12 hex digits) that names the
//     image or subvolume and its journal entries.
//
// For example, cluster "4a9e463a-4853-4237-a5c5-9ae9d25bacda", location 5 and
// UUID "7b50e081-a053-11ec-b2dd-fa163ed7971b" give
//
//	0001-0024-4a9e463a-4853-4237-a5c5-9ae9d25bacda-0000000000000005-7b50e081-a053-11ec-b2dd-fa163ed7971b
//
// The fixed part takes 64 bytes, and the CSI specification limits
// identifiers to 128 bytes, so a cluster ID can be at most 64 bytes long.
//
// # Case
//
// [ID.Encode] writes lowercase hex for the version, length and location
// fields. [Decode] accepts either case in those fields. The UUID is kept
// exactly as given, never case-folded, because it is part of the names of
// RADOS objects: either case is accepted, but it is never changed.
package volid
