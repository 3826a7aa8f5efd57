// Package browsertest drives Debian's chromium from tests through chromedp
// and reads pages as a person does: by role, label and visible text, never
// by CSS class. One browser process serves a whole test binary (call
// Shutdown from TestMain); each Page is a tab in its own incognito browser
// context, so tests never share cookies.
//
// The browser reaches nothing but loopback: every other host name fails to
// resolve, so a page that needs the internet shows it.
//
// Without chromium the tests skip, unless CI is set: then they fail.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Wait bounds every wait for something to appear.
var Wait = 15 * time.Second

var shared struct {
	once    sync.Once
	err     error
	alloc   context.Context
	browser context.Context
	cancel  []context.CancelFunc
	dir     string
}

// ChromiumPath is the browser to use: $PORTAL_TEST_CHROMIUM, or the first
// of chromium and its usual names found on PATH; "" when there is none.
func ChromiumPath() string {
	if p := os.Getenv("PORTAL_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func start() {
	path := ChromiumPath()
	if path == "" {
		shared.err = errNoChromium
		return
	}
	dir, err := os.MkdirTemp("", "portal-chromium-")
	if err != nil {
		shared.err = err
		return
	}
	shared.dir = dir
	// The profile allows third-party cookies, as browsers did by default
	// (private contexts, which New uses, still block them).
	if err := os.MkdirAll(dir+"/Default", 0o700); err == nil {
		_ = os.WriteFile(dir+"/Default/Preferences", []byte(`{"profile":{"cookie_controls_mode":0,"block_third_party_cookies":false}}`), 0o600)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		// Offline but for loopback: nothing may load from the internet.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	shared.alloc, shared.browser = alloc, browser
	shared.cancel = []context.CancelFunc{cancelBrowser, cancelAlloc}
	// Started with the browser's own context: cancelling the context of
	// the first action closes the browser.
	shared.err = chromedp.Do(browser)
}

var errNoChromium = fmt.Errorf("chromium is not installed")

// Shutdown ends the shared browser; call it from TestMain after m.Run.
func Shutdown() {
	for _, c := range shared.cancel {
		c()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

// Page is one tab.
type Page struct {
	T   testing.TB
	Ctx context.Context

	mu       sync.Mutex
	problems []string
	expected []string
	requests []string
}

// New opens a tab in a fresh incognito context of the shared browser. It
// skips the test when chromium is absent and CI is not set. Script errors,
// console errors and Content-Security-Policy violations fail the test.
func New(t testing.TB) *Page {
	t.Helper()
	return open(t, true)
}

// NewInProfile is New in the browser's own profile, not a private
// context: its cookies are shared with the other tabs of the profile, and
// third-party cookies are allowed there, as in a default browser window.
func NewInProfile(t testing.TB) *Page {
	t.Helper()
	return open(t, false)
}

// NewTab opens another tab in p's browser context: it shares p's cookies
// and storage, as a second tab of one window does.
func (p *Page) NewTab() *Page {
	p.T.Helper()
	return attach(p.T, p.Ctx, nil)
}

func open(t testing.TB, private bool) *Page {
	t.Helper()
	shared.once.Do(start)
	if shared.err == errNoChromium {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed, and CI requires the browser tests: apt-get install chromium")
		}
		t.Skip("browser test skipped: chromium is not installed (apt-get install chromium; CI=true makes this a failure)")
	}
	if shared.err != nil {
		t.Fatalf("starting chromium: %v", shared.err)
	}
	var opts []chromedp.ContextOption
	if private {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	return attach(t, shared.browser, opts)
}

// attach opens a tab as a child of parent and watches it.
func attach(t testing.TB, parent context.Context, opts []chromedp.ContextOption) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	p := &Page{T: t, Ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	})); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m, err := range messages {
			if err != nil {
				return
			}
			// Network failures (an HTTP error status) are the page's
			// business; "security" entries are CSP violations.
			switch {
			case m.IsException():
				p.problem("script error: " + m.Text)
			case m.Type == chromedp.ConsoleError && m.Source != "network":
				p.problem(fmt.Sprintf("console error (%s): %s", m.Source, m.Text))
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range requests {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.requests = append(p.requests, ev.Request.Method+" "+ev.Request.URL)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, s := range p.problems {
			if !slices.ContainsFunc(p.expected, func(e string) bool { return strings.Contains(s, e) }) {
				t.Errorf("browser: %s", s)
			}
		}
	})
	return p
}

func (p *Page) problem(s string) {
	p.mu.Lock()
	p.problems = append(p.problems, s)
	p.mu.Unlock()
}

// SlowNetwork makes every request of the tab take at least latency.
func (p *Page) SlowNetwork(latency time.Duration) {
	p.T.Helper()
	p.run("slow network", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Latency: float64(latency.Milliseconds()), DownloadThroughput: -1, UploadThroughput: -1}}})
		return err
	}))
}

