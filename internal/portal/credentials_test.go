package portal

import (
	"context"
	"github.com/alexedwards/argon2id"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalizeEmail(t *testing.T) {
	good := map[string]string{
		"ann@example.com":        "ann@example.com",
		"  Ann@Example.COM ":     "ann@example.com",
		"a.b+tag@sub.example.io": "a.b+tag@sub.example.io",
	}
	for in, want := range good {
		got, err := normalizeEmail("email", in)
		if err != nil || got != want {
			t.Errorf("normalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "   ", "ann", "ann@", "@example.com", "ann@@example.com", "a@b@example.com",
		"ann@example", "ann@example.", "Ann <ann@example.com>", "ann@example.com\r\nBcc: x@y.z",
		"ann\n@example.com", "ann example@example.com", strings.Repeat("a", 243) + "@example.com",
		strings.Repeat("a", 65) + "@example.com", "ann@exa\x00mple.com"}
	for _, in := range bad {
		if _, err := normalizeEmail("email", in); KindOf(err) != KindInvalid || err.(*Error).Field != "email" {
			t.Errorf("normalizeEmail(%q) = %v, want BAD_USER_INPUT on email", in, err)
		}
	}
	// 254 characters is the limit: one more is refused.
	at254 := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"
	if len(at254) != 254 {
		t.Fatal(len(at254))
	}
	if _, err := normalizeEmail("email", at254); err != nil {
		t.Errorf("254-character email refused: %v", err)
	}
	if _, err := normalizeEmail("email", at254[:64]+"@b"+at254[65:]); err == nil {
		t.Errorf("255-character email accepted")
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ann@example.com", "a@b.c", "x\r\n@y.z", "\"q\"@x.y", "é@é.fr", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := normalizeEmail("email", s)
		if err != nil {
			if KindOf(err) != KindInvalid {
				t.Fatalf("normalizeEmail(%q): %v is not BAD_USER_INPUT", s, err)
			}
			return
		}
		if len(got) > 254 || strings.ContainsAny(got, "\r\n <>") || strings.Count(got, "@") != 1 || got != strings.ToLower(got) || got != norm.NFC.String(got) {
			t.Fatalf("normalizeEmail(%q) accepted %q", s, got)
		}
	})
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"  Ann Example ":                 "Ann Example",
		"Ann \u00a0 Example":             "Ann Example",  // any run of spaces is one space
		"Jos\u0065\u0301 Ex":             "Jos\u00e9 Ex", // NFC
		"\u5c71\u7530\u3000\u592a\u90ce": "\u5c71\u7530 \u592a\u90ce",
		"Zo\u00eb O'Brien-Smith":         "Zo\u00eb O'Brien-Smith",
	} {
		if n, err := normalizeName("name", in); err != nil || n != want {
			t.Errorf("normalizeName(%q) = %q, %v; want %q", in, n, err, want)
		}
	}
	if _, err := normalizeName("name", strings.Repeat("é", MaxNameLen)); err != nil {
		t.Fatalf("100-character name refused: %v", err)
	}
	for _, in := range []string{"", "   ", strings.Repeat("é", MaxNameLen+1), "Ann\r\nBcc: x", "Ann\x00", "\xff\xfe", "A\tB"} {
		if _, err := normalizeName("name", in); KindOf(err) != KindInvalid || err.(*Error).Field != "name" {
			t.Errorf("normalizeName(%q) = %v, want BAD_USER_INPUT on name", in, err)
		}
	}
}

// Every character that hides or reorders text is refused in a name, with
// the field named.
func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	var hidden []rune
	for r := rune(0x202A); r <= 0x202E; r++ { // bidi embeddings and overrides
		hidden = append(hidden, r)
	}
	for r := rune(0x2066); r <= 0x2069; r++ { // bidi isolates
		hidden = append(hidden, r)
	}
	for r := rune(0x200B); r <= 0x200F; r++ { // zero-width space, (non-)joiner, LRM, RLM
		hidden = append(hidden, r)
	}
	hidden = append(hidden, 0xFEFF, 0x2060, 0x2061, 0x2064, 0x00AD, 0x061C, 0x180E, // format (Cf)
		0xE0041, 0xE007F, // tag characters
		0x034F, 0x115F, 0x3164, 0xFFA0, // default-ignorable fillers
		0xFE0F, 0xE0100, // variation selectors
		0x2028, 0x2029, // line and paragraph separators
		0xE000, 0xFFFF, 0x2800, 0x7F, 0x85, 0x1B) // private use, noncharacter, braille blank, controls
	for _, r := range hidden {
		in := "Bob " + string(r) + "gnp.exe Smith"
		if _, err := normalizeName("admin-name", in); KindOf(err) != KindInvalid || err.(*Error).Field != "admin-name" {
			t.Errorf("normalizeName(U+%04X) = %v, want BAD_USER_INPUT on admin-name", r, err)
		}
	}
}

