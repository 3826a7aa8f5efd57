package mail_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Sink modes: how the test SMTP server answers.
const (
	accept     int32 = iota
	tempFail         // 421 to MAIL FROM
	rejectRcpt       // 550 to RCPT TO
	rejectData       // 554 after DATA
)

// received is one message accepted by the sink.
type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string // the authenticated user, if any
}

// sink is an in-process SMTP server on 127.0.0.1 that records what it
// accepts. It can be stopped (connections refused) and started again on
// the same address, and switched between modes.
type sink struct {
	t    testing.TB
	mode atomic.Int32
	// tls: serve implicit TLS; starttls: offer STARTTLS on a plain port.
	tls, starttls bool
	cert          tls.Certificate
	// user and pass, when set, are required (AUTH PLAIN).
	user, pass string
	// insecureAuth offers AUTH without TLS.
	insecureAuth bool

	addr string
	mu   sync.Mutex
	srv  *smtp.Server
	l    net.Listener
	msgs []received
}

func newSink(t testing.TB, configure ...func(*sink)) *sink {
	s := &sink{t: t}
	for _, c := range configure {
		c(s)
	}
	if s.tls || s.starttls {
		s.cert = selfSigned(t)
	}
	s.addr = "127.0.0.1:0"
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start listens on the sink's address (the same port after a stop).
func (s *sink) start() {
	s.t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the old socket may linger for a moment
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = l.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{sink: s, conn: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = s.insecureAuth
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if s.tls || s.starttls {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.cert}}
	}
	if s.tls {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	s.mu.Lock()
	s.srv, s.l = srv, l
	s.mu.Unlock()
	go srv.Serve(l) //nolint:errcheck // ends when stopped
}

// stop closes the listener and every connection: the server is down.
func (s *sink) stop() {
	s.mu.Lock()
	srv, l := s.srv, s.l
	s.srv, s.l = nil, nil
	s.mu.Unlock()
	if srv != nil {
		l.Close() // Serve may not have registered it with srv yet
		srv.Close()
	}
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// perRecipient counts the accepted messages of each envelope recipient.
func (s *sink) perRecipient() map[string]int {
	n := map[string]int{}
	for _, m := range s.messages() {
		for _, to := range m.To {
			n[to]++
		}
	}
	return n
}

type session struct {
	sink   *sink
	conn   *smtp.Conn
	from   string
	to     []string
	authed string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.sink.user || pass != s.sink.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.sink.user != "" && s.authed == "" {
		return smtp.ErrAuthRequired
	}
	if s.sink.mode.Load() == tempFail {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.sink.mode.Load() == rejectRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.sink.mode.Load() == rejectData {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "message refused"}
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, received{From: s.from, To: s.to, Data: b, TLS: isTLS, User: s.authed})
	s.sink.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// trusting returns a client TLS configuration that trusts the sink.
func (s *sink) trusting() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.cert.Leaf)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// parsed is a received message taken apart.
type parsed struct {
	Header  netmail.Header
	RawHead string // the header section as sent
	Subject string
	Text    string
	HTML    string
}

func parse(t testing.TB, data []byte) parsed {
	t.Helper()
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{Header: m.Header, RawHead: string(head)}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	walk(t, &p, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	return p
}

// walk collects the text and HTML parts of a MIME body.
func walk(t testing.TB, p *parsed, contentType, encoding string, body io.Reader) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("content type %q: %v", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			part, err := r.NextPart() // decodes quoted-printable itself
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			walk(t, p, part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part)
		}
	}
	if strings.EqualFold(encoding, "base64") {
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	switch mt {
	case "text/plain":
		p.Text = string(b)
	case "text/html":
		p.HTML = string(b)
	}
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().UTC().Truncate(time.Microsecond)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
