// Cloakroom's admin dashboard (docs/operations.md, "Dashboard"). Plain JS, no library.
//
// Security rules of this file:
// * Every string from the gateway is put into the page with textContent or as an attribute
//   value set through the DOM, never as HTML: audit fields (paths, hosts, methods, reasons)
//   carry what an agent sent.
// * The admin token comes from the URL's #fragment (never sent to the server), is removed from
//   the address bar at once, kept in sessionStorage (this tab only) and sent as
//   `Authorization: Bearer` on fetch(). No cookie exists, so no other site can act with it.
'use strict';

const TOKEN_KEY = 'cloakroom-admin-token';
const POLL_MS = 1000;
const CONFIG_POLL_MS = 5000;
const KEEP_RECORDS = 1000;    // kept in the page, newest last
const SHOW_RECORDS = 300;     // rows drawn at most
const BAR_SECONDS = 5;        // the plot's bars group this many one-second buckets
const CONFIRM_MS = 5000;      // a revoke button waits this long for its confirming click
const DECISION_CLASSES = new Set(['allow', 'passthrough', 'forward', 'tunnel', 'deny', 'error', 'other']);

const state = {
  records: [],
  lastSeq: 0,
  sessions: null,
  decisions: null,
  config: null,
  lastConfigFetch: 0,
  pendingRevoke: null,  // {id, until}
  drawn: {},            // what each part was last drawn from, to redraw only on change
  timer: null,
};

// ---- DOM helpers: text only --------------------------------------------------------------

function $(id) { return document.getElementById(id); }

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (key === 'className') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'title') node.title = value;
      else if (key === 'onclick') node.addEventListener('click', value);
      else if (key === 'type') node.type = value;
      else throw new Error('el: unknown property ' + key);
    }
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? '')));
  }
  return node;
}

function td(text, className) {
  return el('td', className ? { className } : null, text);
}

function decisionClass(decision) {
  return 'd-' + (DECISION_CLASSES.has(decision) ? decision : 'other');
}

function clockTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleTimeString([], { hour12: false }) + '.' +
    String(date.getMilliseconds()).padStart(3, '0');
}

function setNotice(text) {
  const notice = $('notice');
  notice.textContent = text || '';
  notice.hidden = !text;
}

// ---- The token and the API ---------------------------------------------------------------

class LoginNeeded extends Error {}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.reason) || ('HTTP ' + status));
    this.status = status;
    this.body = body;
  }
}

function takeTokenFromFragment() {
  const match = /^#token=([A-Za-z0-9_]+)$/.exec(location.hash);
  if (location.hash) {
    // Out of the address bar and the history at once (screen sharing, shoulder surfing).
    history.replaceState(null, '', location.pathname + location.search);
  }
  if (match) sessionStorage.setItem(TOKEN_KEY, match[1]);
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new LoginNeeded('');
  const headers = { Authorization: 'Bearer ' + token };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method: options.method || 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    cache: 'no-store',
    credentials: 'omit',
    redirect: 'error',
  });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new LoginNeeded('The gateway refused the admin token (was it rotated?).');
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// ---- Login -------------------------------------------------------------------------------

function showLogin(message) {
  if (state.timer) clearTimeout(state.timer);
  state.timer = null;
  $('app').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  const status = $('status');
  status.textContent = 'not signed in';
  status.className = '';
  $('login-token').focus();
}

function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('logout').hidden = false;
}

// ---- Polling -----------------------------------------------------------------------------

async function poll() {
  state.timer = null;
  const status = $('status');
  try {
    const now = Date.now();
    const wantConfig = !state.config || now - state.lastConfigFetch >= CONFIG_POLL_MS;
    const [audit, sessions, decisions, config] = await Promise.all([
      api('/api/v1/audit?after=' + state.lastSeq + '&limit=1000'),
      api('/api/v1/sessions'),
      api('/api/v1/decisions'),
      wantConfig ? api('/api/v1/config') : Promise.resolve(null),
    ]);
    addRecords(audit);
    state.sessions = sessions;
    state.decisions = decisions;
    if (config) {
      state.config = config;
      state.lastConfigFetch = now;
    }
    showApp();
    drawAll();
    status.textContent = 'live · updated ' + new Date().toLocaleTimeString([], { hour12: false });
    status.className = 'ok';
  } catch (error) {
    if (error instanceof LoginNeeded) {
      showLogin(error.message);
      return;
    }
    status.textContent = 'cannot reach the gateway: ' + error.message;
    status.className = 'bad';
  }
  state.timer = setTimeout(poll, POLL_MS);
}

