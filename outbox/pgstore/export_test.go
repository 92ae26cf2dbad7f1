package pgstore

import "github.com/heraldhq/herald/outbox"

// Repaired is the number of heads the repair walks of s released (see
// repair.go): none, unless a process of an earlier version, or a fault
// of the statements of order.go, left a line's head held.
func Repaired(s outbox.Store) int64 { return s.(*store).repaired.Load() }

// Channel is the name of the channel s notifies and listens on.
func Channel(s outbox.Store) string { return s.(*store).channel }
