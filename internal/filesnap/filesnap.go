// Package filesnap snapshots a file for the tests that must prove that
// code left it as it was (a store that refuses a file, a command that only
// reads one): its existence, bytes, size, mode and modification time.
package filesnap

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"
)

// Snapshot is the state of one file at one moment.
type Snapshot struct {
	path   string
	exists bool
	data   []byte
	size   int64
	mode   fs.FileMode
	mtime  time.Time
}

// Take moves the times of the file at path an hour into the past (whole
// seconds), so that a write within the clock's resolution cannot go
// unseen, and snapshots it. A missing file is snapshot as missing.
func Take(t testing.TB, path string) Snapshot {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		old := time.Now().Add(-time.Hour).Truncate(time.Second)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return read(t, path)
}

// read snapshots the file at path as it is.
func read(t testing.TB, path string) Snapshot {
	t.Helper()
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Snapshot{path: path}
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Snapshot{path, true, b, fi.Size(), fi.Mode(), fi.ModTime()}
}

// Changed snapshots the file again and says how it differs from s, or
// returns "" when it is as it was.
func (s Snapshot) Changed(t testing.TB) string {
	t.Helper()
	now := read(t, s.path)
	switch {
	case s.exists != now.exists:
		return fmt.Sprintf("the file exists=%v before, exists=%v after", s.exists, now.exists)
	case !bytes.Equal(s.data, now.data) || s.size != now.size:
		return fmt.Sprintf("its bytes changed: %d bytes before, %d after", s.size, now.size)
	case s.mode != now.mode || !s.mtime.Equal(now.mtime):
		return fmt.Sprintf("it was touched: mode %v, mtime %v before; %v, %v after", s.mode, s.mtime, now.mode, now.mtime)
	}
	return ""
}
