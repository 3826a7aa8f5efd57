// The console's only way to the server: POST /graphql on this origin, with
// the session cookie (the token itself is never read by this code).

// A request that takes longer than this is abandoned with a clear message
// rather than leaving the page waiting forever on a slow network.
const TIMEOUT_MS = 30000;

export class ApiError extends Error {
  constructor(code, message, extensions) {
    super(message);
    this.code = code;
    this.field = extensions && extensions.field;
    this.retryAfterSeconds = extensions && extensions.retryAfterSeconds;
  }
}

// Listeners told when an authenticated request finds the session gone, and
// when any request reaches the server (the server counts it as activity).
const sessionEndedListeners = new Set();
const activityListeners = new Set();
export function onSessionEnded(fn) { sessionEndedListeners.add(fn); return () => sessionEndedListeners.delete(fn); }
export function onActivity(fn) { activityListeners.add(fn); return () => activityListeners.delete(fn); }

// gql runs one operation. auth: false for the sign-in and token pages, where
// UNAUTHENTICATED is an answer (wrong password), not an ended session.
export async function gql(query, variables, { auth = true } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/graphql-response+json, application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ query, variables }),
      signal: ctrl.signal,
    });
  } catch (e) {
    throw new ApiError('NETWORK', ctrl.signal.aborted
      ? 'The server took too long to answer. Check your connection and try again.'
      : 'The server could not be reached. Check your connection and try again.');
  } finally {
    clearTimeout(timer);
  }
  activityListeners.forEach((fn) => fn());
  let body;
  try {
    body = await res.json();
  } catch (e) {
    throw new ApiError(res.status >= 500 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL', sentence({ code: res.status >= 500 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL' }));
  }
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    const ext = e.extensions || {};
    const code = ext.code || 'INTERNAL';
    const err = new ApiError(code, sentence({ code, message: e.message, retryAfterSeconds: ext.retryAfterSeconds }), ext);
    if (code === 'UNAUTHENTICATED' && auth) sessionEndedListeners.forEach((fn) => fn());
    throw err;
  }
  return body.data;
}

function capitalised(message) {
  const m = (message || '').trim();
  if (!m) return '';
  const s = m[0].toUpperCase() + m.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

// retryText says when to try again, e.g. "in 42 seconds (at 10:31)".
export function retryText(seconds) {
  const s = Math.max(1, Math.ceil(Number(seconds) || 0));
  const at = new Date(Date.now() + s * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (s < 90) return `in ${s} second${s === 1 ? '' : 's'} (at ${at})`;
  const m = Math.ceil(s / 60);
  return `in ${m} minute${m === 1 ? '' : 's'} (at ${at})`;
}

// sentence turns every error code of the contract into a sentence a person
// can act on. The server's own text is used where it is written for people
// (input and conflict errors); internal details never are.
export function sentence({ code, message, retryAfterSeconds }) {
  switch (code) {
    case 'UNAUTHENTICATED':
      return capitalised(message) || 'Please sign in again.';
    case 'FORBIDDEN':
      return 'Your role does not allow this. Nothing was changed.';
    case 'NOT_FOUND':
      return 'That user no longer exists in your organisation. Nothing was changed.';
    case 'BAD_USER_INPUT':
      return capitalised(message) || 'Please check what you entered.';
    case 'CONFLICT':
      return capitalised(message) || 'That conflicts with an existing user.';
    case 'RATE_LIMITED':
      return `Too many attempts. Please try again ${retryText(retryAfterSeconds)}.`;
    case 'SERVICE_UNAVAILABLE':
      return 'The service is temporarily unavailable. Nothing was changed; please try again in a moment.';
    case 'PERSISTED_QUERY_NOT_FOUND':
      return 'The server did not recognise a saved request. Please reload the page and try again.';
    case 'NETWORK':
      return 'The server could not be reached. Check your connection and try again.';
    default: {
      const id = /\(id ([0-9a-f]+)\)/.exec(message || '');
      return 'Something went wrong on the server. Please try again' + (id ? ` (reference ${id[1]}).` : '.');
    }
  }
}

export const ROLE_NAMES = {
  SUPER_ADMIN: 'Super Admin',
  ADMIN: 'Admin',
  CREATOR: 'Creator',
  VIEWER: 'Viewer',
  ECOMMERCE_VIEWER: 'Ecommerce Viewer',
};

export const PERMISSION_NAMES = {
  VIEW_USERS: 'View all users',
  VIEW_ROLES: 'View definitions of roles',
  CREATE_USERS: 'Create new users',
  CHANGE_ROLES: "Change an existing user's role",
  RESEND_INVITATIONS: 'Resend an invitation email',
  SEND_PASSWORD_RESETS: 'Initiate a password reset email',
  RESET_TWO_FACTOR: 'Reset 2-factor authentication',
  REMOVE_USERS: 'Remove an existing user',
};

export function roleName(role, roles) {
  const def = roles && roles.find((r) => r.role === role);
  return (def && def.name) || ROLE_NAMES[role] || role;
}

export function formatTime(t) {
  if (!t) return 'Never';
  const d = new Date(t);
  return d.toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

// The operations the console uses (README "Build your own frontend").
export const Q = {
  me: `query Me { me { id name email role } roles { role name description rank permissions assignableRoles canReadAuditLog } }`,
  users: `query Users($first: Int, $after: String, $filter: UserFilter, $orderBy: UserOrder) {
    users(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id name email role status lastActiveAt
        viewerCan { changeRole resendInvitation sendPasswordReset resetTwoFactor remove }
        assignableRoles }
    }
  }`,
  user: `query Profile($id: ID!) { user(id: $id) { id name email role status twoFactorEnabled lastActiveAt createdAt
    invitationSentAt invitationDeliveryFailed invitedBy { id name email } } }`,
  auditLog: `query Audit($first: Int, $after: String) { auditLog(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id action actor { id name email } actorId target { id name email } targetId beforeRole afterRole createdAt } } }`,
  login: `mutation Login($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
    step enrollment { secret otpauthUrl qrCode } } }`,
  verify: `mutation Verify($code: String!) { verifyTwoFactor(input: {code: $code}) { step user { id name } } }`,
  logout: `mutation Logout { logout }`,
  acceptInvitation: `mutation Accept($token: String!, $password: String!) { acceptInvitation(input: {token: $token, password: $password}) { user { id email } } }`,
  requestPasswordReset: `mutation Forgot($email: String!) { requestPasswordReset(input: {email: $email}) }`,
  resetPassword: `mutation Reset($token: String!, $password: String!) { resetPassword(input: {token: $token, password: $password}) }`,
  createUser: `mutation Create($email: String!, $name: String!, $role: Role!) { createUser(input: {email: $email, name: $name, role: $role}) { user { id name email } } }`,
  changeRole: `mutation ChangeRole($userId: ID!, $role: Role!) { changeRole(input: {userId: $userId, role: $role}) { user { id role } } }`,
  resendInvitation: `mutation Resend($userId: ID!) { resendInvitation(input: {userId: $userId}) { user { id } } }`,
  sendPasswordReset: `mutation SendReset($userId: ID!) { sendPasswordReset(input: {userId: $userId}) { user { id } } }`,
  resetTwoFactor: `mutation Reset2FA($userId: ID!) { resetTwoFactor(input: {userId: $userId}) { user { id } } }`,
  removeUser: `mutation Remove($userId: ID!) { removeUser(input: {userId: $userId}) { removedUserId } }`,
};
