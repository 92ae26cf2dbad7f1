package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPostgresDefaultFilesBounded: the files the PostgreSQL driver reads
// when nothing names them (~/.pgpass, ~/.postgresql/root.crt,
// postgresql.crt and postgresql.key) are checked as named ones are, when
// the driver would read them: a FIFO or /dev/zero there is refused,
// naming the file, where it hung herald or filled its memory. One the
// driver would not read for the connection (a password in the URL, an
// sslrootcert=system, sslmode=disable for the client certificate) is
// left alone.
func TestPostgresDefaultFilesBounded(t *testing.T) {
	const base = "postgres://relay@127.0.0.1:1/outbox"
	clean := []string{"PGPASSFILE=", "PGPASSWORD=", "PGSERVICE=", "PGSERVICEFILE=", "PGSSLROOTCERT=", "PGSSLCERT=",
		"PGSSLKEY=", "PGSSLMODE="}
	for _, c := range []struct {
		name, store, want string
		files             map[string]string // in HOME: "fifo", or a symlink's target
	}{
		{"pgpass FIFO", base + "?sslmode=disable", ".pgpass", map[string]string{".pgpass": "fifo"}},
		{"pgpass zero", base + "?sslmode=disable", ".pgpass", map[string]string{".pgpass": "/dev/zero"}},
		{"root.crt zero", base, "root.crt", map[string]string{".postgresql/root.crt": "/dev/zero"}},
		{"root.crt FIFO", base + "?sslmode=disable", "root.crt", map[string]string{".postgresql/root.crt": "fifo"}},
		{"postgresql.key zero", base, "postgresql.key", map[string]string{
			".postgresql/postgresql.crt": "cert", ".postgresql/postgresql.key": "/dev/zero"}},
		{"postgresql.key FIFO", base, "postgresql.key", map[string]string{
			".postgresql/postgresql.crt": "cert", ".postgresql/postgresql.key": "fifo"}},
		// What the driver does not read is not refused: herald connects.
		{"pgpass, password given", "postgres://relay:pw@127.0.0.1:1/outbox?sslmode=disable", "", map[string]string{".pgpass": "fifo"}},
		{"root.crt, system roots", base + "?sslrootcert=system", "", map[string]string{".postgresql/root.crt": "/dev/zero"}},
		{"client key, sslmode=disable", base + "?sslmode=disable", "", map[string]string{
			".postgresql/postgresql.crt": "cert", ".postgresql/postgresql.key": "/dev/zero"}},
		{"service file, no service", base + "?sslmode=disable", "", map[string]string{".pg_service.conf": "/dev/zero"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			for name, what := range c.files {
				path := filepath.Join(home, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				var err error
				switch what {
				case "fifo":
					err = syscall.Mkfifo(path, 0o600)
				case "cert":
					err = os.WriteFile(path, []byte("not a certificate"), 0o600)
				default:
					err = os.Symlink(what, path)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			env := append([]string{"HOME=" + home}, clean...)
			code, stderr := runLimited(t, home, env, "outbox", "stats", "--store", c.store)
			if c.want == "" {
				if code != 1 || !strings.Contains(stderr, "connect") {
					t.Fatalf("exit %d, want 1 and a failed connection\n%.300s", code, stderr)
				}
				return
			}
			if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "fatal error") {
				t.Fatalf("exit %d, want 2 and an error naming %s\n%.300s", code, c.want, stderr)
			}
		})
	}
}