function addRecords(audit) {
  if (!audit || !Array.isArray(audit.records)) return;
  if (audit.last_seq < state.lastSeq) {
    // The gateway restarted: its sequence numbers began again. The next poll asks from 0.
    state.records = [];
    state.lastSeq = 0;
    return;
  }
  for (const record of audit.records) {
    if (record.seq > state.lastSeq) state.records.push(record);  // never one twice
  }
  if (state.records.length > KEEP_RECORDS) {
    state.records.splice(0, state.records.length - KEEP_RECORDS);
  }
  state.lastSeq = audit.last_seq;
}

function drawAll() {
  drawRequests();
  drawTokens();
  drawPlot();
  drawConfig();
}

// ---- Live requests -----------------------------------------------------------------------

const FILTER_FIELDS = {
  token: 'token_id', token_id: 'token_id', decision: 'decision', status: 'status',
  service: 'service', host: 'host', method: 'method', path: 'path', kind: 'kind',
  reason: 'reason', client: 'client',
};

// "decision:deny api 401": every term must match; field:value matches that field (substring,
// case-insensitive), a bare word any field.
function recordMatches(record, terms) {
  for (const term of terms) {
    const colon = term.indexOf(':');
    const field = colon > 0 ? FILTER_FIELDS[term.slice(0, colon)] : undefined;
    if (field) {
      const wanted = term.slice(colon + 1);
      if (!String(record[field] ?? '').toLowerCase().includes(wanted)) return false;
    } else {
      const any = Object.keys(FILTER_FIELDS).some(
        (key) => String(record[FILTER_FIELDS[key]] ?? '').toLowerCase().includes(term));
      if (!any) return false;
    }
  }
  return true;
}

function drawRequests() {
  const filter = $('filter').value.trim().toLowerCase();
  const key = state.lastSeq + '|' + filter + '|' + state.records.length;
  if (state.drawn.requests === key) return;
  state.drawn.requests = key;
  const terms = filter ? filter.split(/\s+/) : [];
  const rows = [];
  let matched = 0;
  for (let i = state.records.length - 1; i >= 0; --i) {
    const r = state.records[i];
    if (!recordMatches(r, terms)) continue;
    ++matched;
    if (rows.length >= SHOW_RECORDS) continue;
    const tr = el('tr', { dataset: { seq: String(r.seq) } },
      td(clockTime(r.time), 'mono'),
      td(r.kind),
      td(r.decision, decisionClass(r.decision)),
      td(r.status ? r.status : '', 'num'),  // 0: no HTTP answer (a revocation)
      el('td', { className: 'mono', title: r.token_id || '' }, (r.token_id || '').slice(0, 12)),
      td(r.service),
      td(r.host, 'host'),
      td(r.method),
      td(r.path, 'mono path'),
      td(r.reason, 'reason'),
      td(Math.round((r.duration_us || 0) / 100) / 10, 'num'));
    rows.push(tr);
  }
  $('requests').tBodies[0].replaceChildren(...rows);
  $('requests-count').textContent = '(' + matched + ' of the last ' + state.records.length +
    (rows.length < matched ? ', newest ' + rows.length + ' shown' : '') + ')';
}

// ---- Tokens and revoke -------------------------------------------------------------------

