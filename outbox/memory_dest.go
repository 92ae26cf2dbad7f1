package outbox

import "context"

// DestinationStates returns the recorded destination states; see
// [DestinationStore].
func (m *memory) DestinationStates(ctx context.Context) ([]DestinationState, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]DestinationState, 0, len(m.states))
	for _, s := range m.states {
		out = append(out, s)
	}
	return out, nil
}

// SetDestinationState records a destination state; see
// [DestinationStore].
func (m *memory) SetDestinationState(ctx context.Context, s DestinationState) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if s.FailingSince.IsZero() && s.Disabled.IsZero() {
		delete(m.states, s.Destination)
		return nil
	}
	if m.states == nil {
		m.states = make(map[string]DestinationState)
	}
	m.states[s.Destination] = s
	return nil
}
