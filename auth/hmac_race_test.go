//go:build race

package auth

// hmAllocSlack loosens TestHMACAllocs under the race detector, where
// sync.Pool drops items on purpose and so makes pooled MACs allocate.
const hmAllocSlack = 6
