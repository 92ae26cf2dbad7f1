package pgstore

import (
	"context"
	"encoding/json"
	"testing"
)

// TestByKeyStatementsNotCompiled: the statements a transaction of the
// store runs after sqlByKey (those that keep lines: a settlement's, a
// keyed Put's and Replay's clearing of heads, a Lease's filling of
// vacancies and its repair walk) are planned without JIT compilation.
// With sequential scans disabled, one that must scan (the vacancies, to
// claim them or find those it claimed) is costed over 10^10, far above
// jit_above_cost, and PostgreSQL compiled it with inlining and
// optimization: over a second a statement, at every Lease that met a
// vacancy, for a statement that reads a row or two.
func TestByKeyStatementsNotCompiled(t *testing.T) {
	ctx := context.Background()
	pool := internalPool(t)
	s, err := Open(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ob := s.(*store)
	for _, st := range []struct {
		name, sql string
		args      []any
	}{
		{"claim", ob.q.claim, nil},
		{"fill", ob.q.fill, nil},
		{"noteLines", ob.q.noteLines, []any{[]string{"id"}, []string{"token"}}},
		{"ackKeyed", ob.q.ackKeyed, []any{"id", "token"}},
		{"deadKeyed", ob.q.deadKeyed, []any{"id", "token", int64(1), int64(1), 500, int64(1), 1, []byte("e"), []byte("gone")}},
		{"passOn", ob.q.passOn, nil},
		{"heads", ob.q.heads, []any{[]string{"d"}, [][]byte{[]byte("K")}}},
		{"repair", ob.q.repair, []any{"", []byte{}, repairLines}},
	} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var jit bool
		var above float64
		var plan []byte
		if _, err = tx.Exec(ctx, ob.q.byKey); err == nil {
			_, err = tx.Exec(ctx, "SELECT set_config("+endedLines+", '[]', true)") // as sqlNoteLines leaves it
		}
		if err == nil {
			err = tx.QueryRow(ctx, "SELECT current_setting('jit')::boolean, current_setting('jit_above_cost')::float8").Scan(&jit, &above)
		}
		if err == nil {
			err = tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+st.sql, st.args...).Scan(&plan)
		}
		_ = tx.Rollback(ctx)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var plans []struct {
			Plan struct {
				Cost float64 `json:"Total Cost"`
			}
		}
		if err := json.Unmarshal(plan, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("%s: EXPLAIN output %s: %v", st.name, plan, err)
		}
		if cost := plans[0].Plan.Cost; jit && above >= 0 && cost >= above {
			t.Errorf("%s, after sqlByKey, costs %g, over jit_above_cost (%g) with jit on: it is compiled", st.name, cost, above)
		}
	}
}
