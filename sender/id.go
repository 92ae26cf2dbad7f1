package sender

import (
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/google/uuid"
)

// newID returns a new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds,
// then 74 random bits, so that ids sort by creation time. It reads
// crypto/rand directly rather than through uuid.NewV7, which serialises
// every caller on a global lock and allocates twice.
func newID() (string, error) {
	var u uuid.UUID
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(time.Now().UnixMilli()))
	copy(u[:6], ts[2:])
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u.String(), nil
}