function drawTokens() {
  const tokens = (state.sessions && state.sessions.tokens) || [];
  const pending = state.pendingRevoke && state.pendingRevoke.until > Date.now()
    ? state.pendingRevoke.id : null;
  const key = JSON.stringify(tokens) + '|' + pending;
  if (state.drawn.tokens === key) return;
  state.drawn.tokens = key;
  const rows = tokens.map((t) => {
    const live = Object.entries(t.live || {}).map(([kind, n]) => kind + ' ' + n).join(', ');
    let action;
    if (t.revoked) {
      action = el('span', { className: 'revoked' }, 'revoked');
    } else {
      const confirming = pending === t.token_id;
      action = el('button', {
        type: 'button',
        className: confirming ? 'revoke confirm' : 'revoke',
        dataset: { tokenId: t.token_id },
        title: 'Revoke this token and every token attenuated from it',
        onclick: () => revokeClicked(t.token_id),
      }, confirming ? 'Click again to revoke' : 'Revoke');
    }
    return el('tr', { dataset: { tokenId: t.token_id } },
      td(t.token_id, 'mono'),
      td(t.service ?? ''),
      td(t.requests ?? 0, 'num'),
      td(t.denied ?? 0, 'num'),
      td(t.bytes_in ?? 0, 'num'),
      td(t.bytes_out ?? 0, 'num'),
      td(live),
      td(t.last_seen ? clockTime(t.last_seen) : ''),
      el('td', null, action));
  });
  $('tokens').tBodies[0].replaceChildren(...rows);
  $('tokens-empty').hidden = rows.length > 0;
}

async function revokeClicked(tokenId) {
  const now = Date.now();
  if (!state.pendingRevoke || state.pendingRevoke.id !== tokenId || state.pendingRevoke.until < now) {
    // First click: ask for a second one (a revocation cannot be undone).
    state.pendingRevoke = { id: tokenId, until: now + CONFIRM_MS };
    drawTokens();
    setTimeout(drawTokens, CONFIRM_MS + 50);
    return;
  }
  state.pendingRevoke = null;
  try {
    const answer = await api('/api/v1/revoke', {
      method: 'POST',
      body: { token_id: tokenId, reason: 'revoked from the dashboard' },
    });
    setNotice('Revoked ' + tokenId + ': ' + answer.sessions_ended + ' live session(s) ended.');
    state.sessions = await api('/api/v1/sessions');
    state.lastConfigFetch = 0;  // its revocation count changed
    drawTokens();
  } catch (error) {
    if (error instanceof LoginNeeded) { showLogin(error.message); return; }
    setNotice('Revoking ' + tokenId + ' failed: ' + error.message);
  }
}

// ---- Decisions over time -----------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

function drawPlot() {
  const d = state.decisions;
  if (!d || !d.series) return;
  const key = JSON.stringify(d.series);
  if (state.drawn.plot === key) return;
  state.drawn.plot = key;
  const names = d.decisions.filter((name) => Array.isArray(d.series[name]));
  const buckets = names.length ? d.series[names[0]].length : 0;
  const bars = Math.ceil(buckets / BAR_SECONDS);
  // stacks[b][n]: decision n in bar b (the newest bar may hold fewer seconds).
  const stacks = [];
  const totals = Object.fromEntries(names.map((n) => [n, 0]));
  for (let b = 0; b < bars; ++b) {
    const stack = names.map((name) => {
      let sum = 0;
      for (let s = b * BAR_SECONDS; s < Math.min(buckets, (b + 1) * BAR_SECONDS); ++s) {
        sum += d.series[name][s];
      }
      totals[name] += sum;
      return sum;
    });
    stacks.push(stack);
  }
  const highest = Math.max(0, ...stacks.map((stack) => stack.reduce((a, b) => a + b, 0)));
  const max = Math.max(1, highest);  // the scale of an empty plot
  const svg = $('plot');
  const width = 900 / Math.max(1, bars);
  const height = 160;
  const rects = [];
  stacks.forEach((stack, b) => {
    let y = height;
    stack.forEach((count, n) => {
      if (!count) return;
      const h = (count / max) * (height - 4);
      y -= h;
      const rect = document.createElementNS(SVG, 'rect');
      rect.setAttribute('x', String(b * width));
      rect.setAttribute('y', String(y));
      rect.setAttribute('width', String(Math.max(1, width - 1)));
      rect.setAttribute('height', String(h));
      rect.setAttribute('class', decisionClass(names[n]));
      const title = document.createElementNS(SVG, 'title');
      title.textContent = names[n] + ': ' + count;
      rect.append(title);
      rects.push(rect);
    });
  });
  svg.replaceChildren(...rects);
  const minutes = Math.round(buckets / 60);
  $('plot-start').textContent = minutes + ' min ago';
  $('plot-max').textContent = 'highest bar: ' + highest + ' in ' + BAR_SECONDS + ' s';
  $('legend').replaceChildren(...names.map(
    (name) => el('li', { className: decisionClass(name) }, name + ' ' + totals[name])));
}

