// Package interop holds herald's interoperability tests: what herald signs
// must verify with other languages' mainstream libraries (the Standard
// Webhooks and Svix libraries, Octokit for GitHub's format, Stripe's SDK,
// jsonwebtoken and jose for JWT), and what they sign must verify in herald.
//
// The other side runs in Node.js: js/interop.mjs is driven with a JSON batch
// of cases on stdin. The tests install js/node_modules from the committed
// package-lock.json with `npm ci` on first use, so `go test ./...` needs
// node and npm on the PATH and the npm registry reachable once.
package interop
