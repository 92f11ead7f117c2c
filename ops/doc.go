// Package ops runs helmgraph's asynchronous operations on releases (install,
// upgrade, rollback, uninstall, test). A mutation validates its input, asks
// the Manager to Start an operation and returns at once; the Manager runs the
// work in a goroutine it owns, moves the operation through PENDING → RUNNING →
// SUCCEEDED or FAILED, records ordered, timestamped progress messages and a
// structured error, persists every change in a Store and streams it to
// subscribers. At most one operation runs per release: a second one is refused
// with release.ErrConflict instead of interleaving with the first.
package ops
