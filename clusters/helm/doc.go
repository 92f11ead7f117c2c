// Package helm is the clusters.Driver for clusters whose releases Helm 3 or 4
// keeps in Secrets or ConfigMaps. It reads those storage objects with a
// context-aware clientset and decodes the payloads itself instead of going
// through Helm's storage layer, because that layer takes no context: an
// unreachable cluster must fail when the caller's deadline passes, not when a
// TCP timeout does. Helm's action package is kept for what needs its logic
// (rendering, applying, hooks), with one action.Configuration per namespace.
// Nothing of the Helm SDK leaves this package: releases come out as
// release.Summary and release.Release.
package helm
