package cephrbdtest

import (
	"encoding/binary"
	"fmt"
)

// encodeString is a Ceph encoded string (32-bit little-endian length, then
// the bytes), librbd's encoding of the directory values and the ID object.
func encodeString(s string) []byte {
	b := make([]byte, 4+len(s))
	binary.LittleEndian.PutUint32(b, uint32(len(s)))
	copy(b[4:], s)
	return b
}

// LeaveHalfMade writes what a create killed inside librbd leaves: the
// directory entry of image name with ID id and, with idObject, the ID object
// rbd_id.<name>; never the header.
func (a *Admin) LeaveHalfMade(pool, ns, name, id string, idObject bool) error {
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return err
	}
	defer io.Destroy()
	io.SetNamespace(ns)
	err = io.SetOmap("rbd_directory", map[string][]byte{"name_" + name: encodeString(id), "id_" + id: encodeString(name)})
	if err != nil {
		return fmt.Errorf("write the directory entry of %s: %w", name, err)
	}
	if !idObject {
		return nil
	}
	if err := io.WriteFull("rbd_id."+name, encodeString(id)); err != nil {
		return fmt.Errorf("write the ID object of %s: %w", name, err)
	}
	return nil
}

// LeaveCutRename writes what a rename killed inside librbd after its first
// write leaves: the new name's ID object rbd_id.<newName> holding id, while
// the directory still names the image by its old name.
func (a *Admin) LeaveCutRename(pool, ns, newName, id string) error {
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return err
	}
	defer io.Destroy()
	io.SetNamespace(ns)
	if err := io.WriteFull("rbd_id."+newName, encodeString(id)); err != nil {
		return fmt.Errorf("write the ID object of %s: %w", newName, err)
	}
	return nil
}