// Emails are trimmed, lower-cased and NFC, so that one address typed two
// ways names one account; invisible characters are refused.
func TestEmailsAreNFC(t *testing.T) {
	composed, decomposed := "jos\u00e9@example.com", "Jose\u0301@Example.com"
	if accountKey(decomposed) != composed || accountKey(" "+composed+"\n") != composed {
		t.Fatalf("accountKey(%q) = %q", decomposed, accountKey(decomposed))
	}
	if got, err := normalizeEmail("email", decomposed); err != nil || got != composed {
		t.Fatalf("normalizeEmail(%q) = %q, %v", decomposed, got, err)
	}
	for _, in := range []string{"ann\u200b@example.com", "ann@exa\u202emple.com", "\ufeffann@example.com"} {
		if _, err := normalizeEmail("email", in); KindOf(err) != KindInvalid {
			t.Errorf("normalizeEmail(%q) = %v, want BAD_USER_INPUT", in, err)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	cases := []struct {
		pw, email string
		ok        bool
	}{
		{strings.Repeat("a", 11), "", false},
		{strings.Repeat("a", 12), "", true},
		{strings.Repeat("é", 12), "", true}, // characters, not bytes
		{strings.Repeat("a", 128), "", true},
		{strings.Repeat("a", 129), "", false},
		{"ann@example.com", "ann@example.com", false},
		{"ANN@Example.com", "ann@example.com", false},
		{"ann@example.com!", "ann@example.com", true},
		{"\xff" + strings.Repeat("a", 12), "", false},
	}
	for _, c := range cases {
		err := checkPassword(c.pw, c.email)
		if (err == nil) != c.ok {
			t.Errorf("checkPassword(%d chars %q..., %q) = %v, want ok=%v", utf8.RuneCountInString(c.pw), c.pw[:min(5, len(c.pw))], c.email, err, c.ok)
		}
		if err != nil && (KindOf(err) != KindInvalid || err.(*Error).Field != "password") {
			t.Errorf("checkPassword error %v is not BAD_USER_INPUT on password", err)
		}
	}
}

func TestHasherUsesDesignParameters(t *testing.T) {
	h := NewHasher(1)
	hash, err := h.Hash(context.Background(), "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not use m=19 MiB, t=2, p=1", hash)
	}
	if ok, _ := h.Check(context.Background(), "correct horse battery", hash); !ok {
		t.Fatal("right password refused")
	}
	if ok, _ := h.Check(context.Background(), "wrong horse battery", hash); ok {
		t.Fatal("wrong password accepted")
	}
	if ok, _ := h.Check(context.Background(), "anything", ""); ok {
		t.Fatal("empty hash accepted a password")
	}
	// The dummy hash burnt for unknown emails costs a real check.
	if !strings.HasPrefix(h.dummy, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("dummy hash %q does not use the design parameters", h.dummy)
	}
	if _, err := argon2id.ComparePasswordAndHash("anything", h.dummy); err != nil {
		t.Fatalf("dummy hash is not a valid argon2id hash: %v", err)
	}
}

// The hasher never runs more hashes at once than it has slots, and a
// caller whose context ends while waiting gives up.
func TestHasherCapsConcurrency(t *testing.T) {
	h := NewHasher(1)
	h.slots <- struct{}{} // occupy the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "correct horse battery"); err == nil {
		t.Fatal("hash ran without a free slot")
	}
	<-h.slots
}

