package graph_test

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/clientportal/portal/graph/graphtest"
)

// TestEnrollmentQRCode: the enrolment carries a QR code of exactly its
// otpauth URL as a data:image/png URL, so a frontend needs no QR library.
func TestEnrollmentQRCode(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	e.CreateOrganization("Acme", "ann@example.com")
	tok := e.SignIn("ann@example.com", graphtest.Password)
	e.Invite(tok, "bob@example.com", "Bob", "VIEWER")
	e.Accept("bob@example.com")
	var out struct {
		Login struct {
			Step       string
			Enrollment struct{ Secret, OtpauthURL, QRCode string }
		}
	}
	e.MustPost("", `mutation { login(input: {email: "bob@example.com", password: "`+graphtest.Password+`"}) { step enrollment { secret otpauthUrl qrCode } } }`, nil, &out)
	en := out.Login.Enrollment
	if out.Login.Step != "TWO_FACTOR_ENROLLMENT_REQUIRED" || !strings.Contains(en.OtpauthURL, en.Secret) {
		t.Fatalf("login = %+v", out.Login)
	}
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(en.QRCode, prefix) {
		t.Fatalf("qrCode = %.40q, want a %s URL", en.QRCode, prefix)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(en.QRCode, prefix))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("qrCode is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 200 || b.Dx() != b.Dy() {
		t.Fatalf("QR image is %v, want a square of at least 200 px", b)
	}
	want, err := qrcode.Encode(en.OtpauthURL, qrcode.Medium, 256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, want) {
		t.Fatal("the QR code does not encode the enrolment's otpauthUrl")
	}
}

// TestRolesSayWhoReadsTheAuditLog: a frontend can tell from the role
// definitions whether to offer the audit log.
func TestRolesSayWhoReadsTheAuditLog(t *testing.T) {
	t.Parallel()
	e := graphtest.New(t, graphtest.SQLiteMemory)
	tok, _ := e.CreateOrganization("Acme", "ann@example.com")
	var out struct {
		Roles []struct {
			Role            string
			CanReadAuditLog bool
		}
	}
	e.MustPost(tok, `{ roles { role canReadAuditLog } }`, nil, &out)
	want := map[string]bool{"SUPER_ADMIN": true, "ADMIN": true, "CREATOR": false, "VIEWER": false, "ECOMMERCE_VIEWER": false}
	if len(out.Roles) != len(want) {
		t.Fatalf("roles = %+v", out.Roles)
	}
	for _, r := range out.Roles {
		if got, ok := want[r.Role]; !ok || got != r.CanReadAuditLog {
			t.Errorf("%s: canReadAuditLog = %v, want %v", r.Role, r.CanReadAuditLog, got)
		}
	}
}
