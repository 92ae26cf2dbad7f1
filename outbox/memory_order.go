package outbox

// Key order in a memory outbox. The pending deliveries that share a
// destination and a partition key form a line: only its head waits among
// the due deliveries, where Lease finds it; the others are held behind it
// in the order they were put, and the next one moves up once the head is
// delivered or dead-lettered. Deliveries without a key never enter a line.

// OrdersByKey reports that the memory store keeps the order of a partition key: it
// leases a delivery with a [Delivery.PartitionKey] only once every earlier
// one of its destination and key is delivered or dead.
func (m *memory) OrdersByKey() bool { return true }

// lineOf names the line of d: its destination and key, which hold no NUL.
func lineOf(d *Delivery) string { return d.Destination + "\x00" + d.PartitionKey }

// enter makes a pending delivery wait: among the due deliveries if it has
// no key or heads its line, at the back of its line otherwise.
func (m *memory) enter(it *memItem) {
	if it.d.PartitionKey == "" {
		m.wait(it)
		return
	}
	k := lineOf(&it.d)
	if _, busy := m.heads[k]; busy {
		m.behind[k] = append(m.behind[k], it)
		return
	}
	m.heads[k] = it
	m.wait(it)
}

// leave ends the turn of it, delivered or dead, at the head of its line,
// and lets the next one of the line wait among the due deliveries.
func (m *memory) leave(it *memItem) {
	if it.d.PartitionKey == "" {
		return
	}
	k := lineOf(&it.d)
	if m.heads[k] != it {
		return
	}
	line := m.behind[k]
	if len(line) == 0 {
		delete(m.heads, k)
		return
	}
	next := line[0]
	line[0] = nil
	if line = line[1:]; len(line) == 0 {
		delete(m.behind, k)
	} else {
		m.behind[k] = line
	}
	m.heads[k] = next
	m.wait(next)
}
