package graph

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	cases := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"no proxies: the peer, header ignored", "203.0.113.7:5000", "198.51.100.1", nil, "203.0.113.7"},
		{"untrusted peer: header ignored", "203.0.113.7:5000", "198.51.100.1", proxies, "203.0.113.7"},
		{"trusted peer: the client it names", "10.1.2.3:5000", "198.51.100.1", proxies, "198.51.100.1"},
		{"spoofed left part is skipped", "10.1.2.3:5000", "1.1.1.1, 198.51.100.1", proxies, "198.51.100.1"},
		{"chain of trusted proxies", "127.0.0.1:5000", "198.51.100.1, 10.9.9.9", proxies, "198.51.100.1"},
		{"garbage hop is skipped", "10.1.2.3:5000", "198.51.100.1, nonsense", proxies, "198.51.100.1"},
		{"only proxies in the header: the peer", "10.1.2.3:5000", "10.2.2.2", proxies, "10.1.2.3"},
		{"no header: the peer", "10.1.2.3:5000", "", proxies, "10.1.2.3"},
		{"IPv6 client", "10.1.2.3:5000", "2001:db8::1", proxies, "2001:db8::1"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/graphql", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r, c.trusted); got != c.want {
			t.Errorf("%s: clientIP = %q, want %q", c.name, got, c.want)
		}
	}
}
