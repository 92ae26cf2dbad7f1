//go:build linux

package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
)

// fullDiskEnv makes the test binary the child of TestDiskFull.
const fullDiskEnv = "HERALD_FULLDISK_CHILD"

// fullBatch is the size of each Put of TestDiskFull.
const fullBatch = 8

// TestDiskFull runs a child process that fills its outbox file up to a
// file size limit (RLIMIT_FSIZE: a write past it fails with EFBIG, as on
// a full disk; Go ignores the SIGXFSZ that comes with it), and reads what
// it reports. While the disk is full, a Put that does not fit fails whole
// and the store still leases; settlements may fail too (bbolt writes each
// change to new pages), leaving their leases held and nothing changed, and
// succeed once the limit is lifted, when the same store takes Puts again. Reopened here, the file
// holds every delivery of every Put that succeeded (less those
// acknowledged), none of any Put that failed, and verifies.
func TestDiskFull(t *testing.T) {
	if os.Getenv(fullDiskEnv) != "" {
		if err := fullDiskChild(os.Getenv("OUTBOX_PATH")); err != nil {
			fmt.Println("FAIL", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFull$")
	cmd.Env = append(os.Environ(), fullDiskEnv+"=1", "OUTBOX_PATH="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	put, failed, acked := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var putErr string
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		f := strings.SplitN(sc.Text(), " ", 3)
		switch f[0] {
		case "PUT":
			put[f[1]] = true
		case "PUT-FAILED":
			failed[f[1]] = true
			putErr = f[2]
		case "ACKED":
			acked[f[1]] = true
		}
	}
	if len(failed) == 0 || !strings.Contains(putErr, "too large") {
		t.Fatalf("no Put failed on the full disk, or not for its size (%q):\n%s", putErr, out)
	}
	if len(acked) != 40 {
		t.Fatalf("%d deliveries acknowledged, want 40:\n%s", len(acked), out)
	}

	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	defer s.Close()
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 1 << 20, TTL: time.Minute, Now: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, l := range ls {
		held[l.ID] = true
	}
	for b := range put {
		for j := range fullBatch {
			if id := fmt.Sprintf("%s-%d", b, j); held[id] == acked[id] {
				t.Errorf("%s of a Put that succeeded: held %v, acknowledged %v", id, held[id], acked[id])
			}
		}
	}
	for b := range failed {
		for j := range fullBatch {
			if id := fmt.Sprintf("%s-%d", b, j); held[id] {
				t.Errorf("%s of a Put that failed is held", id)
			}
		}
	}
}

// fullDiskChild is TestDiskFull's child: it fills the outbox at path, caps
// its file size just above what it holds, and reports each step on
// standard output as "PUT b", "PUT-FAILED b error" and "ACKED id".
func fullDiskChild(path string) error {
	ctx := context.Background()
	s, err := boltstore.Open(path, nil)
	if err != nil {
		return err
	}
	body := bytes.Repeat([]byte("x"), 3000)
	put := func(b string) error {
		ds := make([]outbox.Delivery, fullBatch)
		for j := range ds {
			ds[j] = outbox.Delivery{ID: fmt.Sprintf("%s-%d", b, j), Destination: "d", Body: body, Created: time.Now(), Due: time.Now()}
		}
		err := s.Put(ctx, ds...)
		if err != nil {
			fmt.Println("PUT-FAILED", b, strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Println("PUT", b)
		}
		return err
	}
	for i := range 20 {
		if err := put(fmt.Sprint("before", i)); err != nil {
			return err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
		return err
	}
	full := saved
	full.Cur = uint64(fi.Size()) + 64<<10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		return err
	}
	fails := 0
	for i := 0; i < 2000 && fails < 5; i++ {
		if put(fmt.Sprint("full", i)) != nil {
			fails++
		}
	}
	if fails == 0 {
		return errors.New("the file size limit stopped no Put")
	}
	// Full: lease, then retry some with their attempts recorded and
	// acknowledge the others. bbolt writes every change to new pages, so
	// with no free page left these may fail too: the leases stay held
	// and nothing changes, and the same settlements succeed once there is
	// room.
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 60, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) < 60 {
		return fmt.Errorf("lease on a full disk: %d, %v", len(ls), err)
	}
	ss := make([]outbox.Settlement, len(ls))
	for i, l := range ls {
		ss[i] = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
		if i < 20 {
			ss[i].Outcome, ss[i].Due = outbox.Retrying, time.Now().Add(time.Minute)
			ss[i].Attempt = outbox.AttemptRecord{At: time.Now(), Status: 503, Error: strings.Repeat("e", 1000)}
		}
	}
	settle := func() (failed []outbox.Settlement) {
		for i, err := range s.Settle(ctx, ss) {
			switch {
			case err != nil:
				failed = append(failed, ss[i])
			case ss[i].Outcome == outbox.Delivered:
				fmt.Println("ACKED", ss[i].ID)
			}
		}
		return failed
	}
	ss = settle()
	fmt.Println("SETTLE-FAILED-FULL", len(ss))
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
		return err
	}
	if len(ss) > 0 {
		if ss = settle(); len(ss) > 0 {
			return fmt.Errorf("%d settlements failed again once the disk had room: %s first", len(ss), ss[0].ID)
		}
	}
	if err := put("after"); err != nil {
		return fmt.Errorf("Put once the disk had room again: %w", err)
	}
	return s.Close()
}
