// The Client Portal console: the user-management screen of the seeds, as a
// client of the public GraphQL API (see api.js). Preact + htm, no build step.
import { html, render, useState, useEffect, useRef } from './vendor/preact-htm.js';
import { gql, Q, onSessionEnded, onActivity, roleName, formatTime, PERMISSION_NAMES } from './api.js';

const IDLE_SECONDS = Number(document.body.dataset.idleTimeout) || 300;
const ROLE_CHANGE_IMMEDIATE = document.body.dataset.roleChange === 'immediate';
const PAGE_SIZE = 20;

function durationText(seconds) {
  if (seconds % 60 === 0) { const m = seconds / 60; return `${m} minute${m === 1 ? '' : 's'}`; }
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}
const IDLE_TEXT = durationText(IDLE_SECONDS);

let idCounter = 0;
function useId(prefix) {
  const ref = useRef(null);
  if (ref.current === null) ref.current = `${prefix}-${++idCounter}`;
  return ref.current;
}

function focusFirstField(el) {
  const f = el && el.querySelector('input:not([type=hidden]), select, textarea');
  if (f) f.focus();
}

// ---------------------------------------------------------------- app shell

function App() {
  const path = location.pathname;
  const [view, setView] = useState(path === '/accept-invitation' ? 'accept' : path === '/reset-password' ? 'reset' : 'loading');
  const [session, setSession] = useState(null);
  const [notice, setNotice] = useState(null); // { text, kind } shown on the sign-in page
  const [email, setEmail] = useState('');

  async function loadSession() {
    setView('loading');
    try {
      const data = await gql(Q.me, {}, { auth: false });
      setSession(data);
      setView('overview');
      if (location.pathname !== '/') history.replaceState(null, '', '/');
    } catch (e) {
      setSession(null);
      if (e.code !== 'UNAUTHENTICATED') setNotice({ text: e.message, kind: 'error' });
      setView('signin');
    }
  }

  useEffect(() => { if (view === 'loading') loadSession(); }, []);
  useEffect(() => onSessionEnded(() => {
    setSession(null);
    setNotice({ kind: 'info', text: `Your session has ended (after ${IDLE_TEXT} without activity, or it was ended elsewhere). Please sign in again.` });
    setView('signin');
  }), []);

  function signedOut(text) {
    setSession(null);
    setNotice(text ? { kind: 'info', text } : null);
    setView('signin');
    history.replaceState(null, '', '/');
  }

  switch (view) {
    case 'loading':
      return html`<main class="centered" aria-busy="true"><p>Loading…</p></main>`;
    case 'accept':
    case 'reset':
      return html`<${SetPassword} kind=${view} onDone=${(text, addr) => { if (addr) setEmail(addr); signedOut(text); }} />`;
    case 'signin':
      return html`<${SignIn} notice=${notice} email=${email} onSignedIn=${() => { setNotice(null); loadSession(); }} />`;
    default:
      return html`<${Overview} session=${session} onSignedOut=${signedOut} />`;
  }
}

// ---------------------------------------------------------------- sign-in

function Field({ label, type = 'text', value, onInput, error, hint, autocomplete, inputmode, autofocus, maxlength }) {
  const id = useId('f');
  const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(' ') || undefined;
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`}
    <input id=${id} type=${type} value=${value} onInput=${(e) => onInput(e.target.value)} required
      autocomplete=${autocomplete} inputmode=${inputmode} autofocus=${autofocus} maxlength=${maxlength}
      aria-invalid=${error ? 'true' : undefined} aria-describedby=${described} />
    ${error && html`<p class="field-error" id=${`${id}-error`}>${error}</p>`}
  </div>`;
}

function Notice({ notice }) {
  if (!notice) return null;
  return notice.kind === 'error'
    ? html`<p class="notice error" role="alert">${notice.text}</p>`
    : html`<p class="notice" role="status">${notice.text}</p>`;
}

function Card({ title, children }) {
  const ref = useRef();
  useEffect(() => focusFirstField(ref.current), [title]);
  return html`<main class="centered"><section class="card" ref=${ref} aria-labelledby="card-title">
    <p class="brand">Client Portal</p>
    <h1 id="card-title">${title}</h1>
    ${children}
  </section></main>`;
}

