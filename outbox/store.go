package outbox

// Store is an outbox as every store of this module returns it
// ([NewMemory], and Open of packages boltstore, natsstore and pgstore):
// what a [Queue] needs ([Outbox]), what people and tools need to inspect
// and repair it ([Admin], served over HTTP by [AdminHandler]), and the
// destination states that keep a disabled destination disabled across
// restarts and a fleet ([DestinationStore]). A Queue needs only the
// Outbox; a store you write yourself may implement just that.
//
// A store may have two more capabilities, which the Queue finds by type
// assertion on the Outbox it is given, so a wrapper that embeds a Store
// hides them unless it passes them on:
//
//   - OrdersByKey() bool, returning true: the store keeps the order of a
//     partition key (see [Delivery.PartitionKey]). NewMemory's store, the
//     bbolt store and the PostgreSQL store do; the NATS store does not. A
//     Queue refuses a destination with Ordered set over a store without it.
//   - Wake() <-chan struct{}: a channel closed when deliveries may have
//     become due through someone else than this Queue (another process, a
//     committed transaction); each call returns the channel of the next
//     such moment. The Queue waits on it between polls, so that it starts
//     at once rather than at the next [Queue.Poll]. The PostgreSQL store
//     has it.
type Store interface {
	Outbox
	Admin
	DestinationStore
}
