package credentials

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FromDir reads the credentials from the files idField and keyField of dir,
// as a Kubernetes Secret mounted as a volume provides them (surrounding
// white space is ignored). Errors name the file, never its contents.
func FromDir(dir, idField, keyField string) (*Credentials, error) {
	secrets := map[string]string{}
	for _, k := range []string{idField, keyField} {
		data, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil {
			return nil, fmt.Errorf("credentials: secret file: %w", err)
		}
		secrets[k] = strings.TrimSpace(string(data))
	}
	return FromSecrets(secrets, idField, keyField)
}

// SecretsFromDir reads a Secret mounted as a volume: each of fields that
// has a file in dir becomes an entry (surrounding white space ignored); a
// field without a file is left out. It fails when none of fields has a
// file or a file cannot be read; errors name files, never their contents.
func SecretsFromDir(dir string, fields ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range fields {
		data, err := os.ReadFile(filepath.Join(dir, k))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("credentials: secret file: %w", err)
		}
		out[k] = strings.TrimSpace(string(data))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("credentials: none of %v in %s", fields, dir)
	}
	return out, nil
}

// FromKeyring reads the key of client.<id> (id given with or without the
// "client." prefix) from a Ceph keyring file. Errors name the file and the
// user, never a key.
func FromKeyring(path, id string) (*Credentials, error) {
	id = strings.TrimPrefix(id, clientPrefix)
	if !validID(id) {
		return nil, fmt.Errorf("credentials: %q is not a valid Ceph client ID", id)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: keyring: %w", err)
	}
	defer f.Close()
	key, err := keyringKey(bufio.NewScanner(f), clientPrefix+id)
	if err != nil {
		return nil, fmt.Errorf("credentials: keyring %s: %w", path, err)
	}
	if !validKey(key) {
		return nil, fmt.Errorf("credentials: keyring %s: the key of %s is not base64 encoded", path, clientPrefix+id)
	}
	return &Credentials{ID: id, Key: key}, nil
}

// keyringKey returns the "key = ..." value of section entity.
func keyringKey(sc *bufio.Scanner, entity string) (string, error) {
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			in = strings.TrimSpace(strings.Trim(line, "[]")) == entity
		case in:
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.TrimSpace(k) == "key" {
				return strings.TrimSpace(v), nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no key for %s", entity)
}