function SignIn({ notice, email: initialEmail, onSignedIn }) {
  const [step, setStep] = useState('password'); // password | code | enrol | forgot | forgot-sent
  const [email, setEmail] = useState(initialEmail || '');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [enrollment, setEnrollment] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState(notice);

  async function run(fn) {
    setBusy(true);
    setError(null);
    try { await fn(); } catch (e) { setError(e); } finally { setBusy(false); }
  }

  const submitPassword = (ev) => { ev.preventDefault(); run(async () => {
    const d = await gql(Q.login, { email, password }, { auth: false });
    setShown(null);
    setPassword('');
    setCode('');
    if (d.login.step === 'TWO_FACTOR_ENROLLMENT_REQUIRED') { setEnrollment(d.login.enrollment); setStep('enrol'); }
    else if (d.login.step === 'SIGNED_IN') onSignedIn();
    else setStep('code');
  }); };

  const submitCode = (ev) => { ev.preventDefault(); run(async () => {
    try {
      const d = await gql(Q.verify, { code: code.trim() }, { auth: false });
      if (d.verifyTwoFactor.step === 'SIGNED_IN') onSignedIn();
    } catch (e) {
      setCode('');
      if (e.code === 'UNAUTHENTICATED') { setStep('password'); setEnrollment(null); }
      throw e;
    }
  }); };

  const submitForgot = (ev) => { ev.preventDefault(); run(async () => {
    await gql(Q.requestPasswordReset, { email }, { auth: false });
    setStep('forgot-sent');
  }); };

  const fieldError = (f) => error && error.field === f ? error.message : null;
  const generalError = error && !['email', 'password', 'code'].includes(error.field)
    ? html`<p class="notice error" role="alert">${error.message}</p>` : null;
  const submit = (label) => html`<button class="primary" type="submit" disabled=${busy}>${busy ? 'Please wait…' : label}</button>`;

  if (step === 'code' || step === 'enrol') {
    return html`<${Card} title=${step === 'enrol' ? 'Set up two-factor authentication' : 'Two-factor authentication'}>
      ${step === 'enrol' && html`
        <p>Your account needs an authenticator app (such as Google Authenticator, 1Password or Authy). Scan this QR code with it:</p>
        <img class="qr" src=${enrollment.qrCode} alt="QR code for your authenticator app" width="200" height="200" />
        <p>Or enter this key by hand:</p>
        <p><span class="label" id="secret-label">Secret key</span> <code aria-labelledby="secret-label" class="secret">${enrollment.secret}</code></p>`}
      ${generalError}
      <form onSubmit=${submitCode} novalidate>
        <${Field} label="Authentication code" value=${code} onInput=${setCode} autocomplete="one-time-code" inputmode="numeric" maxlength="6"
          hint="The 6-digit code your authenticator app shows now." error=${fieldError('code')} />
        ${submit(step === 'enrol' ? 'Confirm and sign in' : 'Verify')}
      </form>
      <p><button type="button" class="link" onClick=${() => { setStep('password'); setError(null); }}>Back to sign-in</button></p>
    <//>`;
  }
  if (step === 'forgot' || step === 'forgot-sent') {
    return html`<${Card} title="Reset your password">
      ${step === 'forgot-sent'
        ? html`<p class="notice" role="status">If an account exists for ${email}, we have emailed it a link to choose a new password. The link works once and expires in an hour.</p>`
        : html`<p>Enter your email address and we will send you a link to choose a new password.</p>
          ${generalError}
          <form onSubmit=${submitForgot} novalidate>
            <${Field} label="Email" type="email" value=${email} onInput=${setEmail} autocomplete="email" error=${fieldError('email')} />
            ${submit('Send reset link')}
          </form>`}
      <p><button type="button" class="link" onClick=${() => { setStep('password'); setError(null); }}>Back to sign-in</button></p>
    <//>`;
  }
  return html`<${Card} title="Sign in">
    <${Notice} notice=${shown} />
    ${generalError}
    <form onSubmit=${submitPassword} novalidate>
      <${Field} label="Email" type="email" value=${email} onInput=${setEmail} autocomplete="username" error=${fieldError('email')} />
      <${Field} label="Password" type="password" value=${password} onInput=${setPassword} autocomplete="current-password" error=${fieldError('password')} />
      ${submit('Sign in')}
    </form>
    <p><button type="button" class="link" onClick=${() => { setStep('forgot'); setError(null); setShown(null); }}>Forgot password?</button></p>
  <//>`;
}

