package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Bucket names. A pending delivery's record and body are one value keyed by
// destination and due time, so that leasing walks the file in the order
// deliveries fall due and reads each as it goes, and acknowledging deletes
// entries next to one another, whatever the ids; a dead letter's are keyed
// by destination and id. The ids bucket finds a delivery by id.
var (
	bucketMeta    = []byte("meta")    // "format" → formatName
	bucketDue     = []byte("due")     // dest 0x00 due(8) id → record and body, pending only
	bucketDead    = []byte("dead")    // dest 0x00 id → record and body, dead letters only
	bucketIDs     = []byte("ids")     // id → where: 'p' due key, or 'd' dead key
	bucketHistory = []byte("history") // id 0x00 seq(4) → attempt
)

// keyFormat and formatName mark a file as a herald outbox of this layout.
var (
	keyFormat  = []byte("format")
	formatName = []byte("herald-outbox/3")
)

// Where a delivery is, in the ids bucket: the first byte says which bucket,
// the rest is its key there.
const (
	wherePending = 'p'
	whereDead    = 'd'
)

// where returns the ids bucket value of a delivery at key in the due
// bucket (tag wherePending) or the dead bucket (whereDead).
func where(tag byte, key []byte) []byte {
	return append([]byte{tag}, key...)
}

// Ids and destination names contain no control characters (see
// outbox.Delivery.Validate), so 0x00 ends a name in a key and every key of
// one destination sorts before name+0x01.

// dueKey returns the due index key of a pending delivery. The time is
// stored as big-endian unsigned nanoseconds with the sign bit flipped, so
// that keys sort by time.
func dueKey(dest string, due int64, id string) []byte {
	return appendDueKey(make([]byte, 0, len(dest)+1+8+len(id)), dest, due, id)
}

// appendDueKey appends the due index key of a pending delivery to k.
func appendDueKey(k []byte, dest string, due int64, id string) []byte {
	k = append(k, dest...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(due)^(1<<63))
	return append(k, id...)
}

// parseDueKey splits a due index key.
func parseDueKey(k []byte) (dest []byte, due int64, id []byte, err error) {
	i := bytes.IndexByte(k, 0)
	if i <= 0 || len(k) < i+1+8+1 {
		return nil, 0, nil, fmt.Errorf("malformed due index key %q", k)
	}
	due = int64(binary.BigEndian.Uint64(k[i+1:]) ^ (1 << 63))
	return k[:i], due, k[i+9:], nil
}

// destEnd returns the first key after every key of dest in an index keyed
// by dest 0x00 ...
func destEnd(dest []byte) []byte {
	return append(append([]byte(nil), dest...), 1)
}

// deadKey returns the dead letter index key.
func deadKey(dest, id string) []byte {
	return appendDeadKey(make([]byte, 0, len(dest)+1+len(id)), dest, id)
}

// appendDeadKey appends the dead letter index key to k.
func appendDeadKey(k []byte, dest, id string) []byte {
	k = append(k, dest...)
	k = append(k, 0)
	return append(k, id...)
}

// historyKey returns the key of the seq-th attempt of the delivery id.
func historyKey(id string, seq int) []byte {
	k := make([]byte, 0, len(id)+5)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(seq))
}
