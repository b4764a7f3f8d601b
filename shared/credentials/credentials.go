// Package credentials turns the secrets of a CSI request into Ceph
// credentials and writes them to private temporary files for the Ceph
// command-line tools and the kernel client.
//
// A Credentials value never prints its key: String, GoString, Format,
// MarshalJSON and zap's MarshalLogObject all redact it, and errors never
// contain any secret value.
package credentials

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Names of the secret fields, as ceph-csi's users already set them.
const (
	// UserIDField and UserKeyField hold RBD credentials (and the CephFS node
	// credentials of static volumes).
	UserIDField  = "userID"
	UserKeyField = "userKey"

	// AdminIDField and AdminKeyField hold the CephFS provisioning
	// credentials.
	AdminIDField  = "adminID"
	AdminKeyField = "adminKey"
)

// clientPrefix is the entity type prefix that Ceph IDs are given without.
const clientPrefix = "client."

// redacted replaces the key wherever a Credentials is printed.
const redacted = "<redacted>"

// Credentials is a Ceph client ID and its key.
type Credentials struct {
	// ID is the client ID without the "client." prefix, e.g. "admin".
	ID string
	// Key is the secret key, base64 encoded.
	Key string
}

// FromSecrets reads the credentials from the idField and keyField entries
// of secrets. A "client." prefix on the ID is removed. Missing, empty or
// malformed entries give a codes.InvalidArgument status error that names the
// field but never contains its value.
func FromSecrets(secrets map[string]string, idField, keyField string) (*Credentials, error) {
	id, err := lookup(secrets, idField)
	if err != nil {
		return nil, err
	}

	key, err := lookup(secrets, keyField)
	if err != nil {
		return nil, err
	}

	id = strings.TrimPrefix(id, clientPrefix)
	if err := validateID(id, idField); err != nil {
		return nil, err
	}

	if err := validateKey(key, keyField); err != nil {
		return nil, err
	}

	return &Credentials{ID: id, Key: key}, nil
}

// ForRBD reads the credentials from the userID and userKey secrets.
func ForRBD(secrets map[string]string) (*Credentials, error) {
	return FromSecrets(secrets, UserIDField, UserKeyField)
}

// ForCephFSAdmin reads the credentials from the adminID and adminKey
// secrets, which CephFS provisioning uses.
func ForCephFSAdmin(secrets map[string]string) (*Credentials, error) {
	return FromSecrets(secrets, AdminIDField, AdminKeyField)
}

func lookup(secrets map[string]string, field string) (string, error) {
	v, ok := secrets[field]

	switch {
	case !ok:
		return "", status.Errorf(codes.InvalidArgument, "missing secret %q", field)
	case v == "":
		return "", status.Errorf(codes.InvalidArgument, "secret %q is empty", field)
	}

	return v, nil
}

// validateID returns an InvalidArgument error naming field if id is not a
// valid client ID.
func validateID(id, field string) error {
	if !validID(id) {
		return status.Errorf(codes.InvalidArgument,
			"secret %q is not a valid Ceph client ID: it is empty or contains whitespace, a control character or one of %q",
			field, idSpecials)
	}

	return nil
}

// validateKey returns an InvalidArgument error naming field, but not
// showing key, if key is not a valid Ceph key.
func validateKey(key, field string) error {
	if !validKey(key) {
		return status.Errorf(codes.InvalidArgument,
			"secret %q is not a valid Ceph key: it must be base64 encoded", field)
	}

	return nil
}

// idSpecials are the characters that could break out of a keyring section
// header or a comma-separated mount option list.
const idSpecials = "[],="

// validID reports whether id is non-empty and free of whitespace, control
// characters and idSpecials.
func validID(id string) bool {
	if id == "" {
		return false
	}

	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(idSpecials, r) {
			return false
		}
	}

	return true
}

// validKey reports whether key is non-empty and only holds base64
// characters, so that it cannot add lines to a keyring or options to a
// mount option list.
func validKey(key string) bool {
	if key == "" {
		return false
	}

	for i := range len(key) {
		if !isBase64(key[i]) {
			return false
		}
	}

	return true
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '+' || c == '/' || c == '='
}

// String returns the credentials with the key redacted.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{ID:%q, Key:%s}", c.ID, redacted)
}

// GoString returns the credentials with the key redacted, for %#v.
func (c Credentials) GoString() string {
	return c.String()
}

// Format implements fmt.Formatter so that every verb and flag prints the
// redacted form; %q quotes it.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = fmt.Fprintf(f, "%q", c.String())

		return
	}

	_, _ = fmt.Fprint(f, c.String())
}

// MarshalJSON encodes the credentials with the key redacted.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}{c.ID, redacted})
}

// MarshalLogObject implements zapcore.ObjectMarshaler, logging the ID and a
// redacted key.
func (c Credentials) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("id", c.ID)
	enc.AddString("key", redacted)

	return nil
}