// SetPassword is /accept-invitation and /reset-password. Opening it sends
// nothing: the token stays in the URL fragment until the form is sent.
function SetPassword({ kind, onDone }) {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const accept = kind === 'accept';

  async function submit(ev) {
    ev.preventDefault();
    setError(null);
    if (password !== confirm) { setError({ field: 'confirm', message: 'The two passwords are not the same.' }); return; }
    setBusy(true);
    try {
      if (accept) {
        const d = await gql(Q.acceptInvitation, { token, password }, { auth: false });
        onDone('Your password is set and your account is active. Sign in to continue.', d.acceptInvitation.user.email);
      } else {
        await gql(Q.resetPassword, { token, password }, { auth: false });
        onDone('Your password has been changed. Sign in with your new password.');
      }
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }

  const title = accept ? 'Accept your invitation' : 'Choose a new password';
  if (!token) {
    return html`<${Card} title=${title}>
      <p class="notice error" role="alert">This link is incomplete. Open the link from your email again, or ask for a new one.</p>
      <p><a href="/">Go to sign-in</a></p>
    <//>`;
  }
  const fieldError = (f) => error && error.field === f ? error.message : null;
  return html`<${Card} title=${title}>
    <p>${accept ? 'Set a password to activate your account.' : 'Set a new password for your account.'}</p>
    <p class="policy" id="password-policy">Your password must be 12 to 128 characters long and must not be your email address. A passphrase of a few words is easy to remember.</p>
    ${error && !['password', 'confirm'].includes(error.field) && html`<p class="notice error" role="alert">${error.message}</p>`}
    <form onSubmit=${submit} novalidate>
      <${Field} label="New password" type="password" value=${password} onInput=${setPassword} autocomplete="new-password" error=${fieldError('password')} />
      <${Field} label="Confirm password" type="password" value=${confirm} onInput=${setConfirm} autocomplete="new-password" error=${fieldError('confirm')} />
      <button class="primary" type="submit" disabled=${busy}>${busy ? 'Please wait…' : 'Set password'}</button>
    </form>
  <//>`;
}

// ---------------------------------------------------------------- widgets

// Menu is a button that opens a list of actions (WAI-ARIA menu button):
// arrow keys move, Escape closes and gives focus back to the button.
function Menu({ label, text, items, className = '' }) {
  const [open, setOpen] = useState(false);
  const btn = useRef();
  const list = useRef();
  useEffect(() => {
    if (!open) return undefined;
    const first = list.current && list.current.querySelector('[role=menuitem]');
    if (first) first.focus();
    const outside = (e) => {
      if (list.current && !list.current.contains(e.target) && btn.current && !btn.current.contains(e.target)) setOpen(false);
    };
    document.addEventListener('mousedown', outside);
    return () => document.removeEventListener('mousedown', outside);
  }, [open]);
  // Keys work from the button and from the items alike.
  function onKeyDown(e) {
    if (!open) {
      if (e.key === 'ArrowDown' && e.target === btn.current) { e.preventDefault(); setOpen(true); }
      return;
    }
    const all = list.current ? [...list.current.querySelectorAll('[role=menuitem]')] : [];
    const i = all.indexOf(document.activeElement);
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); setOpen(false); btn.current.focus(); }
    else if (!all.length) return;
    else if (e.key === 'ArrowDown') { e.preventDefault(); all[(i + 1) % all.length].focus(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); all[(i - 1 + all.length) % all.length].focus(); }
    else if (e.key === 'Home') { e.preventDefault(); all[0].focus(); }
    else if (e.key === 'End') { e.preventDefault(); all[all.length - 1].focus(); }
    else if (e.key === 'Tab') setOpen(false);
  }
  function choose(item) {
    setOpen(false);
    btn.current.focus(); // a dialog opened by the item gives focus back here
    item.action();
  }
  return html`<div class=${`menu ${className}`} onKeyDown=${onKeyDown}>
    <button type="button" ref=${btn} aria-haspopup="menu" aria-expanded=${open ? 'true' : 'false'} aria-label=${label}
      onClick=${() => setOpen(!open)}>${text}</button>
    ${open && html`<ul role="menu" aria-label=${label} ref=${list}>
      ${items.map((it) => html`<li role="none" key=${it.label}><button type="button" role="menuitem" tabindex="-1" onClick=${() => choose(it)}>${it.label}</button></li>`)}
    </ul>`}
  </div>`;
}

