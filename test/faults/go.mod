module github.com/seed-6a310834/ceph-csi/test/faults

go 1.26.0

require (
	github.com/container-storage-interface/spec v1.13.0
	github.com/seed-6a310834/ceph-csi/shared v0.0.0
	google.golang.org/grpc v1.85.0
)