func TestMatchTOTP(t *testing.T) {
	secret := "JBSWY3DPEHPK3PXP"
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	step := now.Unix() / 30
	code := func(s int64) string { c, _ := TOTPCode(secret, time.Unix(s*30, 0)); return c }
	if got := matchTOTP(secret, code(step), now, 0); got != step {
		t.Fatalf("current code: step %d, want %d", got, step)
	}
	if got := matchTOTP(secret, code(step-1), now, 0); got != step-1 {
		t.Fatalf("previous step (skew): %d", got)
	}
	if got := matchTOTP(secret, code(step+1), now, 0); got != step+1 {
		t.Fatalf("next step (skew): %d", got)
	}
	if got := matchTOTP(secret, code(step-2), now, 0); got != 0 {
		t.Fatalf("two steps old accepted: %d", got)
	}
	if got := matchTOTP(secret, code(step), now, step); got != 0 {
		t.Fatalf("replayed step accepted: %d", got)
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", " 12345"} {
		if got := matchTOTP(secret, bad, now, 0); got != 0 {
			t.Fatalf("malformed code %q accepted", bad)
		}
	}
}

func TestCursorRoundTripAndForgery(t *testing.T) {
	v := "ann"
	c := Cursor{Field: OrderName, Desc: true, Value: &v, ID: "01a202ef-70f4-7877-b146-17014f9f8003"}
	got, err := DecodeCursor(EncodeCursor(c))
	if err != nil || got.Field != c.Field || !got.Desc || *got.Value != v || got.ID != c.ID {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "xyz", "!!!!", "eyJ9", strings.Repeat("A", 2000), EncodeCursor(Cursor{Field: OrderName})} {
		if _, err := DecodeCursor(bad); KindOf(err) != KindInvalid {
			t.Errorf("DecodeCursor(%q) = %v, want BAD_USER_INPUT", bad, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(EncodeCursor(Cursor{Field: OrderEmail, ID: "x"}))
	f.Add("eyJmIjoiTkFNRSJ9")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := DecodeCursor(s); err != nil && KindOf(err) != KindInvalid {
			t.Fatalf("DecodeCursor(%q): %v", s, err)
		}
	})
}

func TestTokensAreRandomAndOnlyHashesAreKept(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || len(a) != 43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if h := HashToken(a); len(h) != 32 || string(h) == a {
		t.Fatalf("hash %x", h)
	}
	if SessionKey(a) == SessionKey(b) || len(SessionKey(a)) != 64 {
		t.Fatal("session keys")
	}
	if got := Link("https://p.example.com/", "/accept-invitation", "T"); got != "https://p.example.com/accept-invitation#token=T" {
		t.Fatalf("Link = %q", got)
	}
}

func TestIPv6ClientsAreCountedPerSlash64(t *testing.T) {
	l := Limit{Rate: 1, Burst: 1, Period: time.Minute}
	key := func(ip string) string { return ipKeyOf(WithClientIP(context.Background(), ip), "login", l).key }
	if a, b := key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"); a != b || a != "login:ip:2001:db8:1:2::/64" {
		t.Fatalf("same /64 counted apart: %q %q", a, b)
	}
	if a, b := key("2001:db8:1:2::1"), key("2001:db8:1:3::1"); a == b {
		t.Fatalf("different /64s counted together: %q", a)
	}
	if got := key("203.0.113.7"); got != "login:ip:203.0.113.7" {
		t.Fatalf("IPv4 key = %q", got)
	}
	if got := key(""); got != "" {
		t.Fatalf("no IP gave key %q", got)
	}
}
