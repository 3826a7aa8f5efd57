package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Media types of an answer (GraphQL over HTTP).
const (
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaJSON            = "application/json"
)

// MaxErrors is how many errors one answer lists; the rest are summed up
// in one more error.
const MaxErrors = 20

// RetryAfterSeconds is the Retry-After of a 503 answer.
const RetryAfterSeconds = 2

// httpTransport serves GraphQL over HTTP as the GraphQL-over-HTTP spec
// says: POST with a JSON body or GET with the query string (queries only),
// answered as application/graphql-response+json when the client accepts
// it (then a request that fails to parse or validate is 400) and as
// application/json otherwise (then every well-formed request is 200). A
// body over the cap is 413; a body that is not one JSON request object is
// 400 with a fixed message (a decoder's message may echo a password); an
// unreachable dependency is 503 with Retry-After. The outer handler has
// checked the method and content type.
type httpTransport struct{ deps Dependencies }

var _ graphql.Transport = httpTransport{}

func (httpTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodPost
}

func (t httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media := responseMedia(r)
	start := graphql.Now()
	params, status, msg := readParams(r)
	if status != 0 {
		refuse(w, r, status, msg)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	ctx := r.Context()
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, oc), capErrors(errs))
		t.write(w, media, resp, false)
		return
	}
	if r.Method == http.MethodGet && oc.Operation.Operation != ast.Query {
		w.Header().Set("Allow", "POST")
		refuse(w, r, http.StatusMethodNotAllowed,
			fmt.Sprintf("GET requests may only run queries; send %s operations by POST", oc.Operation.Operation))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	t.write(w, media, responses(ctx), true)
}

// write sends resp. A request that never executed (it failed to parse or
// validate, or was refused by a limit) is 400 for clients that accept
// application/graphql-response+json and 200 for the others (an unknown
// persisted query aside); an answer with SERVICE_UNAVAILABLE is 503 for
// everyone.
func (t httpTransport) write(w http.ResponseWriter, media string, resp *graphql.Response, executed bool) {
	if resp == nil {
		resp = &graphql.Response{}
	}
	resp.Errors = capErrors(resp.Errors)
	status := http.StatusOK
	// An unknown persisted query is 200 for everyone, as Apollo Server
	// answers it: Apollo clients before 3.7.16 stop using persisted
	// queries for good after a 400.
	if !executed && media == mediaGraphQLResponse && !hasCode(resp.Errors, codePersistedQueryNotFound) {
		status = http.StatusBadRequest
	}
	if hasCode(resp.Errors, codeUnavailable) {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
		if t.deps != nil {
			t.deps.Suspect()
		}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		// Only the schema's own types are marshalled; this is a bug.
		panic(fmt.Errorf("marshal response: %w", err))
	}
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func hasCode(errs gqlerror.List, code string) bool {
	for _, e := range errs {
		if c, _ := e.Extensions["code"].(string); c == code {
			return true
		}
	}
	return false
}

// capErrors keeps the first MaxErrors errors and sums up the rest in one
// more, with the code of the first one left out.
func capErrors(errs gqlerror.List) gqlerror.List {
	if len(errs) <= MaxErrors+1 {
		return errs
	}
	summary := &gqlerror.Error{Message: fmt.Sprintf("%d more errors are not shown", len(errs)-MaxErrors)}
	if c, ok := errs[MaxErrors].Extensions["code"]; ok {
		summary.Extensions = map[string]any{"code": c}
	}
	return append(errs[:MaxErrors:MaxErrors], summary)
}

// requestBody is a GraphQL-over-HTTP request.
type requestBody struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// Fixed messages for requests that cannot be read; none repeats what was
// sent.
const (
	msgBadJSON  = `the request body must be one JSON object: {"query": "...", "operationName": "...", "variables": {...}, "extensions": {...}}`
	msgBatch    = "batched requests are not supported: send one operation per request"
	msgBadQuery = "the query string or its variables or extensions cannot be read"
)

// readParams reads the request; on failure it returns the status and the
// fixed message to answer with.
func readParams(r *http.Request) (*graphql.RawParams, int, string) {
	p := &graphql.RawParams{}
	if r.Method == http.MethodGet {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, http.StatusBadRequest, msgBadQuery
		}
		p.Query, p.OperationName = q.Get("query"), q.Get("operationName")
		for k, dst := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
			if v := q.Get(k); v != "" && decodeJSON([]byte(v), dst) != nil {
				return nil, http.StatusBadRequest, msgBadQuery
			}
		}
		return p, 0, ""
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit)
		}
		return nil, http.StatusBadRequest, "the request body could not be read"
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] == '[' {
		return nil, http.StatusBadRequest, msgBatch
	}
	var rb requestBody
	if decodeJSON(body, &rb) != nil {
		return nil, http.StatusBadRequest, msgBadJSON
	}
	p.Query, p.OperationName, p.Variables, p.Extensions = rb.Query, rb.OperationName, rb.Variables, rb.Extensions
	return p, 0, ""
}

// decodeJSON decodes exactly one JSON value into v, numbers as
// json.Number (as gqlgen's own transports do, so that Int stays exact).
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

// responseMedia picks the answer's media type from the Accept header:
// application/graphql-response+json when the client accepts it at least
// as much as application/json, else application/json (also for a missing
// or unsatisfiable Accept header, as the spec allows for legacy clients).
func responseMedia(r *http.Request) string {
	var gql, js float64 = -1, -1
	for _, part := range strings.Split(strings.Join(r.Header.Values("Accept"), ","), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(s, 64); err != nil {
				continue
			}
		}
		switch mt {
		case mediaGraphQLResponse:
			gql = max(gql, q)
		case mediaJSON, "application/*", "*/*":
			js = max(js, q)
		}
	}
	if gql > 0 && gql >= js {
		return mediaGraphQLResponse
	}
	return mediaJSON
}

// refuse answers a request that never reaches GraphQL with one
// BAD_USER_INPUT error.
func refuse(w http.ResponseWriter, r *http.Request, status int, message string) {
	writeError(w, r, status, message, "BAD_USER_INPUT")
}

func writeError(w http.ResponseWriter, r *http.Request, status int, message, code string) {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]any{
		{"message": message, "extensions": map[string]any{"code": code}}}})
	w.Header().Set("Content-Type", responseMedia(r)+"; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