// Dialog is a modal <dialog>: the browser keeps focus inside it and makes
// the page behind it inert; Escape closes it; focus returns to the element
// that opened it.
function Dialog({ title, onClose, children, wide }) {
  const ref = useRef();
  const id = useId('dlg');
  useEffect(() => {
    const d = ref.current;
    const back = document.activeElement;
    d.showModal();
    return () => {
      if (d.open) d.close();
      if (back && back.isConnected) back.focus();
    };
  }, []);
  return html`<dialog ref=${ref} class=${wide ? 'wide' : ''} aria-labelledby=${id} onCancel=${(e) => { e.preventDefault(); onClose(); }}>
    <h2 id=${id}>${title}</h2>
    ${children}
  </dialog>`;
}

function Confirm({ title, text, confirmLabel, danger, onConfirm, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function go() {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(e.message);
      setBusy(false);
    }
  }
  return html`<${Dialog} title=${title} onClose=${onClose}>
    <p>${text}</p>
    ${error && html`<p class="notice error" role="alert">${error}</p>`}
    <div class="actions">
      <button type="button" onClick=${onClose}>Cancel</button>
      <button type="button" class=${danger ? 'danger' : 'primary'} onClick=${go} disabled=${busy}>${busy ? 'Working…' : confirmLabel}</button>
    </div>
  <//>`;
}

// IdleClock shows how long the session lasts without activity, and signs
// out when it is over. It only counts: it sends no request of its own, so
// it never keeps the session alive.
// Other tabs of the console share the session, so their requests count too:
// each tab notes its last request in localStorage.
const LAST_ACTIVITY = 'portal:lastActivity';
function lastActivity(mine) {
  let shared = 0;
  try { shared = Number(localStorage.getItem(LAST_ACTIVITY)) || 0; } catch (e) { /* storage off */ }
  return Math.max(mine, shared);
}

function IdleClock({ onExpired }) {
  const last = useRef(Date.now());
  const [left, setLeft] = useState(IDLE_SECONDS);
  useEffect(() => onActivity(() => {
    last.current = Date.now();
    try { localStorage.setItem(LAST_ACTIVITY, String(last.current)); } catch (e) { /* storage off */ }
    setLeft(IDLE_SECONDS);
  }), []);
  useEffect(() => {
    const t = setInterval(() => {
      const l = Math.max(0, IDLE_SECONDS - Math.floor((Date.now() - lastActivity(last.current)) / 1000));
      setLeft(l);
      if (l === 0) { clearInterval(t); onExpired(); }
    }, 1000);
    return () => clearInterval(t);
  }, []);
  const m = Math.floor(left / 60);
  const s = String(left % 60).padStart(2, '0');
  return html`<span class="idle" title=${`You are signed out after ${IDLE_TEXT} without activity.`}>
    Signed out after ${IDLE_TEXT} idle · <span class="countdown">${m}:${s}</span> left</span>`;
}

// ---------------------------------------------------------------- overview

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
}

