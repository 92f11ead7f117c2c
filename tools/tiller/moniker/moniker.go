// Package moniker stands in for github.com/technosophos/moniker, which the
// Go module proxy does not serve: Tiller uses it to name releases installed
// without a name. It offers the same API (New, Namer.NameSep) with word
// lists of its own.
package moniker

import (
	"math/rand/v2"
)

// Namer generates names.
type Namer interface {
	// Name returns an adjective and an animal joined by a space.
	Name() string
	// NameSep returns an adjective and an animal joined by sep.
	NameSep(sep string) string
}

// New returns a Namer that picks words at random.
func New() Namer { return &namer{} }

type namer struct{}

func (n *namer) Name() string { return n.NameSep(" ") }

func (n *namer) NameSep(sep string) string {
	return adjectives[rand.IntN(len(adjectives))] + sep + animals[rand.IntN(len(animals))]
}

var adjectives = []string{
	"amber", "brisk", "calm", "dapper", "eager", "fuzzy", "gentle", "hasty", "icy", "jolly",
	"keen", "lucky", "mellow", "nimble", "olive", "plucky", "quiet", "rusty", "sunny", "tidy",
	"urban", "vivid", "wary", "young", "zesty", "bold", "crisp", "dusty", "early", "fancy",
	"golden", "humble", "jaunty", "kind", "lofty", "misty", "noble", "proud", "rapid", "silent",
}

var animals = []string{
	"otter", "heron", "badger", "lynx", "marmot", "puffin", "gecko", "walrus", "ferret", "ibis",
	"koala", "lemur", "mole", "newt", "ocelot", "panda", "quail", "raven", "seal", "tapir",
	"urchin", "vole", "wombat", "yak", "zebra", "bison", "crane", "dingo", "egret", "finch",
	"gopher", "hare", "impala", "jackal", "kestrel", "llama", "mink", "narwhal", "orca", "pika",
}
