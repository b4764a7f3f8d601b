//go:build pacific

package integration

// membersAreCopies: Pacific's librbd has no rbd_clone4, so the members of
// a group snapshot are full copies (no parent).
const membersAreCopies = true
