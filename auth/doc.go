// Package auth decides who is calling and what they may do: it
// authenticates requests (hashed static bearer tokens, OIDC ID tokens,
// anonymous access when explicitly enabled), authorizes them against rules
// that map subjects and groups to cluster and namespace patterns with a
// level (read, write, admin), and writes the audit log of mutations and
// denied requests. The server and the resolvers consult it; it never talks
// to a cluster itself.
package auth
