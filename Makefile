# Client Portal user-management API.
#   make run        serve on the embedded default (SQLite + in-process sessions)
#   make test       the whole test suite (needs PostgreSQL and Redis: see .ci/run)
#   make test-quick the service and the GraphQL suite on SQLite + in-process
#                   sessions only: a quick local loop that needs nothing installed
#   make generate   regenerate gqlgen code from schema.graphqls
#   make check      vet, gofmt, and that generated code is current

.PHONY: run test test-quick generate check bench
run:
	go run .

test:
	go test -race -count=1 -timeout 20m ./...

test-quick:
	PORTAL_TEST_BACKENDS=embedded go test -count=1 ./internal/access/ ./internal/portal/ ./graph/...

generate:
	go tool gqlgen generate

check:
	go vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	@go tool gqlgen generate && git diff --exit-code -- graph/ || { echo "generated code is stale: run make generate and commit"; exit 1; }

bench:
	go test -run '^$$' -bench . -benchtime 200x ./internal/store/ ./graph/
