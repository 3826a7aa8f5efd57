package graph_test

import (
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestSchemaOffersContract checks that schema.graphqls offers every type,
// field, argument and enum value of the public contract (a copy in
// testdata, kept equal to ../shared by .ci/run) with the same types.
func TestSchemaOffersContract(t *testing.T) {
	contract := load(t, "testdata/contract.graphqls")
	schema := load(t, "../schema.graphqls")
	for name, want := range contract.Types {
		if want.BuiltIn {
			continue
		}
		got := schema.Types[name]
		if got == nil {
			t.Errorf("type %s is missing", name)
			continue
		}
		if got.Kind != want.Kind {
			t.Errorf("type %s is %s, contract says %s", name, got.Kind, want.Kind)
		}
		for _, ev := range want.EnumValues {
			if got.EnumValues.ForName(ev.Name) == nil {
				t.Errorf("enum value %s.%s is missing", name, ev.Name)
			}
		}
		for _, wf := range want.Fields {
			gf := got.Fields.ForName(wf.Name)
			if gf == nil {
				t.Errorf("field %s.%s is missing", name, wf.Name)
				continue
			}
			if gf.Type.String() != wf.Type.String() {
				t.Errorf("field %s.%s has type %s, contract says %s", name, wf.Name, gf.Type, wf.Type)
			}
			for _, wa := range wf.Arguments {
				ga := gf.Arguments.ForName(wa.Name)
				if ga == nil {
					t.Errorf("argument %s.%s(%s) is missing", name, wf.Name, wa.Name)
				} else if ga.Type.String() != wa.Type.String() {
					t.Errorf("argument %s.%s(%s) has type %s, contract says %s", name, wf.Name, wa.Name, ga.Type, wa.Type)
				}
			}
			for _, ga := range gf.Arguments {
				if wf.Arguments.ForName(ga.Name) == nil && ga.Type.NonNull && ga.DefaultValue == nil {
					t.Errorf("argument %s.%s(%s) is required but not in the contract", name, wf.Name, ga.Name)
				}
			}
		}
	}
}

func load(t *testing.T, path string) *ast.Schema {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, gerr := gqlparser.LoadSchema(&ast.Source{Name: path, Input: string(src)})
	if gerr != nil {
		t.Fatalf("%s: %v", path, gerr)
	}
	return s
}
