package pgstore_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/leaktest"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// TestStorePrintsNoPassword: the outbox Open returns, over a pool whose
// configuration holds a password, prints it under no fmt verb, slog or
// JSON, alone or in a Queue; and so do Options.
func TestStorePrintsNoPassword(t *testing.T) {
	const password = "pg-passw0rd-7d2e"
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Password = password // the test server trusts its clients, and ignores it
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := open(t, pool, &pgstore.Options{Schema: "public", Prefix: "herald_"})
	forbidden := leaktest.TextForms(password)
	leaktest.CheckAsGiven(t, "store", st, forbidden)
	leaktest.CheckAsGiven(t, "Queue", &outbox.Queue{Outbox: st}, forbidden)
	leaktest.Check(t, "Options", pgstore.Options{Schema: "public"}, forbidden)
}
