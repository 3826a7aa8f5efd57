package graph

import (
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// fragmentBomb is the attack of issue 7: each of n fragments spreads the
// next one twice, so the document names 2^n selections in about 40n bytes.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString("query{...F0}")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Query{...F%d ...F%d}", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Query{__typename}", n)
	return b.String()
}

func mustParse(t *testing.T, q string) *ast.QueryDocument {
	t.Helper()
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, MaxTokens)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// Every limit of checkDocument refuses what it should, with its own
// message, and lets through what clients send (GraphiQL's introspection
// query in development included).
func TestCheckDocument(t *testing.T) {
	schema := NewExecutableSchema(Config{Resolvers: &Resolver{}}).Schema()
	repeat := func(n int, format string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, format, i, i+1)
		}
		return b.String()
	}
	for _, c := range []struct {
		name, query string
		dev         bool
		refusal     string // "" when the document passes
	}{
		{"introspection in development", introspection.Query, true, ""},
		{"introspection in production", introspection.Query, false, "introspection is disabled"},
		{"__type in production", `{ a: me { id } b: __type(name: "User") { name } }`, false, "introspection is disabled"},
		{"introspection in a fragment", `{ ...I } fragment I on Query { __schema { queryType { name } } }`, false, "introspection is disabled"},
		{"__typename in production", `{ __typename me { __typename id } }`, false, ""},
		{"a page with fragments", `{ users(first: 50) { nodes { ...Row ...Menu } } } fragment Row on User { id name email role } fragment Menu on User { id viewerCan { remove } }`, false, ""},
		{"fragment bomb", fragmentBomb(26), true, "the document"},
		{"fragment cycle", `{ ...A } fragment A on Query { ...B } fragment B on Query { ...A me { id } }`, true, ""},
		{"too many operations", repeat(MaxOperations+1, "query Q%d { me { id } } # %d\n"), true, "operations"},
		{"too many fragments", "{ me { id } } " + repeat(MaxFragments+1, "fragment F%d on Query { me { id } } # %d\n"), true, "fragments"},
		{"too many variables", "query(" + repeat(MaxVariableDefinitions+1, "$v%d: Int # %d\n") + ") { me { id } }", true, "variables"},
		{"too many directives", "{ me " + strings.Repeat("@skip(if: false) ", MaxDirectives+1) + "{ id } }", true, "directives"},
		{"unknown directives", "{ me " + strings.Repeat("@a ", 2000) + "{ id } }", true, "directives"},
		{"deep inline fragments", "{" + strings.Repeat("...{", MaxNesting) + "me { id }" + strings.Repeat("}", MaxNesting) + "}", true, "nested"},
		{"deep argument", "{ users(filter: " + strings.Repeat("{a: ", MaxNesting+1) + "1" + strings.Repeat("}", MaxNesting+1) + ") { totalCount } }", true, "nested"},
		{"same alias many times", "{" + strings.Repeat(" a: me { id }", 100) + " }", true, "same response fields"},
		{"same leaf many times", "{ me {" + strings.Repeat(" id", 100) + " } }", true, "same response fields"},
		{"unknown fields", "{ me {" + repeat(MaxErrors+1, " n%d # %d\n") + "} }", false, "that do not exist"},
		{"unknown fields in a fragment", "{ users { nodes { ...U } } } fragment U on User {" + repeat(MaxErrors+1, " n%d # %d\n") + "}", false, "that do not exist"},
		{"a few unknown fields", "{ me {" + repeat(MaxErrors, " n%d # %d\n") + "} }", false, ""},
		{"unknown fragments", "{" + repeat(MaxErrors+1, " ...F%d # %d\n") + "}", false, "that do not exist"},
		{"unknown arguments", "{ users(" + repeat(MaxErrors+1, " a%d: %d") + ") { totalCount } }", false, "do not exist"},
		{"unknown directive arguments", "{ me @skip(if: true" + repeat(MaxErrors+1, " a%d: %d") + ") { id } }", false, "do not exist"},
		{"unknown directives in many places", "{" + repeat(MaxErrors+1, " f%d: me @a { id } # %d\n") + "}", false, "do not exist"},
		{"a few unknown arguments", "{ users(" + repeat(MaxErrors, " a%d: %d") + ") { totalCount } }", false, ""},
		{"many spreads of one fragment", "{" + strings.Repeat(" ...F", 100) + "} fragment F on Query { me { id } }", false, "too often"},
		{"a few repeats", "{ me { id id id } a: me { id } a: me { name } }", true, ""},
		{"one fragment in many places", "{" + repeat(MaxExpandedNodes/100+1, "a%d: users { nodes { ...U } } # %d\n") + "} fragment U on User {" + repeat(100, " f%d: id # %d\n") + "}", true, "too large"},
		{"many operations sharing a fragment", repeat(MaxOperations, "query Q%d { ...F } # %d\n") + "fragment F on Query {" + repeat(400, " f%d: me { id } # %d\n") + "}", true, "too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkDocument(schema, mustParse(t, c.query), c.dev)
			switch {
			case c.refusal == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.refusal != "" && (err == nil || !strings.Contains(err.Message, c.refusal)):
				t.Fatalf("got %v, want a refusal about %q", err, c.refusal)
			}
		})
	}
}

// The variables' size is bounded by count and by nesting.
func TestCheckVariables(t *testing.T) {
	wide := map[string]any{}
	for i := 0; i < MaxVariableValues; i++ {
		wide[fmt.Sprint(i)] = "x"
	}
	var deep any = "x"
	for i := 0; i < MaxVariableNesting; i++ {
		deep = []any{deep}
	}
	if err := checkVariables(map[string]any{"input": map[string]any{"email": "a@example.com", "roles": []any{"ADMIN"}}}); err != nil {
		t.Fatalf("small variables refused: %v", err)
	}
	if err := checkVariables(map[string]any{"w": wide}); err == nil {
		t.Fatal("too many values accepted")
	}
	if err := checkVariables(map[string]any{"d": deep}); err == nil {
		t.Fatal("too deep accepted")
	}
}

// shapeOf costs each fragment once: the 2^60 selections of a fragment bomb
// are counted (saturated) at once, and match a walk without fragments on
// small documents.
func TestShapeOfIsLinear(t *testing.T) {
	schema := NewExecutableSchema(Config{Resolvers: &Resolver{}}).Schema()
	shape := func(q string) shapeCounts {
		doc := mustParse(t, q)
		validator.Walk(schema, doc, &validator.Events{}) // links spreads to their fragments
		return shapeOf(doc.Operations[0].SelectionSet, map[string]*shapeCounts{})
	}
	if c := shape(fragmentBomb(60)); c.fields != saturated {
		t.Fatalf("fragment bomb: %+v", c)
	}
	for q, want := range map[string]shapeCounts{
		`{ me { id } roles { role } }`:                                         {2, 2},
		`{ ...F ...F } fragment F on Query { me { invitedBy { id } } }`:        {2, 3},
		`{ ... on Query { a: me { id } } __schema { types { name } } }`:        {2, 2},
		`{ users { nodes { ...U } } } fragment U on User { invitedBy { id } }`: {1, 4},
	} {
		if got := shape(q); got != want {
			t.Errorf("%s: %+v, want %+v", q, got, want)
		}
	}
}
