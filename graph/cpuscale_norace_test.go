//go:build !race

package graph_test

// cpuScale scales CPU budgets in tests (see cpuscale_race_test.go).
const cpuScale = 1
