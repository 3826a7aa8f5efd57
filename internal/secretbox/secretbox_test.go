package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user-1"))
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := b.Open(sealed, []byte("user-1"))
	if err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(sealed, []byte("user-2")); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with other context: %v, want ErrOpen", err)
	}
	other, _ := New(NewKey())
	if _, err := other.Open(sealed, []byte("user-1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open with other key: %v, want ErrOpen", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed, []byte("user-1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open tampered: %v, want ErrOpen", err)
	}
	if _, err := b.Open([]byte("short"), nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open short: %v, want ErrOpen", err)
	}
}

func TestParseKey(t *testing.T) {
	if _, err := ParseKey("c2hvcnQ="); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := ParseKey("not base64!"); err == nil {
		t.Fatal("garbage accepted")
	}
	if k, err := ParseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="); err != nil || k[31] != 31 {
		t.Fatalf("ParseKey = %v, %v", k, err)
	}
}

// Derived keys are stable per key and purpose, differ across purposes and
// keys, and are not the key itself.
func TestDeriveKey(t *testing.T) {
	key := NewKey()
	a, _ := New(key)
	b, _ := New(key)
	other, _ := New(NewKey())
	k := a.DeriveKey("device token")
	switch {
	case len(k) != KeySize:
		t.Fatalf("length %d", len(k))
	case !bytes.Equal(k, b.DeriveKey("device token")):
		t.Fatal("not stable for one key and purpose")
	case bytes.Equal(k, a.DeriveKey("something else")):
		t.Fatal("two purposes share a key")
	case bytes.Equal(k, other.DeriveKey("device token")):
		t.Fatal("two keys derive the same key")
	case bytes.Equal(k, key):
		t.Fatal("the derived key is the key")
	}
}
