package mail

import "crypto/tls"

// SetTLSConfig replaces the TLS configuration of s, so that tests can
// trust their own self-signed certificate.
func SetTLSConfig(s *SMTP, c *tls.Config) error { return s.client.SetTLSConfig(c) }

// BackoffCeiling exposes backoffCeiling to tests.
var BackoffCeiling = backoffCeiling