// Expect makes problems (script errors, console errors, CSP violations)
// that contain substr expected: they no longer fail the test.
func (p *Page) Expect(substr string) {
	p.mu.Lock()
	p.expected = append(p.expected, substr)
	p.mu.Unlock()
}

// Problems returns the problems seen so far, expected or not.
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// Requests returns every request the page has sent so far ("METHOD URL").
func (p *Page) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

func (p *Page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, Wait)
	defer cancel()
	if os.Getenv("BT_TRACE") != "" {
		start := time.Now()
		defer func() { p.T.Logf("%v %s", time.Since(start), what) }()
	}
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.T.Fatalf("%s: %v\n%s", what, err, p.visibleText())
	}
}

// get runs one action that returns a value.
func get[T any](p *Page, what string, a chromedp.Action[T]) T {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, Wait)
	defer cancel()
	if os.Getenv("BT_TRACE") != "" {
		start := time.Now()
		defer func() { p.T.Logf("%v %s", time.Since(start), what) }()
	}
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.T.Fatalf("%s: %v\n%s", what, err, p.visibleText())
	}
	return v
}

// visibleText is the page's text, for failure messages.
func (p *Page) visibleText() string {
	ctx, cancel := context.WithTimeout(p.Ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(page text unavailable: " + err.Error() + ")"
	}
	return "page text:\n" + s
}

// Go opens url and waits for the document.
func (p *Page) Go(url string) {
	p.T.Helper()
	p.run("open "+url, chromedp.Navigate(url))
}

// Click waits for the element at xpath to be visible and clicks it.
func (p *Page) Click(xpath string) {
	p.T.Helper()
	p.run("click "+xpath, chromedp.WaitVisible(xpath), chromedp.Click(xpath))
}

