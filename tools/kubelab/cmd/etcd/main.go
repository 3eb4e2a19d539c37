// Command etcd is etcd's own server, built from go.etcd.io/etcd/server/v3 at
// the version this module pins, so the test cluster needs no prebuilt download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
