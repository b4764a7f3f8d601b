package credentials

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fileKey = "AQBpZ2h0eSBzZWNyZXQga2V5IG9mIHRoZSB0ZXN0AA=="

func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, dir, AdminIDField, "client.admin\n")
	writeTestFile(t, dir, AdminKeyField, fileKey+"\n")
	c, err := FromDir(dir, AdminIDField, AdminKeyField)
	if err != nil || c.ID != "admin" || c.Key != fileKey {
		t.Fatalf("FromDir = %v, %v", c, err)
	}
	if _, err := FromDir(dir, UserIDField, UserKeyField); err == nil || !strings.Contains(err.Error(), UserIDField) {
		t.Fatalf("missing file: %v, want an error naming %s", err, UserIDField)
	}
	writeTestFile(t, dir, AdminKeyField, "secret with spaces")
	if _, err := FromDir(dir, AdminIDField, AdminKeyField); err == nil || strings.Contains(err.Error(), "secret with spaces") {
		t.Fatalf("invalid key: %v, want an error without the value", err)
	}
}

func TestFromKeyring(t *testing.T) {
	dir := t.TempDir()
	path := writeTestFile(t, dir, "keyring", `# a comment
[client.other]
	key = AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==
[client.admin]
	caps mon = "allow *"
	key = `+fileKey+`
`)
	for _, id := range []string{"admin", "client.admin"} {
		c, err := FromKeyring(path, id)
		if err != nil || c.ID != "admin" || c.Key != fileKey {
			t.Fatalf("FromKeyring(%s) = %v, %v", id, c, err)
		}
	}
	if _, err := FromKeyring(path, "nobody"); err == nil || !strings.Contains(err.Error(), "client.nobody") {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := FromKeyring(filepath.Join(dir, "missing"), "admin"); err == nil {
		t.Fatal("missing keyring: no error")
	}
	if _, err := FromKeyring(path, "bad id"); err == nil {
		t.Fatal("invalid ID: no error")
	}
	bad := writeTestFile(t, dir, "bad", "[client.admin]\nkey = not base64!\n")
	if _, err := FromKeyring(bad, "admin"); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Fatalf("invalid key: %v, want an error without the value", err)
	}
}

func TestSecretsFromDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := SecretsFromDir(dir, "adminID", "adminKey"); err == nil {
		t.Fatal("an empty directory gave secrets")
	}
	for k, v := range map[string]string{"adminID": " admin\n", "adminKey": "key\n"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := SecretsFromDir(dir, "adminID", "adminKey", "userID", "userKey")
	if err != nil || len(got) != 2 || got["adminID"] != "admin" || got["adminKey"] != "key" {
		t.Fatalf("SecretsFromDir = %v, %v; want adminID and adminKey only, trimmed", got, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "userID"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := SecretsFromDir(dir, "userID"); err == nil || strings.Contains(err.Error(), "key") {
		t.Fatalf("an unreadable file: err %v, want an error that names no secret", err)
	}
}
