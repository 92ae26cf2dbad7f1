package interop

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// jsCase is one operation for js/interop.mjs; fields are op-specific.
type jsCase map[string]any

// jsResult is the script's answer to one case.
type jsResult struct {
	OK    bool   `json:"ok"`
	Value string `json:"value"`
	Error string `json:"error"`
}

var installOnce sync.Once
var installErr error

// installJS runs `npm ci` once per test binary when js/node_modules is
// missing, so a fresh clone needs nothing but node and npm.
func installJS(t *testing.T) {
	t.Helper()
	installOnce.Do(func() {
		if _, err := os.Stat(filepath.Join("js", "node_modules", ".package-lock.json")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = "js"
		out, err := cmd.CombinedOutput()
		if err != nil {
			installErr = err
			t.Logf("npm ci output:\n%s", out)
		}
	})
	if installErr != nil {
		t.Fatalf("interop: installing the Node.js libraries with `npm ci` in internal/interop/js failed (node and npm must be on the PATH): %v", installErr)
	}
}

// runJS sends cases to js/interop.mjs and returns one result per case.
func runJS(t *testing.T, cases []jsCase) []jsResult {
	t.Helper()
	installJS(t)
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "interop.mjs")
	cmd.Dir = "js"
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node interop.mjs: %v\n%s", err, stderr.String())
	}
	var res []jsResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node interop.mjs answered %q: %v", out, err)
	}
	if len(res) != len(cases) {
		t.Fatalf("node interop.mjs answered %d results for %d cases", len(res), len(cases))
	}
	return res
}
