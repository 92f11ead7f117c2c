// Command buildtools builds the test components under tools/ into the cache
// ahead of the tests, so that their build shows progress once instead of
// counting against the first test package's timeout.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/helmgraph/helmgraph/internal/localcluster"
)

func main() {
	bin, err := localcluster.BuildAPIServer(context.Background(), os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildtools:", err)
		os.Exit(1)
	}
	fmt.Println("kube-apiserver:", bin)
	for _, v := range []string{localcluster.TillerVersion, "v2.16.12"} { // the second for the version-mismatch tests
		bin, err := localcluster.BuildTillerVersion(context.Background(), v, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "buildtools:", err)
			os.Exit(1)
		}
		fmt.Printf("tiller %s: %s\n", v, bin)
	}
}