function Overview({ session, onSignedOut }) {
  const { me, roles } = session;
  const mine = roles.find((r) => r.role === me.role) || { permissions: [], assignableRoles: [], canReadAuditLog: false };
  const [page, setPage] = useState('users');
  const [result, setResult] = useState(null); // { kind: 'ok' | 'error', text }

  async function signOut() {
    try { await gql(Q.logout, {}, { auth: false }); } catch (e) { /* signed out either way */ }
    onSignedOut('You have signed out.');
  }
  async function expired() {
    try { await gql(Q.logout, {}, { auth: false }); } catch (e) { /* already ended */ }
    onSignedOut(`You were signed out after ${IDLE_TEXT} without activity. Please sign in again.`);
  }
  const menu = [{ label: 'User management', action: () => setPage('users') }];
  if (mine.canReadAuditLog) menu.push({ label: 'Audit log', action: () => setPage('audit') });
  menu.push({ label: 'Sign out', action: signOut });

  return html`<div class="shell">
    <header class="topbar">
      <span class="brand">Client Portal</span>
      <span class="spacer"></span>
      <${IdleClock} onExpired=${expired} />
      <span class="who">${me.name} · ${roleName(me.role, roles)}</span>
      <${Menu} className="avatar" label=${`Account menu for ${me.name}`} text=${initials(me.name)} items=${menu} />
    </header>
    <div class="results" aria-live="polite">
      ${result && (result.kind === 'ok'
        ? html`<p class="notice ok" role="status">${result.text} <button type="button" class="link" onClick=${() => setResult(null)}>Dismiss</button></p>`
        : html`<p class="notice error" role="alert">${result.text}</p>`)}
    </div>
    ${page === 'audit'
      ? html`<${AuditLog} roles=${roles} />`
      : html`<${Users} me=${me} mine=${mine} roles=${roles} setResult=${setResult} />`}
  </div>`;
}

const COLUMNS = [
  { field: 'NAME', label: 'Name' },
  { field: 'EMAIL', label: 'Email' },
  { field: 'LAST_ACTIVE_AT', label: 'Last active' },
  { field: 'ROLE', label: 'Role' },
];

