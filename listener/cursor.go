package listener

import (
	"context"
	"sync"
)

// A CursorStore keeps a [Poller]'s position across restarts.
type CursorStore interface {
	// Load returns the saved cursor, "" if none.
	Load(ctx context.Context) (string, error)
	// Save records cursor; it is called only after the events before it
	// were handled.
	Save(ctx context.Context, cursor string) error
}

// memoryCursor is a [CursorStore] in memory, the default. Its zero value is
// ready to use; it is safe for concurrent use.
type memoryCursor struct {
	mu     sync.Mutex
	cursor string
}

// Load implements CursorStore.
func (m *memoryCursor) Load(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursor, nil
}

// Save implements CursorStore.
func (m *memoryCursor) Save(_ context.Context, cursor string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cursor = cursor
	return nil
}
