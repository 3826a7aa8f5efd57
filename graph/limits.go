package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Limits on the shape of a document, checked by documentLimits before
// gqlparser validates it. Each bounds an input whose cost (in the
// validator, the complexity walk or the executor) grows faster than its
// size; together they keep the work on any document within the body and
// token caps to a few milliseconds.
const (
	// MaxOperations is how many operations one document may define.
	MaxOperations = 10
	// MaxFragments is how many fragments one document may define (the
	// validator looks fragments up by a linear scan per spread).
	MaxFragments = 64
	// MaxVariableDefinitions per operation (looked up by a linear scan
	// per use).
	MaxVariableDefinitions = 50
	// MaxDirectives on one field, fragment or operation.
	MaxDirectives = 4
	// MaxNesting is how deep selections may nest, counting fields, inline
	// fragments and fragment spreads alike.
	MaxNesting = 32
	// MaxExpandedNodes bounds the work of validating the document: the
	// selections, directives and argument values of every operation and
	// every fragment definition, with each fragment spread expanded where
	// it is spread (so a fragment spread twice counts twice).
	MaxExpandedNodes = 1_200
	// MaxSamePathPairs bounds the pairs of fields with the same response
	// path, and of fragment spreads in one selection set, which the
	// overlapping-fields rule compares one by one.
	MaxSamePathPairs = 2_000
	// MaxValueChildren bounds the fields of one input object or the
	// elements of one list written in the document.
	MaxValueChildren = 100
	// MaxVariableValues bounds the JSON values in a request's variables.
	MaxVariableValues = 1_000
	// MaxVariableNesting bounds how deep those values nest.
	MaxVariableNesting = 16
)

