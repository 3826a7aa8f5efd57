//go:build race

package graph_test

// cpuScale scales CPU budgets in tests: the race detector makes code
// several times slower (2-20x, says its documentation; about 5x here).
const cpuScale = 5
