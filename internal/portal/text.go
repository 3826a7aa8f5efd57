package portal

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file owns what the service accepts as an email address or a name
// (README "What names and emails may contain").

// accountKey is the form of a typed-in email that names an account (and
// its throttling budgets): trimmed, lower-cased and in Unicode NFC, as
// normalizeEmail stores it, with no validation, so that a lookup answers
// alike for any input. Every email that enters the service (createUser,
// login, requestPasswordReset, create-organization) goes through it.
func accountKey(email string) string {
	return norm.NFC.String(strings.ToLower(strings.TrimSpace(email)))
}

// normalizeEmail validates an email address and returns its accountKey.
func normalizeEmail(field, s string) (string, error) {
	e := accountKey(s)
	switch {
	case e == "":
		return "", Invalid(field, "the email address is required")
	case len(e) > 254:
		return "", Invalid(field, "the email address must have at most 254 characters")
	case !utf8.ValidString(e) || strings.ContainsFunc(e, invisible) || strings.ContainsAny(e, " <>\"(),;:\\[]"):
		return "", Invalid(field, "the email address contains characters that are not allowed")
	case strings.Count(e, "@") != 1:
		return "", Invalid(field, "the email address must have the form name@domain")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", Invalid(field, "the email address must have the form name@domain")
	}
	local, domain, _ := strings.Cut(e, "@")
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", Invalid(field, "the email address must have the form name@domain")
	}
	return e, nil
}

// MaxNameLen bounds a display name, in characters.
const MaxNameLen = 100

// normalizeName checks a display name (a user's or an organisation's) and
// returns it trimmed, in NFC, with every run of spaces (any Unicode space
// separator) made one ASCII space. Characters a reader cannot see, or that
// change how the text around them is shown, are refused as BAD_USER_INPUT
// on field: they would reach the console and the emails raw ("Bob
// <U+202E>gnp.exe" shows as "Bob exe.png").
func normalizeName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", Invalid(field, "the name is not valid UTF-8")
	}
	if i := strings.IndexFunc(s, invisible); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return "", Invalid(field, "the name contains an invisible or control character (U+%04X); type the name again", r)
	}
	n := strings.Join(strings.FieldsFunc(norm.NFC.String(s), func(r rune) bool { return unicode.Is(unicode.Zs, r) }), " ")
	switch {
	case n == "":
		return "", Invalid(field, "the name is required")
	case utf8.RuneCountInString(n) > MaxNameLen:
		return "", Invalid(field, "the name must have at most %d characters", MaxNameLen)
	}
	return n, nil
}

// invisible reports a character that a reader cannot see or that changes
// how the text around it is shown: controls (Cc, which includes tab and
// newline), format characters (Cf: bidi embeddings, overrides and isolates
// U+202A-202E and U+2066-2069, zero-width U+200B-200F, U+2060-2064,
// U+FEFF, tag characters), line and paragraph separators, private-use and
// noncharacters, variation selectors, the other default-ignorable code
// points (Hangul fillers, U+034F...) and the braille blank U+2800.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Zl, unicode.Zp,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point, unicode.Noncharacter_Code_Point) ||
		r == '\u2800'
}
