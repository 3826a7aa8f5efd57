package graph_test

import (
	"testing"

	"github.com/clientportal/portal/graph/graphtest"
)

// Over GraphQL: createUser refuses a name that hides or reorders text
// (bidi override, zero-width, BOM) as BAD_USER_INPUT on "name", and an
// email typed decomposed and in capitals is stored in NFC, lower case.
func TestNamesAndEmailsOverGraphQL(t *testing.T) {
	t.Parallel()
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		admin, _ := secOrg(t, e, "ann@example.com")
		create := `mutation($e: String!, $n: String!) { createUser(input: {email: $e, name: $n, role: VIEWER}) { user { email name } } }`
		for _, name := range []string{"Bob \u202egnp.exe\u202c Smith", "Bob\u200b", "\u2067Bob", "\ufeffBob"} {
			secWantField(t, secPost(t, e, admin, create, map[string]any{"e": "bob@example.com", "n": name}), "BAD_USER_INPUT", "name")
		}
		var out struct {
			CreateUser struct{ User struct{ Email, Name string } }
		}
		secOK(t, secPost(t, e, admin, create, map[string]any{"e": " JOSE\u0301@Example.com", "n": "Jose\u0301  Smith"}), &out)
		if u := out.CreateUser.User; u.Email != "jos\u00e9@example.com" || u.Name != "Jos\u00e9 Smith" {
			t.Fatalf("stored %+q", u)
		}
	})
}
