package credentials

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const (
	dirMode  = 0o700
	fileMode = 0o600

	keyringName = "keyring"
	secretName  = "secret"
)

// TempFile is a file written into a private temporary directory of its own.
type TempFile struct {
	// Path is the path of the file, in the directory os.TempDir names.
	Path string

	dir string
}

// Remove deletes the file and its directory. Calling it again, or on a nil
// or zero TempFile, does nothing.
func (t *TempFile) Remove() error {
	if t == nil || t.dir == "" {
		return nil
	}

	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("removing credentials directory: %w", err)
	}

	return nil
}

// WriteKeyring writes a Ceph keyring holding the credentials to a new
// private directory (mode 0700, its name starting with prefix) as a file of
// mode 0600. The caller must Remove it when done.
func (c *Credentials) WriteKeyring(prefix string) (*TempFile, error) {
	if err := c.check(); err != nil {
		return nil, err
	}

	content := fmt.Sprintf("[%s%s]\n\tkey = %s\n", clientPrefix, c.ID, c.Key)

	return writePrivate(prefix, keyringName, content)
}

// WriteSecretFile writes the bare key, without a newline, to a new private
// directory (mode 0700, its name starting with prefix) as a file of mode
// 0600, for the secretfile= option of the CephFS kernel client. The caller
// must Remove it when done.
func (c *Credentials) WriteSecretFile(prefix string) (*TempFile, error) {
	if err := c.check(); err != nil {
		return nil, err
	}

	return writePrivate(prefix, secretName, c.Key)
}

// check refuses credentials, e.g. built by hand, whose ID or key could
// inject lines into a keyring.
func (c *Credentials) check() error {
	switch {
	case !validID(c.ID):
		return errors.New("refusing to write credentials: invalid client ID")
	case !validKey(c.Key):
		return errors.New("refusing to write credentials: invalid key")
	}

	return nil
}

// writePrivate writes content to dir/name in a new private directory.
func writePrivate(prefix, name, content string) (*TempFile, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, fmt.Errorf("creating credentials directory: %w", err)
	}

	tf := &TempFile{Path: filepath.Join(dir, name), dir: dir}

	if err := writeFile(dir, tf.Path, content); err != nil {
		_ = tf.Remove()

		return nil, err
	}

	return tf, nil
}

// writeFile sets dir's mode, whatever the umask, and creates path in it.
// Errors name the path, never the content.
func writeFile(dir, path, content string) error {
	if err := os.Chmod(dir, dirMode); err != nil {
		return fmt.Errorf("securing credentials directory: %w", err)
	}

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return fmt.Errorf("creating credentials file: %w", err)
	}

	if err := f.Chmod(fileMode); err != nil {
		_ = f.Close()

		return fmt.Errorf("securing credentials file: %w", err)
	}

	if _, err := f.WriteString(content); err != nil {
		_ = f.Close()

		return fmt.Errorf("writing credentials file %s: %w", path, err)
	}

	if err := f.Close(); err != nil {
		return fmt.Errorf("writing credentials file %s: %w", path, err)
	}

	return nil
}
