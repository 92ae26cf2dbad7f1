// Package version holds herald's version, sent by sender in its User-Agent
// header as "herald/<Version>" and printed by "herald version".
package version

// Version is the version of herald.
const Version = "0.1.0"