function Users({ me, mine, roles, setResult }) {
  const [searchText, setSearchText] = useState('');
  const [search, setSearch] = useState('');
  const [roleFilter, setRoleFilter] = useState('');
  const [statusFilter, setStatusFilter] = useState('');
  const [order, setOrder] = useState({ field: 'NAME', direction: 'ASC' });
  const [cursors, setCursors] = useState([null]); // the "after" of each page seen
  const [reload, setReload] = useState(0);
  const [data, setData] = useState(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState(null);
  const [dialog, setDialog] = useState(null);
  const seq = useRef(0);

  useEffect(() => {
    const t = setTimeout(() => { setSearch(searchText.trim()); setCursors([null]); }, 300);
    return () => clearTimeout(t);
  }, [searchText]);

  const after = cursors[cursors.length - 1];
  useEffect(() => {
    const n = ++seq.current;
    setLoading(true);
    const filter = {};
    if (search) filter.search = search;
    if (roleFilter) filter.roles = [roleFilter];
    if (statusFilter) filter.status = statusFilter;
    const page = cursors.length;
    gql(Q.users, { first: PAGE_SIZE, after, filter, orderBy: order })
      .then((d) => { if (n === seq.current) { setData({ ...d.users, page, order }); setError(null); } })
      .catch((e) => { if (n === seq.current) setError(e.message); })
      .finally(() => { if (n === seq.current) setLoading(false); });
  }, [search, roleFilter, statusFilter, order, after, reload]);

  const refresh = () => setReload((x) => x + 1);
  const close = () => setDialog(null);
  function sortBy(field) {
    setOrder((o) => ({ field, direction: o.field === field && o.direction === 'ASC' ? 'DESC' : 'ASC' }));
    setCursors([null]);
  }
  // act runs a confirmed mutation and reports its result on the page.
  const act = (query, vars, done) => async () => {
    try {
      await gql(query, vars);
      setResult({ kind: 'ok', text: done });
    } finally {
      refresh();
    }
  };

  function changeRole(u, role) {
    const from = roleName(u.role, roles);
    const to = roleName(role, roles);
    const when = ROLE_CHANGE_IMMEDIATE
      ? `A lower role applies to ${u.name}'s current session at once; otherwise the new role takes effect the next time they sign in.`
      : `The new role takes effect the next time ${u.name} signs in.`;
    setDialog(html`<${Confirm} title="Change role" confirmLabel="Change role" onClose=${close}
      text=${`Change ${u.name}'s role from ${from} to ${to}? ${when}`}
      onConfirm=${act(Q.changeRole, { userId: u.id, role }, `${u.name}'s role is now ${to}. It takes effect at their next sign-in.`)} />`);
  }
  function rowActions(u) {
    const items = [];
    const c = u.viewerCan;
    if (c.resendInvitation) items.push({ label: 'Resend invitation', action: () => setDialog(html`<${Confirm} title="Resend invitation"
      confirmLabel="Resend invitation" onClose=${close}
      text=${`Send a new invitation to ${u.email}? Earlier invitation links stop working.`}
      onConfirm=${act(Q.resendInvitation, { userId: u.id }, `A new invitation was sent to ${u.email}.`)} />`) });
    if (c.sendPasswordReset) items.push({ label: 'Send password reset', action: () => setDialog(html`<${Confirm} title="Send password reset"
      confirmLabel="Send reset link" onClose=${close}
      text=${`Email ${u.name} a link to choose a new password? Their current password keeps working until the link is used.`}
      onConfirm=${act(Q.sendPasswordReset, { userId: u.id }, `A password reset link was sent to ${u.email}.`)} />`) });
    if (c.resetTwoFactor) items.push({ label: 'Reset 2FA', action: () => setDialog(html`<${Confirm} title="Reset two-factor authentication"
      confirmLabel="Reset 2FA" danger onClose=${close}
      text=${`Reset ${u.name}'s two-factor authentication? They are signed out now and must set up their authenticator again at their next sign-in.`}
      onConfirm=${act(Q.resetTwoFactor, { userId: u.id }, `${u.name}'s two-factor authentication was reset.`)} />`) });
    if (c.remove) items.push({ label: 'Remove user', action: () => setDialog(html`<${Confirm} title="Remove user"
      confirmLabel="Remove user" danger onClose=${close}
      text=${`Remove ${u.name} (${u.email}) from your organisation? Their access, sessions and open links end at once.`}
      onConfirm=${act(Q.removeUser, { userId: u.id }, `${u.name} was removed.`)} />`) });
    return items;
  }

  const nodes = data ? data.nodes : [];
  const pageNo = cursors.length;
  // The label tells what the table shows, even while the next page loads.
  const from = nodes.length ? (data.page - 1) * PAGE_SIZE + 1 : 0;
  return html`<main class="page" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title">User management</h1>
      <div class="page-actions">
        <button type="button" onClick=${() => setDialog(html`<${RolesDialog} roles=${roles} onClose=${close} />`)}>View roles</button>
        ${mine.permissions.includes('CREATE_USERS') && mine.assignableRoles.length > 0 && html`<button type="button" class="primary"
          onClick=${() => setDialog(html`<${NewUser} mine=${mine} roles=${roles} onClose=${close}
            onCreated=${(u) => { setResult({ kind: 'ok', text: `${u.name} was invited: an invitation was sent to ${u.email}.` }); refresh(); }} />`)}>+ New User</button>`}
      </div>
    </div>
    <div class="filters" role="search">
      <div class="field inline"><label for="search">Search users</label>
        <input id="search" type="search" placeholder="Name or email" value=${searchText} onInput=${(e) => setSearchText(e.target.value)} /></div>
      <div class="field inline"><label for="role-filter">Filter by role</label>
        <select id="role-filter" value=${roleFilter} onChange=${(e) => { setRoleFilter(e.target.value); setCursors([null]); }}>
          <option value="">All roles</option>
          ${roles.map((r) => html`<option value=${r.role}>${r.name}</option>`)}
        </select></div>
      <div class="field inline"><label for="status-filter">Filter by status</label>
        <select id="status-filter" value=${statusFilter} onChange=${(e) => { setStatusFilter(e.target.value); setCursors([null]); }}>
          <option value="">All statuses</option>
          <option value="ACTIVE">Active</option>
          <option value="INVITED">Invited</option>
        </select></div>
    </div>
    ${error && html`<p class="notice error" role="alert">${error} <button type="button" class="link" onClick=${refresh}>Try again</button></p>`}
    <table aria-label="Users" aria-busy=${loading ? 'true' : 'false'}>
      <thead><tr>
        ${COLUMNS.map((c) => {
          const shown = (data && data.order) || order; // the order of the rows on screen
          const active = shown.field === c.field;
          const dir = active ? (shown.direction === 'ASC' ? 'ascending' : 'descending') : undefined;
          return html`<th scope="col" aria-sort=${dir || 'none'}><button type="button" class="sort" onClick=${() => sortBy(c.field)}>
            ${c.label}<span aria-hidden="true">${active ? (shown.direction === 'ASC' ? ' ▲' : ' ▼') : ''}</span></button></th>`;
        })}
        <th scope="col"><span class="visually-hidden">Actions</span></th>
      </tr></thead>
      <tbody>
        ${nodes.map((u) => {
          const items = rowActions(u);
          const assignable = u.viewerCan.changeRole ? u.assignableRoles : [];
          return html`<tr key=${u.id}>
            <td><button type="button" class="link name" onClick=${() => setDialog(html`<${Profile} id=${u.id} roles=${roles} onClose=${close} />`)}>${u.name}</button>
              ${u.id === me.id && html` <span class="badge">You</span>`}
              ${u.status === 'INVITED' && html` <span class="badge">Invited</span>`}</td>
            <td>${u.email}</td>
            <td>${formatTime(u.lastActiveAt)}</td>
            <td>${assignable.length > 0
              ? html`<${Menu} className="role" label=${`Role of ${u.name}: ${roleName(u.role, roles)}`}
                  text=${html`${roleName(u.role, roles)}<span aria-hidden="true"> ▾</span>`}
                  items=${assignable.map((r) => ({ label: roleName(r, roles), action: () => changeRole(u, r) }))} />`
              : roleName(u.role, roles)}</td>
            <td class="kebab">${items.length > 0 && html`<${Menu} className="kebab" label=${`Actions for ${u.name}`} text="⋮" items=${items} />`}</td>
          </tr>`;
        })}
        ${!loading && data && nodes.length === 0 && html`<tr><td colspan="5">No users match.</td></tr>`}
      </tbody>
    </table>
    <nav class="pager" aria-label="Pages">
      <span>${data ? `${from}–${from + Math.max(0, nodes.length - 1)} of ${data.totalCount} users` : 'Loading…'}</span>
      <button type="button" disabled=${pageNo === 1 || loading} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous page</button>
      <button type="button" disabled=${!data || !data.pageInfo.hasNextPage || loading}
        onClick=${() => setCursors([...cursors, data.pageInfo.endCursor])}>Next page</button>
    </nav>
    ${dialog}
  </main>`;
}

function Profile({ id, roles, onClose }) {
  const [u, setU] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    gql(Q.user, { id }).then((d) => { if (d.user) setU(d.user); else setError('That user no longer exists in your organisation.'); })
      .catch((e) => setError(e.message));
  }, [id]);
  const row = (k, v) => html`<dt>${k}</dt><dd>${v}</dd>`;
  return html`<${Dialog} title=${u ? u.name : 'User profile'} onClose=${onClose}>
    ${error && html`<p class="notice error" role="alert">${error}</p>`}
    ${!u && !error && html`<p aria-busy="true">Loading…</p>`}
    ${u && html`<dl class="profile">
      ${row('Email', u.email)}
      ${row('Role', roleName(u.role, roles))}
      ${row('Status', u.status === 'ACTIVE' ? 'Active' : 'Invited (has not accepted yet)')}
      ${row('Two-factor authentication', u.twoFactorEnabled ? 'Set up' : 'Not set up')}
      ${row('Created', formatTime(u.createdAt))}
      ${row('Invited by', u.invitedBy ? `${u.invitedBy.name} (${u.invitedBy.email})` : 'An operator (command line)')}
      ${row('Last active', formatTime(u.lastActiveAt))}
      ${u.status === 'INVITED' && row('Invitation sent', formatTime(u.invitationSentAt) + (u.invitationDeliveryFailed ? ' (delivery failed: resend it)' : ''))}
    </dl>`}
    <div class="actions"><button type="button" class="primary" onClick=${onClose} autofocus>Close</button></div>
  <//>`;
}

function RolesDialog({ roles, onClose }) {
  return html`<${Dialog} title="Roles" onClose=${onClose} wide>
    <table aria-label="Role definitions" class="roles">
      <thead><tr><th scope="col">Role</th><th scope="col">What it is</th><th scope="col">Permissions</th><th scope="col">May give</th></tr></thead>
      <tbody>${roles.map((r) => html`<tr key=${r.role}>
        <th scope="row">${r.name}</th>
        <td>${r.description}</td>
        <td><ul>${r.permissions.map((p) => html`<li>${PERMISSION_NAMES[p] || p}</li>`)}
          ${r.canReadAuditLog && html`<li>Read the audit log</li>`}</ul></td>
        <td>${r.assignableRoles.length ? r.assignableRoles.map((a) => roleName(a, roles)).join(', ') : 'No roles'}</td>
      </tr>`)}</tbody>
    </table>
    <p class="hint">Super Admins and Admins act only on users ranked below them. A role change takes effect at the user's next sign-in.</p>
    <div class="actions"><button type="button" class="primary" onClick=${onClose} autofocus>Close</button></div>
  <//>`;
}

function NewUser({ mine, roles, onClose, onCreated }) {
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState(mine.assignableRoles[mine.assignableRoles.length - 1] || '');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const roleId = useId('role');
  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const d = await gql(Q.createUser, { email, name, role });
      onClose();
      onCreated(d.createUser.user);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }
  const fieldError = (f) => error && error.field === f ? error.message : null;
  return html`<${Dialog} title="New user" onClose=${onClose}>
    <p>The new user gets an email with a link to set their password. The link is valid for 72 hours.</p>
    ${error && !['email', 'name', 'role'].includes(error.field) && html`<p class="notice error" role="alert">${error.message}</p>`}
    <form onSubmit=${submit} novalidate>
      <${Field} label="Email" type="email" value=${email} onInput=${setEmail} autocomplete="off" error=${fieldError('email')} autofocus />
      <${Field} label="Name" value=${name} onInput=${setName} autocomplete="off" error=${fieldError('name')} />
      <div class="field"><label for=${roleId}>Role</label>
        <select id=${roleId} value=${role} onChange=${(e) => setRole(e.target.value)}>
          ${mine.assignableRoles.map((r) => html`<option value=${r}>${roleName(r, roles)}</option>`)}
        </select>
        ${fieldError('role') && html`<p class="field-error">${fieldError('role')}</p>`}</div>
      <div class="actions">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${busy}>${busy ? 'Working…' : 'Send invitation'}</button>
      </div>
    </form>
  <//>`;
}

const ACTIONS = {
  USER_CREATED: 'Invited a user',
  ROLE_CHANGED: 'Changed a role',
  USER_REMOVED: 'Removed a user',
};

function actionText(a) {
  if (ACTIONS[a]) return ACTIONS[a];
  const s = a.toLowerCase().replace(/_/g, ' ');
  return s[0].toUpperCase() + s.slice(1);
}

function AuditLog({ roles }) {
  const [entries, setEntries] = useState([]);
  const [pageInfo, setPageInfo] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  async function load(after) {
    setLoading(true);
    try {
      const d = await gql(Q.auditLog, { first: 50, after });
      setEntries((old) => (after ? [...old, ...d.auditLog.nodes] : d.auditLog.nodes));
      setPageInfo(d.auditLog.pageInfo);
      setError(null);
    } catch (e) {
      setError(e.message);
    } finally {
      setLoading(false);
    }
  }
  useEffect(() => { load(null); }, []);
  const who = (u, id) => (u ? `${u.name} (${u.email})` : id ? 'A removed user' : 'An operator (command line)');
  return html`<main class="page" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title">Audit log</h1></div>
    ${error && html`<p class="notice error" role="alert">${error}</p>`}
    <table aria-label="Audit log" aria-busy=${loading ? 'true' : 'false'}>
      <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Who</th><th scope="col">Whom</th><th scope="col">Role change</th></tr></thead>
      <tbody>${entries.map((a) => html`<tr key=${a.id}>
        <td>${formatTime(a.createdAt)}</td>
        <td>${actionText(a.action)}</td>
        <td>${who(a.actor, a.actorId)}</td>
        <td>${a.target ? `${a.target.name} (${a.target.email})` : a.targetId ? 'A removed user' : '—'}</td>
        <td>${a.beforeRole || a.afterRole ? `${a.beforeRole ? roleName(a.beforeRole, roles) : '—'} → ${a.afterRole ? roleName(a.afterRole, roles) : '—'}` : ''}</td>
      </tr>`)}
      ${!loading && entries.length === 0 && !error && html`<tr><td colspan="5">Nothing recorded yet.</td></tr>`}</tbody>
    </table>
    ${pageInfo && pageInfo.hasNextPage && html`<p><button type="button" disabled=${loading} onClick=${() => load(pageInfo.endCursor)}>Show older entries</button></p>`}
  </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
