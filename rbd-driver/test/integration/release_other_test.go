//go:build !pacific

package integration

// membersAreCopies: later releases may clone the members (rbd_clone4).
const membersAreCopies = false
