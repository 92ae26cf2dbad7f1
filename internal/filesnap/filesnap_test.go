package filesnap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChanged: a file left alone is unchanged; a rewrite with the same
// bytes, a change of bytes, of mode, a removal and a creation are each
// reported.
func TestChanged(t *testing.T) {
	dir := t.TempDir()
	write := func(path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		before func(path string)
		change func(path string)
		want   string
	}{
		{"untouched", func(p string) { write(p, "a") }, func(string) {}, ""},
		{"missing, left missing", func(string) {}, func(string) {}, ""},
		{"same bytes written", func(p string) { write(p, "a") }, func(p string) { write(p, "a") }, "touched"},
		{"bytes", func(p string) { write(p, "a") }, func(p string) { write(p, "b") }, "bytes changed"},
		{"mode", func(p string) { write(p, "a") }, func(p string) { os.Chmod(p, 0o644) }, "touched"},
		{"removed", func(p string) { write(p, "a") }, func(p string) { os.Remove(p) }, "exists=true before, exists=false"},
		{"created", func(string) {}, func(p string) { write(p, "a") }, "exists=false before, exists=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			tt.before(path)
			s := Take(t, path)
			tt.change(path)
			got := s.Changed(t)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Changed = %q, want %q", got, tt.want)
			}
		})
	}
}
