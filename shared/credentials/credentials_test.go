package credentials

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// testKey is a made-up key in Ceph's format.
const testKey = "AQDNIT5fjrwVIhAAqcZURwQRhK3B5fUopYX5Qw=="

func TestFromSecrets(t *testing.T) {
	tests := []struct {
		name    string
		secrets map[string]string
		want    *Credentials
		wantErr string
	}{
		{"plain ID", map[string]string{"userID": "admin", "userKey": testKey}, &Credentials{"admin", testKey}, ""},
		{"client prefix stripped", map[string]string{"userID": "client.csi-rbd", "userKey": testKey}, &Credentials{"csi-rbd", testKey}, ""},
		{"only first prefix stripped", map[string]string{"userID": "client.client.x", "userKey": testKey}, &Credentials{"client.x", testKey}, ""},
		{"extra fields ignored", map[string]string{"userID": "a", "userKey": testKey, "other": "x"}, &Credentials{"a", testKey}, ""},
		{"nil map", nil, nil, `missing secret "userID"`},
		{"missing ID", map[string]string{"userKey": testKey}, nil, `missing secret "userID"`},
		{"missing key", map[string]string{"userID": "admin"}, nil, `missing secret "userKey"`},
		{"empty ID", map[string]string{"userID": "", "userKey": testKey}, nil, `secret "userID" is empty`},
		{"empty key", map[string]string{"userID": "admin", "userKey": ""}, nil, `secret "userKey" is empty`},
		{"bare prefix", map[string]string{"userID": "client.", "userKey": testKey}, nil, `secret "userID" is not a valid Ceph client ID`},
		{"ID with newline", map[string]string{"userID": "a\n[client.b]", "userKey": testKey}, nil, `secret "userID" is not a valid Ceph client ID`},
		{"ID with comma", map[string]string{"userID": "a,secret=x", "userKey": testKey}, nil, `secret "userID" is not a valid Ceph client ID`},
		{"ID with bracket", map[string]string{"userID": "a]", "userKey": testKey}, nil, `secret "userID" is not a valid Ceph client ID`},
		{"key with newline", map[string]string{"userID": "a", "userKey": testKey + "\n\tcaps mon = \"allow *\""}, nil, `secret "userKey" is not a valid Ceph key`},
		{"key with trailing newline", map[string]string{"userID": "a", "userKey": testKey + "\n"}, nil, `secret "userKey" is not a valid Ceph key`},
		{"key with space", map[string]string{"userID": "a", "userKey": "AQDN IT5f"}, nil, `secret "userKey" is not a valid Ceph key`},
		{"key with comma", map[string]string{"userID": "a", "userKey": "AQDN,name=x"}, nil, `secret "userKey" is not a valid Ceph key`},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromSecrets(tt.secrets, UserIDField, UserKeyField)
			if tt.wantErr == "" {
				if err != nil || *got != *tt.want {
					t.Fatalf("FromSecrets() = %#v, %v; want %#v", got, err, tt.want)
				}

				return
			}

			checkInvalidArgument(t, err, tt.wantErr)

			for field, v := range tt.secrets {
				if field != UserIDField && v != "" && strings.Contains(err.Error(), v) {
					t.Fatalf("error %q contains the value of secret %q", err, field)
				}
			}
		})
	}
}

func checkInvalidArgument(t *testing.T, err error, want string) {
	t.Helper()

	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), want) {
		t.Fatalf("error = %v; want code InvalidArgument, message containing %q", err, want)
	}
}

func TestHelpers(t *testing.T) {
	secrets := map[string]string{
		"userID": "user", "userKey": testKey,
		"adminID": "client.admin", "adminKey": "QUJD",
	}

	tests := []struct {
		name string
		fn   func(map[string]string) (*Credentials, error)
		want Credentials
	}{
		{"ForRBD", ForRBD, Credentials{"user", testKey}},
		{"ForCephFSAdmin", ForCephFSAdmin, Credentials{"admin", "QUJD"}},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fn(secrets)
			if err != nil || *got != tt.want {
				t.Fatalf("%s() = %v, %v; want %v", tt.name, got, err, tt.want)
			}
		})
	}

	_, err := ForCephFSAdmin(map[string]string{"adminID": "admin"})
	checkInvalidArgument(t, err, `missing secret "adminKey"`)
}

type wrapper struct {
	Name  string
	Creds Credentials
	Ptr   *Credentials
}

func TestRedaction(t *testing.T) {
	c := &Credentials{ID: "admin", Key: testKey}

	const want = `Credentials{ID:"admin", Key:<redacted>}`

	if got := c.String(); got != want {
		t.Fatalf("String() = %q; want %q", got, want)
	}

	if got := c.GoString(); got != want {
		t.Fatalf("GoString() = %q; want %q", got, want)
	}

	formats := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10.3v"}
	for _, format := range formats {
		for _, arg := range []any{c, *c, wrapper{"w", *c, c}, []Credentials{*c}, map[string]*Credentials{"c": c}} {
			if out := fmt.Sprintf(format, arg); strings.Contains(out, testKey) {
				t.Errorf("Sprintf(%q, %T) = %q leaks the key", format, arg, out)
			}
		}
	}

	if got := fmt.Sprintf("%v", c); got != want {
		t.Errorf(`Sprintf("%%v") = %q; want %q`, got, want)
	}

	if got := fmt.Sprint(c); got != want {
		t.Errorf("Sprint() = %q; want %q", got, want)
	}
}

func TestJSONRedaction(t *testing.T) {
	c := &Credentials{ID: "admin", Key: testKey}

	out, err := json.Marshal(wrapper{"w", *c, c})
	if err != nil {
		t.Fatal(err)
	}

	if strings.Contains(string(out), testKey) || !strings.Contains(string(out), `"id":"admin"`) {
		t.Fatalf("json.Marshal() = %s; want the ID and no key", out)
	}
}

func TestZapRedaction(t *testing.T) {
	c := &Credentials{ID: "admin", Key: testKey}

	var buf bytes.Buffer

	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	logger := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel))

	logger.Info("creds",
		zap.Object("object", c),
		zap.Any("any", c),
		zap.Any("value", *c),
		zap.Stringer("stringer", c),
		zap.Reflect("reflect", wrapper{"w", *c, c}),
	)

	out := buf.String()
	if strings.Contains(out, testKey) {
		t.Fatalf("zap output leaks the key: %s", out)
	}

	if !strings.Contains(out, `"object":{"id":"admin","key":"<redacted>"}`) {
		t.Fatalf("zap output lacks the redacted object: %s", out)
	}
}