// ---- Configuration and reload ------------------------------------------------------------

function table(headers, rows) {
  return el('table', null,
    el('thead', null, el('tr', null, ...headers.map((h) => el('th', null, h)))),
    el('tbody', null, ...rows.map((row) => el('tr', null, ...row.map((cell) => td(cell))))));
}

function limitsText(limits) {
  return Object.entries(limits || {}).map(([k, v]) => k + ' ' + v).join(', ');
}

function drawConfig() {
  const c = state.config;
  if (!c) return;
  const key = JSON.stringify(c);
  if (state.drawn.config === key) return;
  state.drawn.config = key;
  const banner = $('reload-banner');
  const last = c.last_reload;
  if (last) {
    banner.hidden = false;
    banner.className = last.ok ? 'ok' : 'failed';
    banner.replaceChildren(last.ok
      ? 'Last reload (' + last.trigger + ', ' + clockTime(last.time) + '): applied.'
      : el('span', null, el('strong', null, 'The last reload failed'),
        ' (' + last.trigger + ', ' + clockTime(last.time) + '); the previous configuration keeps serving: ',
        el('span', { className: 'mono' }, last.error || '')));
  } else {
    banner.hidden = true;
  }
  const listeners = Object.entries(c.listeners || {}).map(([k, v]) => k + ' ' + v).join(', ');
  const parts = [
    el('p', null, 'Sources: ', el('span', { className: 'mono' }, (c.sources || []).join(', ')),
      ' · data directory ', el('span', { className: 'mono' }, c.data_dir || ''),
      ' · listeners: ' + listeners + ' · strict: ' + c.strict +
      ' · revocations: ' + c.revocations + ' · global limits: ' + (limitsText(c.limits) || 'none')),
    table(['service', 'hosts', 'credential', 'allow_private', 'limits'],
      (c.services || []).map((s) => [s.name, (s.hosts || []).join(', '), s.credential,
        String(s.allow_private), limitsText(s.limits)])),
  ];
  if ((c.databases || []).length) {
    parts.push(table(['database', 'protocol', 'listen', 'upstream', 'tls', 'logins', 'limits'],
      c.databases.map((d) => [d.name, d.protocol, d.listen, d.upstream, d.tls,
        (d.logins || []).join(', '), limitsText(d.limits)])));
  }
  parts.push(el('p', null, 'Allowed hosts: ' + ((c.allowed_hosts || []).join(', ') || 'none')));
  $('config').replaceChildren(...parts);
  $('config-json').textContent = JSON.stringify(c, null, 2);
}

async function reloadClicked() {
  try {
    const answer = await api('/api/v1/reload', { method: 'POST', body: {} });
    setNotice('Reloaded: ' + answer.services + ' service(s).');
  } catch (error) {
    if (error instanceof LoginNeeded) { showLogin(error.message); return; }
    setNotice('Reload failed: ' + error.message);
  }
  state.lastConfigFetch = 0;  // the banner shows the outcome at the next poll
  state.config = null;
}

// ---- Start -------------------------------------------------------------------------------

function start() {
  takeTokenFromFragment();
  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('login-token').value.trim();
    $('login-token').value = '';
    if (!/^[A-Za-z0-9_]+$/.test(token)) {
      $('login-error').textContent = 'That is not an admin token.';
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login-error').textContent = '';
    poll();
  });
  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('');
  });
  $('filter').addEventListener('input', drawRequests);
  $('reload').addEventListener('click', reloadClicked);
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    showLogin('');
    return;
  }
  poll();
}

document.addEventListener('DOMContentLoaded', start);
