module github.com/mailgrpc/mailgrpc/clients/go

go 1.19

// The versions Debian 12 ships (golang-google-grpc-dev, golang-google-protobuf-dev). On a machine with module
// access, `go mod tidy` fills in go.sum; offline, clients/smoke-test.sh builds in GOPATH mode from /usr/share/gocode.
require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
