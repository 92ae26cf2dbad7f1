package outbox

import (
	"time"

	"github.com/heraldhq/herald/sender"
)

// Prepare returns the delivery that Enqueue would store for m to the named
// destination, without storing it: validated, with its id (a new UUIDv7
// when m.ID is empty), Created now and Due after the Schedule's first
// delay. It is for a store that writes deliveries itself, such as
// pgstore.Enqueue inside the caller's database transaction, so that a
// delivery is checked and completed in one place whatever stores it. It
// fails as Enqueue does, with an error wrapping [ErrInvalid].
func (q *Queue) Prepare(destination string, m sender.Message) (Delivery, error) {
	if err := q.init(); err != nil {
		return Delivery{}, err
	}
	d, err := q.delivery(destination, m)
	if err != nil {
		return Delivery{}, err
	}
	ds := []Delivery{d}
	if err := q.fill(ds); err != nil {
		return Delivery{}, err
	}
	return ds[0], nil
}

// fill validates ds and fills their defaults: Created now, Due after the
// Schedule's first delay. It is the one place where a delivery is checked
// before it is stored: stores check only what their format needs.
func (q *Queue) fill(ds []Delivery) error {
	now := time.Now()
	due := now.Add(q.Schedule.first())
	for i := range ds {
		d := &ds[i]
		if err := d.validate(); err != nil {
			return err
		}
		if d.Created.IsZero() {
			d.Created = now
		}
		if d.Due.IsZero() {
			d.Due = due
		}
	}
	return nil
}