// Fill types text into the field labelled label, after emptying it as a
// person would (select all, delete), so the page sees input events.
func (p *Page) Fill(label, text string) {
	p.T.Helper()
	x := Field(label)
	p.run("wait for "+label, chromedp.WaitVisible(x))
	js := fmt.Sprintf(`(() => {
		const el = document.evaluate(%s, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		el.focus(); el.select();
		document.execCommand('delete');
		return el.value;
	})()`, jsString(x))
	if v := get(p, "empty "+label, chromedp.Evaluate[string](js)); v != "" {
		p.T.Fatalf("could not empty %q: %q left", label, v)
	}
	// Input.insertText enters the text as a paste or an input method does:
	// the page sees the input events, at a fraction of a key event's cost.
	p.run("fill "+label, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// Select chooses the option with visible text option in the select labelled label.
func (p *Page) Select(label, option string) {
	p.T.Helper()
	x := Field(label)
	p.run("wait for "+label, chromedp.WaitVisible(x))
	js := fmt.Sprintf(`(() => {
		const el = document.evaluate(%s, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		const o = el && [...el.options].find((o) => o.text.trim() === %s);
		if (!o) return false;
		el.value = o.value;
		el.dispatchEvent(new Event('change', { bubbles: true }));
		return true;
	})()`, jsString(x), jsString(option))
	if !get(p, "select "+option, chromedp.Evaluate[bool](js)) {
		p.T.Fatalf("no option %q in %q", option, label)
	}
}

// See waits until the element at xpath is visible.
func (p *Page) See(xpath string) {
	p.T.Helper()
	p.run("see "+xpath, chromedp.WaitVisible(xpath))
}

// SeeText waits until an element whose own text contains s is visible.
func (p *Page) SeeText(s string) {
	p.T.Helper()
	p.See(Text(s))
}

// Gone waits until nothing at xpath is visible (or present).
func (p *Page) Gone(xpath string) {
	p.T.Helper()
	deadline := time.Now().Add(Wait)
	for {
		if p.Count(xpath) == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("still visible: %s\n%s", xpath, p.visibleText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Count is how many elements at xpath are visible now.
func (p *Page) Count(xpath string) int {
	p.T.Helper()
	js := fmt.Sprintf(`(() => { const r = document.evaluate(%s, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
		let n = 0; for (let i = 0; i < r.snapshotLength; i++) { const e = r.snapshotItem(i); if (e.checkVisibility ? e.checkVisibility() : e.offsetParent !== null) n++; } return n; })()`, jsString(xpath))
	return get(p, "count "+xpath, chromedp.Evaluate[int](js))
}

// Texts returns the trimmed visible text of every visible element at xpath.
func (p *Page) Texts(xpath string) []string {
	p.T.Helper()
	js := fmt.Sprintf(`(() => { const r = document.evaluate(%s, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
		const out = []; for (let i = 0; i < r.snapshotLength; i++) { const e = r.snapshotItem(i); if (e.checkVisibility()) out.push(e.innerText.trim()); } return out; })()`, jsString(xpath))
	return get(p, "texts "+xpath, chromedp.Evaluate[[]string](js))
}

// Options returns the texts of the options of the select labelled label.
func (p *Page) Options(label string) []string {
	p.T.Helper()
	x := Field(label)
	p.run("wait for "+label, chromedp.WaitVisible(x))
	js := fmt.Sprintf(`[...document.evaluate(%s, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue.options].map((o) => o.text.trim())`, jsString(x))
	return get(p, "options of "+label, chromedp.Evaluate[[]string](js))
}

// TextOf returns the visible text of the first element at xpath.
func (p *Page) TextOf(xpath string) string {
	p.T.Helper()
	p.run("wait for "+xpath, chromedp.WaitVisible(xpath))
	return strings.TrimSpace(get(p, "text of "+xpath, chromedp.Text(xpath)))
}

// Attr returns an attribute of the first element at xpath.
func (p *Page) Attr(xpath, name string) string {
	p.T.Helper()
	p.run("wait for "+xpath, chromedp.WaitReady(xpath))
	return get(p, "attribute "+name+" of "+xpath, chromedp.AttributeValue(xpath, name)).Value
}

// Key sends one key (for example kb.Escape) to the focused element.
func (p *Page) Key(key string) {
	p.T.Helper()
	p.run("key", chromedp.KeyEvent(key))
}

// Focused describes the focused element: its role or tag and its text or label.
func (p *Page) Focused() string {
	p.T.Helper()
	return get(p, "focused", chromedp.Evaluate[string](`(() => { const e = document.activeElement; if (!e) return '';
		return (e.getAttribute('role') || e.tagName.toLowerCase()) + ' ' + (e.getAttribute('aria-label') || e.innerText || '').trim(); })()`))
}

// Screenshot returns a PNG of the whole page.
func (p *Page) Screenshot() []byte {
	p.T.Helper()
	return get(p, "screenshot", chromedp.FullScreenshot(100))
}

// Eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its result into T.
func Eval[T any](p *Page, expr string) T {
	p.T.Helper()
	return get(p, "evaluate", chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// XPath builders: elements as a person finds them.

// Q quotes s as an XPath string literal.
func Q(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	parts := strings.Split(s, "'")
	return "concat('" + strings.Join(parts, `', "'", '`) + "')"
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// name matches an element's accessible name: its aria-label, else its text.
func name(n string) string {
	return fmt.Sprintf("(@aria-label=%s or (not(@aria-label) and normalize-space(.)=%s))", Q(n), Q(n))
}

// Button is a button named n.
func Button(n string) string {
	return fmt.Sprintf("//*[(self::button or @role='button') and not(@role='menuitem') and %s]", name(n))
}

// MenuItem is a menu item named n.
func MenuItem(n string) string { return fmt.Sprintf("//*[@role='menuitem' and %s]", name(n)) }

// MenuItems is every item of the open menus.
const MenuItems = "//*[@role='menu']//*[@role='menuitem']"

// Field is the form control labelled label.
func Field(label string) string {
	return fmt.Sprintf("//*[(self::input or self::select or self::textarea) and @id=//label[normalize-space(.)=%s]/@for]", Q(label))
}

// Heading is a heading whose text is s.
func Heading(s string) string {
	return fmt.Sprintf("//*[(self::h1 or self::h2 or self::h3) and normalize-space(.)=%s]", Q(s))
}

// Text is the innermost element whose text contains s.
func Text(s string) string {
	return fmt.Sprintf("//*[contains(normalize-space(.), %s) and not(*[contains(normalize-space(.), %s)])]", Q(s), Q(s))
}

// Dialog is the open modal dialog titled title.
func Dialog(title string) string {
	return fmt.Sprintf("//dialog[@open and @aria-labelledby=//*[normalize-space(.)=%s]/@id]", Q(title))
}

// Labelled is the element labelled (aria-labelledby) by the element with text label.
func Labelled(label string) string {
	return fmt.Sprintf("//*[@aria-labelledby=//*[normalize-space(.)=%s]/@id]", Q(label))
}

// Status is the live region (role status or alert) containing s.
func Status(s string) string {
	return fmt.Sprintf("//*[(@role='status' or @role='alert') and contains(normalize-space(.), %s)]", Q(s))
}

// Row is the table row (in the table named table) that contains a cell with text s.
func Row(table, s string) string {
	return fmt.Sprintf("//table[@aria-label=%s]//tr[td[contains(normalize-space(.), %s)]]", Q(table), Q(s))
}