// documentLimits refuses documents and variables beyond the limits above
// before anything else looks at them: it runs first among the operation
// parameter mutators after the persisted-query lookup, parses the query
// itself (only when it is not in the query cache, which holds documents
// that passed) and walks it once with a budget, stopping at the first
// excess. Nothing it refuses reaches the validator, the complexity walk,
// a session lookup or a resolver.
type documentLimits struct {
	schema *ast.Schema
	cache  graphql.Cache[*ast.QueryDocument]
	// introspection allowed (development).
	introspection bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimits{}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (d documentLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if err := checkVariables(p.Variables); err != nil {
		return err
	}
	if _, ok := d.cache.Get(ctx, p.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, MaxTokens)
	if err != nil {
		gqlErr, ok := err.(*gqlerror.Error)
		if !ok {
			gqlErr = gqlerror.Errorf("the query cannot be parsed")
		}
		errcode.Set(gqlErr, errcode.ParseFailed)
		return gqlErr
	}
	return checkDocument(d.schema, doc, d.introspection)
}

// refusal is a document-shape error: a request error, like validation.
func refusal(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// checkDocument walks doc the way the validator does (every operation,
// then every fragment definition, each spread expanded once per place it
// is spread, a fragment never inside itself) with a budget of
// MaxExpandedNodes, so that its own cost is bounded whatever doc holds.
//
// It also stops at the (MaxErrors+1)th field, argument, directive or
// fragment that does not exist (see missing).
func checkDocument(schema *ast.Schema, doc *ast.QueryDocument, introspection bool) *gqlerror.Error {
	if n := len(doc.Operations); n > MaxOperations {
		return refusal("the document defines %d operations; at most %d are allowed", n, MaxOperations)
	}
	if n := len(doc.Fragments); n > MaxFragments {
		return refusal("the document defines %d fragments; at most %d are allowed", n, MaxFragments)
	}
	w := &docWalk{
		schema:        schema,
		unknown:       MaxErrors,
		fragments:     make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		entered:       make(map[string]bool),
		budget:        MaxExpandedNodes,
		pairs:         MaxSamePathPairs,
		introspection: introspection,
	}
	for _, f := range doc.Fragments {
		if _, dup := w.fragments[f.Name]; !dup { // as the validator: the first wins
			w.fragments[f.Name] = f
		}
	}
	for _, op := range doc.Operations {
		if n := len(op.VariableDefinitions); n > MaxVariableDefinitions {
			return refusal("operation defines %d variables; at most %d are allowed", n, MaxVariableDefinitions)
		}
		w.root()
		for _, v := range op.VariableDefinitions {
			if v.DefaultValue != nil {
				w.value(v.DefaultValue, 0)
			}
			w.directives(v.Directives)
		}
		w.directives(op.Directives)
		root := schema.Query
		switch op.Operation {
		case ast.Mutation:
			root = schema.Mutation
		case ast.Subscription:
			root = schema.Subscription
		}
		w.selections(root, op.SelectionSet, 0, 0)
		if w.err != nil {
			return w.err
		}
	}
	for _, f := range doc.Fragments {
		w.root()
		w.entered[f.Name] = true
		w.directives(f.Directives)
		w.selections(schema.Types[f.TypeCondition], f.SelectionSet, 0, 0)
		delete(w.entered, f.Name)
		if w.err != nil {
			return w.err
		}
	}
	return nil
}

// docWalk is the state of checkDocument. After the first excess, err is
// set and every method returns at once.
type docWalk struct {
	schema    *ast.Schema
	fragments map[string]*ast.FragmentDefinition
	// entered holds the fragments being expanded (a cycle is the
	// validator's to report; the walk just does not follow it).
	entered map[string]bool
	// budget and pairs are what is left of MaxExpandedNodes and
	// MaxSamePathPairs.
	budget, pairs int
	// unknown is how many more fields unknown to their type may follow.
	unknown int
	// paths numbers response paths (parent path, response key) and
	// counts the fields at each, per root.
	paths         map[pathKey]*pathCount
	introspection bool
	err           *gqlerror.Error
}

type pathKey struct {
	parent int
	key    string
}

type pathCount struct{ id, fields int }

func (w *docWalk) root() { w.paths = make(map[pathKey]*pathCount) }

// spend takes n nodes from the budget.
func (w *docWalk) spend(n int) bool {
	if w.err != nil {
		return false
	}
	w.budget -= n
	if w.budget < 0 {
		w.err = refusal("the document is too large once its fragments are expanded: at most %d selections, directives and argument values are allowed", MaxExpandedNodes)
		return false
	}
	return true
}

// selections walks set, whose fields are fields of parent (nil when that
// is unknown: the validator reports it).
func (w *docWalk) selections(parent *ast.Definition, set ast.SelectionSet, path, nesting int) {
	if nesting >= MaxNesting && len(set) > 0 {
		if w.err == nil {
			w.err = refusal("selections are nested more than %d levels deep (fields, fragments and inline fragments)", MaxNesting)
		}
		return
	}
	for _, s := range set {
		if !w.spend(1) {
			return
		}
		switch s := s.(type) {
		case *ast.Field:
			if !w.introspection && (s.Name == "__schema" || s.Name == "__type") {
				w.err = refusal("introspection is disabled")
				return
			}
			var def *ast.FieldDefinition
			if parent != nil {
				def = parent.Fields.ForName(s.Name)
			}
			var defs ast.ArgumentDefinitionList
			if def != nil {
				defs = def.Arguments
			}
			w.arguments(def != nil, defs, s.Arguments)
			w.directives(s.Directives)
			key := s.Alias
			if key == "" {
				key = s.Name
			}
			if !w.pair(path, key) {
				return
			}
			pc := w.paths[pathKey{path, key}]
			var next *ast.Definition
			if def != nil {
				next = w.schema.Types[def.Type.Name()]
			} else if parent != nil && s.Name != "__typename" && !w.missing() {
				return
			}
			w.selections(next, s.SelectionSet, pc.id, nesting+1)
		case *ast.InlineFragment:
			w.directives(s.Directives)
			next := parent
			if s.TypeCondition != "" {
				next = w.schema.Types[s.TypeCondition]
			}
			w.selections(next, s.SelectionSet, path, nesting+1)
		case *ast.FragmentSpread:
			w.directives(s.Directives)
			// The overlap rule also compares every two fragments spread
			// into one selection set.
			if !w.pair(path, "...") {
				return
			}
			f := w.fragments[s.Name]
			if f == nil {
				if !w.missing() {
					return
				}
				continue
			}
			if w.entered[s.Name] {
				continue // a cycle: the validator reports it
			}
			w.entered[s.Name] = true
			w.directives(f.Directives)
			w.selections(w.schema.Types[f.TypeCondition], f.SelectionSet, path, nesting+1)
			delete(w.entered, s.Name)
		}
		if w.err != nil {
			return
		}
	}
}

// pair counts one more selection at response key under path: the overlap
// rule compares it with each earlier one there (a fragment spread, key
// "...", with each earlier spread).
func (w *docWalk) pair(path int, key string) bool {
	pc := w.paths[pathKey{path, key}]
	if pc == nil {
		pc = &pathCount{id: len(w.paths) + 1}
		w.paths[pathKey{path, key}] = pc
	}
	w.pairs -= pc.fields
	pc.fields++
	if w.pairs < 0 {
		w.err = refusal("the document repeats the same response fields or fragment spreads too often: at most %d pairs of them are allowed", MaxSamePathPairs)
		return false
	}
	return true
}

func (w *docWalk) directives(list ast.DirectiveList) {
	if len(list) > MaxDirectives {
		if w.err == nil {
			w.err = refusal("%d directives in one place; at most %d are allowed", len(list), MaxDirectives)
		}
		return
	}
	for _, d := range list {
		if !w.spend(1) {
			return
		}
		def := w.schema.Directives[d.Name]
		if def == nil && !w.missing() {
			return
		}
		w.arguments(def != nil, argumentsOf(def), d.Arguments)
	}
}

func argumentsOf(d *ast.DirectiveDefinition) ast.ArgumentDefinitionList {
	if d == nil {
		return nil
	}
	return d.Arguments
}

// arguments walks the arguments given to a field or directive; when it is
// known, defs are its arguments, and each one it does not have counts as
// a name that does not exist.
func (w *docWalk) arguments(known bool, defs ast.ArgumentDefinitionList, args ast.ArgumentList) {
	for _, a := range args {
		if known && defs.ForName(a.Name) == nil && !w.missing() {
			return
		}
		w.value(a.Value, 0)
		if w.err != nil {
			return
		}
	}
}

// missing counts one name that does not exist (a field, argument,
// directive or fragment): the validator reports each, at a cost of microseconds (more
// with suggestions), while an answer shows MaxErrors errors.
func (w *docWalk) missing() bool {
	if w.err != nil {
		return false
	}
	if w.unknown--; w.unknown < 0 {
		w.err = refusal("the document names more than %d fields, arguments, directives or fragments that do not exist", MaxErrors)
		return false
	}
	return true
}

func (w *docWalk) value(v *ast.Value, nesting int) {
	if v == nil || !w.spend(1) {
		return
	}
	if nesting >= MaxNesting {
		w.err = refusal("an argument value is nested more than %d levels deep", MaxNesting)
		return
	}
	if len(v.Children) > MaxValueChildren {
		w.err = refusal("an argument value has %d fields or elements; at most %d are allowed", len(v.Children), MaxValueChildren)
		return
	}
	for _, c := range v.Children {
		w.value(c.Value, nesting+1)
		if w.err != nil {
			return
		}
	}
}

// checkVariables bounds the request's variables: at most MaxVariableValues
// JSON values nested at most MaxVariableNesting deep.
func checkVariables(vars map[string]any) *gqlerror.Error {
	budget := MaxVariableValues
	var walk func(v any, nesting int) bool
	walk = func(v any, nesting int) bool {
		budget--
		if budget < 0 || nesting > MaxVariableNesting {
			return false
		}
		switch v := v.(type) {
		case map[string]any:
			for _, c := range v {
				if !walk(c, nesting+1) {
					return false
				}
			}
		case []any:
			for _, c := range v {
				if !walk(c, nesting+1) {
					return false
				}
			}
		}
		return true
	}
	for _, v := range vars {
		if !walk(v, 1) {
			return refusal("the variables are too large: at most %d values nested at most %d deep are allowed", MaxVariableValues, MaxVariableNesting)
		}
	}
	return nil
}

// saturated caps shape counts, which can grow exponentially in the
// document's size when fragments are spread many times.
const saturated = 1 << 30

// shapeCounts are the shape measures of a selection set with its
// fragments expanded, computed once per fragment.
type shapeCounts struct{ fields, depth int }

// shapeOf measures set: fields at its top level (through fragments and
// inline fragments) and depth (introspection fields aside). Fragments are
// memoised by name, so the walk is linear in the document; a cycle (which
// validation has refused before this runs) counts as nothing.
func shapeOf(set ast.SelectionSet, memo map[string]*shapeCounts) shapeCounts {
	var c shapeCounts
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			c.fields++
			if len(s.Name) > 1 && s.Name[:2] == "__" {
				continue
			}
			c.depth = max(c.depth, 1+shapeOf(s.SelectionSet, memo).depth)
		case *ast.InlineFragment:
			in := shapeOf(s.SelectionSet, memo)
			c.fields = min(saturated, c.fields+in.fields)
			c.depth = max(c.depth, in.depth)
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			in, ok := memo[s.Name]
			if !ok {
				memo[s.Name] = &shapeCounts{} // a cycle ends here
				v := shapeOf(s.Definition.SelectionSet, memo)
				in = &v
				memo[s.Name] = in
			}
			if in != nil {
				c.fields = min(saturated, c.fields+in.fields)
				c.depth = max(c.depth, in.depth)
			}
		}
	}
	return c
}
