package volid

import (
	"errors"
	"fmt"
	"math"
)

const (
	// Version is the only encoding version this package reads and writes.
	Version = 1

	// MaxLen is the maximum length in bytes of an encoded identifier, the
	// limit the CSI specification puts on volume and snapshot IDs.
	MaxLen = 128

	// MaxClusterIDLen is the longest cluster ID that fits in an identifier.
	MaxClusterIDLen = MaxLen - fixedLen

	// fixedLen is the length of everything but the cluster ID:
	// "VVVV-LLLL-" + "-" + 16 hex digits + "-" + 36-byte UUID.
	fixedLen = 10 + 1 + locationDigits + 1 + uuidLen

	versionDigits  = 4
	lengthDigits   = 4
	locationDigits = 16
	uuidLen        = 36
)

// Names of the identifier parts, as reported in [DecodeError.Part].
const (
	PartLength          = "length"
	PartVersion         = "encoding version"
	PartClusterIDLength = "cluster ID length"
	PartClusterID       = "cluster ID"
	PartLocationID      = "location ID"
	PartUUID            = "UUID"
)

// ID is a decoded CSI volume or snapshot identifier.
type ID struct {
	// ClusterID is the cluster ID from the cluster configuration.
	ClusterID string
	// LocationID is the RBD pool ID or the CephFS file system ID.
	LocationID int64
	// UUID names the image or subvolume, in 8-4-4-4-12 hex form.
	UUID string
}

// DecodeError reports why a string is not a valid identifier.
type DecodeError struct {
	// Part names the offending part of the identifier, one of the Part
	// constants.
	Part string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements the error interface.
func (e *DecodeError) Error() string {
	return "invalid volume ID: " + e.Part + ": " + e.Reason
}

// Encode returns the identifier in ceph-csi's format. It fails if the
// cluster ID is empty or too long, the location ID is negative, or the UUID
// is not in 8-4-4-4-12 hex form.
func (id ID) Encode() (string, error) {
	if err := id.validate(); err != nil {
		return "", fmt.Errorf("cannot encode volume ID: %w", err)
	}

	return fmt.Sprintf("%04x-%04x-%s-%016x-%s",
		Version, len(id.ClusterID), id.ClusterID, id.LocationID, id.UUID), nil
}

func (id ID) validate() error {
	switch {
	case id.ClusterID == "":
		return errors.New("cluster ID is empty")
	case len(id.ClusterID) > MaxClusterIDLen:
		return fmt.Errorf("cluster ID is %d bytes long, at most %d fit in a %d-byte ID",
			len(id.ClusterID), MaxClusterIDLen, MaxLen)
	case id.LocationID < 0:
		return fmt.Errorf("location ID %d is negative", id.LocationID)
	case !validUUID(id.UUID):
		return fmt.Errorf("UUID %q is not in 8-4-4-4-12 hex form", id.UUID)
	}

	return nil
}

// Decode parses an identifier in ceph-csi's format. Errors are of type
// *DecodeError.
func Decode(s string) (ID, error) {
	n, err := decodeHeader(s)
	if err != nil {
		return ID{}, err
	}

	id := ID{ClusterID: s[10 : 10+n], UUID: s[fixedLen-uuidLen+n:]}
	if err := dashAt(s, 10+n, PartClusterID); err != nil {
		return ID{}, err
	}

	id.LocationID, err = decodeLocation(s, 11+n)
	if err != nil {
		return ID{}, err
	}

	if !validUUID(id.UUID) {
		return ID{}, &DecodeError{PartUUID,
			fmt.Sprintf("%q is not in 8-4-4-4-12 hex form", id.UUID)}
	}

	return id, nil
}

// decodeHeader checks the version and the cluster ID length fields and the
// total length, and returns the cluster ID length.
func decodeHeader(s string) (int, error) {
	if len(s) > MaxLen {
		return 0, &DecodeError{PartLength,
			fmt.Sprintf("%d bytes exceeds the maximum of %d", len(s), MaxLen)}
	}

	version, err := hexAt(s, 0, versionDigits, PartVersion)
	if err != nil {
		return 0, err
	}

	if version != Version {
		return 0, &DecodeError{PartVersion, "unsupported version " + s[:versionDigits]}
	}

	if err := dashAt(s, versionDigits, PartVersion); err != nil {
		return 0, err
	}

	n, err := decodeClusterIDLength(s)
	if err != nil {
		return 0, err
	}

	return n, checkTotalLength(s, n)
}

func decodeClusterIDLength(s string) (int, error) {
	n, err := hexAt(s, 5, lengthDigits, PartClusterIDLength)
	if err != nil {
		return 0, err
	}

	if err := dashAt(s, 5+lengthDigits, PartClusterIDLength); err != nil {
		return 0, err
	}

	switch {
	case n == 0:
		return 0, &DecodeError{PartClusterIDLength, "cluster ID is empty"}
	case n > MaxClusterIDLen:
		return 0, &DecodeError{PartClusterIDLength,
			fmt.Sprintf("%d exceeds the maximum of %d", n, MaxClusterIDLen)}
	}

	return int(n), nil
}

func checkTotalLength(s string, clusterIDLen int) error {
	want := fixedLen + clusterIDLen

	switch {
	case len(s) < want:
		return &DecodeError{PartLength, fmt.Sprintf(
			"too short: %d bytes, want %d for a %d-byte cluster ID", len(s), want, clusterIDLen)}
	case len(s) > want:
		return &DecodeError{PartLength, fmt.Sprintf(
			"trailing data: %d bytes, want %d for a %d-byte cluster ID", len(s), want, clusterIDLen)}
	}

	return nil
}

// decodeLocation parses the location ID at s[off:] and the dash after it.
func decodeLocation(s string, off int) (int64, error) {
	v, err := hexAt(s, off, locationDigits, PartLocationID)
	if err != nil {
		return 0, err
	}

	if v > math.MaxInt64 {
		return 0, &DecodeError{PartLocationID,
			fmt.Sprintf("%s is out of range", s[off:off+locationDigits])}
	}

	return int64(v), dashAt(s, off+locationDigits, PartLocationID)
}

// hexAt parses the n hex digits at s[off:].
func hexAt(s string, off, n int, part string) (uint64, error) {
	if len(s) < off+n {
		return 0, tooShort(s)
	}

	field := s[off : off+n]

	v, ok := parseHex(field)
	if !ok {
		return 0, &DecodeError{part, fmt.Sprintf("%q is not %d hex digits", field, n)}
	}

	return v, nil
}

// dashAt checks that s[pos] is the dash that ends part.
func dashAt(s string, pos int, part string) error {
	if len(s) <= pos {
		return tooShort(s)
	}

	if s[pos] != '-' {
		return &DecodeError{part,
			fmt.Sprintf("want '-' after it at offset %d, found %q", pos, s[pos])}
	}

	return nil
}

func tooShort(s string) error {
	return &DecodeError{PartLength, fmt.Sprintf("too short: %d bytes", len(s))}
}

// parseHex parses up to 16 hex digits of either case.
func parseHex(s string) (uint64, bool) {
	var v uint64

	for i := range len(s) {
		d, ok := hexDigit(s[i])
		if !ok {
			return 0, false
		}

		v = v<<4 | uint64(d)
	}

	return v, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}

	return 0, false
}

// validUUID reports whether s is 36 bytes of 8-4-4-4-12 hex digits of
// either case.
func validUUID(s string) bool {
	if len(s) != uuidLen {
		return false
	}

	for i := range len(s) {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if _, ok := hexDigit(s[i]); !ok {
				return false
			}
		}
	}

	return true
}
