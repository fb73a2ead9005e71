'use strict';
/*
 * fedtrace dashboard: one script for the traces list (BASE), the detail of
 * one trace (BASE + "traces/<32 hex>"), the services (BASE + "services"),
 * one service (BASE + "services/<url-encoded name>") and the service map
 * (BASE + "map").  No framework, no build step.
 *
 * Safety: everything the API returns was written, at least in part, by
 * remote servers.  The DOM is built only through el(), which adds text as
 * text nodes, sets attributes from a fixed list, and accepts an href only
 * for our own paths or a URL that parses as http:/https:.  Nothing here
 * uses innerHTML, document.write, eval or string timers; styles are set as
 * element.style properties computed from numbers (the CSP forbids inline
 * style attributes but not the CSSOM).
 */
(function () {
  // ---------------------------------------------------------------- basics

  const BASE = readBase();
  const HEX32 = /^[0-9a-f]{32}$/i;
  const FILTER_KEYS = ['type', 'direction', 'actor', 'host', 'service',
    'verification', 'error', 'since', 'until'];
  const KEY_LIST_QUERY = 'fedtrace.listQuery';
  const KEY_LOGIN_AT = 'fedtrace.loginRedirectAt';
  const KEY_LOGIN_BLOCKED = 'fedtrace.loginUseless';

  function readBase() {
    const m = document.querySelector('meta[name="fedtrace-base"]');
    const v = m ? m.getAttribute('content') || '' : '';
    // A copy served without the server's substitution still says "{{BASE}}".
    return /^\/([^\s?#\\/][^\s?#\\]*\/)?$/.test(v) ? v : '/';
  }

  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const arr = (v) => (Array.isArray(v) ? v : []);
  const uniq = (xs) => Array.from(new Set(xs));

  // sessionStorage: store(k) reads, store(k, v) writes, store(k, null) removes.
  function store(key, value) {
    try {
      if (value === undefined) return sessionStorage.getItem(key);
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch (e) { /* storage disabled: the feature degrades, nothing breaks */ }
    return null;
  }

  // ------------------------------------------------------------ DOM helper

  const ATTRS = new Set(['class', 'id', 'title', 'role', 'tabindex', 'type',
    'name', 'value', 'for', 'datetime', 'colspan', 'download', 'hidden',
    'disabled', 'open', 'method', 'placeholder', 'autocomplete', 'rel',
    'target', 'scope', 'aria-label', 'aria-expanded', 'aria-controls',
    'aria-live', 'aria-hidden', 'aria-busy', 'aria-current', 'aria-pressed',
    'aria-sort', 'spellcheck']);

  /* el('a', {href, class, 'data-testid': ...}, child, 'text', [more]).
   * Function values under on* names become event listeners (never
   * attributes); href/action go through safeHref(); any other attribute
   * must be in ATTRS or start with data-. */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (typeof v === 'function') {
          if (!/^on[a-z]+$/.test(k)) throw new Error('el: bad listener ' + k);
          e.addEventListener(k.slice(2), v);
        } else if (k === 'href' || k === 'action') {
          const ok = safeHref(String(v));
          if (ok !== null) e.setAttribute(k, ok);
        } else if (ATTRS.has(k) || /^data-[a-z-]+$/.test(k)) {
          e.setAttribute(k, v === true ? '' : String(v));
        } else {
          throw new Error('el: attribute not allowed: ' + k);
        }
      }
    }
    return add(e, kids);
  }

  function add(parent, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) add(parent, k);
      else if (k instanceof Node) parent.appendChild(k);
      else parent.appendChild(document.createTextNode(String(k)));
    }
    return parent;
  }

  // An absolute http(s) URL, or null.  The value must itself start with the
  // scheme: new URL() would forgive leading blanks and odd spellings.
  function httpUrl(v) {
    if (typeof v !== 'string' || v.length > 8192 || !/^https?:\/\//i.test(v)) return null;
    if (/[\s\u0000-\u001f\u007f]/.test(v)) return null;
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
    } catch (e) {
      return null;
    }
  }

  // Our own absolute paths (always built from BASE), in-page anchors, or
  // http(s) URLs; everything else is refused.
  function safeHref(v) {
    if (/^\/(?![/\\])[^\s\\]*$/.test(v)) return v;
    if (/^#[A-Za-z][\w-]*$/.test(v)) return v;
    const u = httpUrl(v);
    return u ? u.href : null;
  }

  // A remote URL as a link (new tab, no referrer, no ranking) or as text.
  function urlOrText(v, cls) {
    const s = String(v);
    const u = httpUrl(s);
    if (!u) return el('span', { class: cls || null }, s);
    return el('a', { href: u.href, class: ((cls || '') + ' ext').trim(), rel: 'noopener noreferrer nofollow', target: '_blank' }, s);
  }

  const vh = (text) => el('span', { class: 'vh' }, text); // read by screen readers and textContent, not seen

  // ----------------------------------------------------------- formatting

  const pad = (n, w) => String(n).padStart(w || 2, '0');

  function localTime(d, withMs) {
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) +
      (withMs ? '.' + pad(d.getMilliseconds(), 3) : '');
  }

  function relTime(ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < -5) return 'in the future';
    if (s < 5) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400 * 2) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' days ago';
  }

  // <time> showing local time, with the ISO value in title and datetime.
  function timeEl(iso, attrs, withMs) {
    const d = typeof iso === 'string' ? new Date(iso) : null;
    if (!d || isNaN(d.getTime())) return el('span', Object.assign({ class: 'muted' }, attrs), iso == null ? '—' : String(iso));
    return el('time', Object.assign({ datetime: d.toISOString(), title: iso }, attrs), localTime(d, withMs));
  }

  function fmtDur(ns) {
    if (!Number.isFinite(ns)) return '—';
    const a = Math.abs(ns);
    const t = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
    if (a < 1e3) return ns.toFixed(0) + ' ns';
    if (a < 1e6) return t(ns / 1e3) + ' µs';
    if (a < 1e9) return t(ns / 1e6) + ' ms';
    if (a < 6e10) return t(ns / 1e9) + ' s';
    const s = Math.round(ns / 1e9);
    return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  }

  // Nanosecond timestamps arrive as decimal strings: BigInt keeps them exact.
  function big(v) {
    if (typeof v === 'string' && /^\d{1,30}$/.test(v)) return BigInt(v);
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return BigInt(Math.trunc(v));
    return null;
  }
  const nsDate = (b) => new Date(Number(b / 1000000n));

  // "https://www.w3.org/ns/activitystreams#Follow" -> "Follow"
  function shortType(t) {
    const s = String(t == null ? '' : t);
    if (!/^[a-z][a-z0-9+.-]*:/i.test(s)) return s; // already short, or not an IRI
    const h = s.lastIndexOf('#');
    if (h >= 0 && h < s.length - 1) return s.slice(h + 1);
    const tail = s.replace(/\/+$/, '');
    const i = tail.lastIndexOf('/');
    return i >= 0 && i < tail.length - 1 ? tail.slice(i + 1) : s;
  }

  function prettyJson(v) {
    if (typeof v !== 'string') {
      try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); }
    }
    try { return JSON.stringify(JSON.parse(v), null, 2); } catch (e) { return v; }
  }

  // A stable colour class per service name (FNV-1a), shared by list and detail.
  const SVC_COLOURS = 12;
  function svcClass(name) {
    let h = 0x811c9dc5;
    const s = String(name);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return 'svc-' + (h % SVC_COLOURS);
  }

  function svcChip(name) {
    return el('span', { class: 'svc-chip ' + svcClass(name), title: name }, name);
  }

  // Items separated by ", " that only text readers see (the chips have gaps).
  function chipList(items, make) {
    const out = [];
    items.forEach((x, i) => { if (i) out.push(vh(', ')); out.push(make(x)); });
    return out;
  }

  // ------------------------------------------------------------ AnyValue

  // OTLP AnyValue -> plain JS value (strings, numbers, booleans, arrays,
  // null-prototype objects so that a "__proto__" key stays a key).
  function plain(v, depth) {
    depth = depth || 0;
    if (!isObj(v) || depth > 32) return null;
    if ('stringValue' in v) return String(v.stringValue);
    if ('boolValue' in v) return v.boolValue === true || v.boolValue === 'true';
    if ('intValue' in v) {
      const t = String(v.intValue);
      return /^-?\d+$/.test(t) && Number.isSafeInteger(Number(t)) ? Number(t) : t;
    }
    if ('doubleValue' in v) {
      const d = Number(v.doubleValue);
      return Number.isFinite(d) ? d : String(v.doubleValue);
    }
    if ('arrayValue' in v) return arr(v.arrayValue && v.arrayValue.values).map((x) => plain(x, depth + 1));
    if ('kvlistValue' in v) {
      const o = Object.create(null);
      for (const kv of arr(v.kvlistValue && v.kvlistValue.values)) {
        if (isObj(kv)) o[String(kv.key)] = plain(kv.value, depth + 1);
      }
      return o;
    }
    if ('bytesValue' in v) return 'base64:' + String(v.bytesValue);
    return null;
  }

  function anyText(v) {
    if (isObj(v) && 'intValue' in v) return String(v.intValue);
    const p = plain(v);
    if (typeof p === 'string') return p;
    try { return JSON.stringify(p); } catch (e) { return String(p); }
  }

  function attrMap(list) {
    const m = new Map();
    for (const a of arr(list)) if (isObj(a) && !m.has(String(a.key))) m.set(String(a.key), a.value);
    return m;
  }

  // Display of one value: links for http(s) URLs, long JSON strings folded
  // and pretty-printed, other strings as text, the rest as compact JSON.
  function valueNode(p) {
    if (typeof p === 'string') {
      if (httpUrl(p)) return urlOrText(p, 'mono');
      if (p.length > 120 && /^\s*[[{]/.test(p)) {
        const pretty = prettyJson(p);
        if (pretty !== p) {
          return el('details', { class: 'json-fold' },
            el('summary', null, 'JSON · ' + p.length.toLocaleString() + ' chars'),
            el('pre', { class: 'json' }, pretty));
        }
      }
      return el('span', { class: 'text' }, p);
    }
    if (p === null) return el('span', { class: 'muted' }, 'null');
    if (Array.isArray(p) && p.every((x) => x === null || typeof x !== 'object')) {
      return el('span', { class: 'mono' }, JSON.stringify(p)); // e.g. header values: ["*/*"]
    }
    if (typeof p === 'object') {
      let s;
      try { s = JSON.stringify(p, null, 2); } catch (e) { s = String(p); }
      return el('pre', { class: 'json small' }, s);
    }
    return el('span', { class: 'mono' }, String(p));
  }

  function attrTable(list, emptyText) {
    const rows = arr(list).filter(isObj);
    if (!rows.length) return el('p', { class: 'muted small' }, emptyText || 'none');
    return el('table', { class: 'attrs' },
      el('tbody', null, rows.map((a) =>
        el('tr', null,
          el('th', { scope: 'row', class: 'mono' }, String(a.key)),
          el('td', null, valueNode(isObj(a.value) && 'intValue' in a.value ? anyText(a.value) : plain(a.value)))))));
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function errorText(res) {
    let t = '';
    try { t = await res.text(); } catch (e) { return ''; }
    try {
      const j = JSON.parse(t);
      if (isObj(j) && typeof j.error === 'string') return j.error;
    } catch (e) { /* not JSON: show the start of the text */ }
    return t.slice(0, 300);
  }

  // Go to the login page, unless that cannot help: when the API still says
  // 401 right after a trip to the login page (e.g. it wants an API token that
  // a browser does not have), stop redirecting until an API call succeeds,
  // and show the error instead of looping.
  function goLogin() {
    if (store(KEY_LOGIN_BLOCKED)) return false;
    const last = Number(store(KEY_LOGIN_AT) || 0);
    if (Date.now() - last < 15000) { store(KEY_LOGIN_BLOCKED, '1'); return false; }
    store(KEY_LOGIN_AT, String(Date.now()));
    location.assign(BASE + 'login?next=' + encodeURIComponent(location.pathname + location.search));
    return true;
  }

  async function api(path, params) {
    const qs = params ? String(params) : '';
    const url = BASE + 'api/' + path + (qs ? '?' + qs : '');
    let res;
    try {
      res = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'cannot reach the server');
    }
    if (!res.ok) {
      const msg = (await errorText(res)) || res.statusText || 'request failed';
      if (res.status === 401) {
        const leaving = goLogin();
        throw new ApiError(401, leaving ? 'signing in…' : msg);
      }
      throw new ApiError(res.status, msg);
    }
    store(KEY_LOGIN_BLOCKED, null);
    let data;
    try { data = await res.json(); } catch (e) { throw new ApiError(res.status, 'the answer is not JSON'); }
    return { data, headers: res.headers };
  }

  function errorBox(what, err) {
    const status = err && err.status ? ' (HTTP ' + err.status + ')' : '';
    return el('div', { class: 'alert', role: 'alert', 'data-testid': 'error' },
      el('strong', null, what), ' ', String(err && err.message ? err.message : err), status);
  }

  // -------------------------------------------------------------- session

  async function loadSession() {
    const box = document.getElementById('session');
    if (!box) return;
    let data;
    try { ({ data } = await api('session')); } catch (e) { return; }
    if (!isObj(data) || !data.mode || data.mode === 'none') return;
    const user = typeof data.user === 'string' && data.user ? data.user : null;
    box.replaceChildren(
      el('form', { method: 'post', action: BASE + 'logout', class: 'logout-form' },
        el('button', { type: 'submit', class: 'btn btn-quiet', 'data-testid': 'logout', title: user ? 'signed in as ' + user : 'signed in' },
          user ? el('span', { class: 'user' }, user) : null, user ? ' ' : null, 'Log out')));
  }

  // ---------------------------------------------------------- list view

  const list = {
    gen: 0,            // bumps on every (re)load: late answers of older loads are dropped
    rows: new Map(),   // traceId -> <tr>
    cursor: null,
    es: null,
    retries: 0,
    retryTimer: 0,
    loading: false,
    error: false,
  };

  function currentFilters() {
    const q = new URLSearchParams(location.search);
    const out = new URLSearchParams();
    for (const k of FILTER_KEYS) {
      const v = (q.get(k) || '').trim();
      if (v) out.set(k, v);
    }
    const limit = q.get('limit');
    if (limit && /^\d{1,4}$/.test(limit)) out.set('limit', limit);
    return out;
  }

  function fillForm(form, params) {
    for (const k of FILTER_KEYS) {
      const f = form.elements.namedItem(k);
      if (!f) continue;
      const v = params.get(k) || '';
      if (f.type === 'checkbox') f.checked = v !== '' && v !== 'false' && v !== '0';
      else f.value = v;
    }
  }

  function formFilters(form) {
    const out = new URLSearchParams();
    for (const k of FILTER_KEYS) {
      const f = form.elements.namedItem(k);
      if (!f) continue;
      if (f.type === 'checkbox') { if (f.checked) out.set(k, f.value); } else if (f.value.trim()) out.set(k, f.value.trim());
    }
    const limit = currentFilters().get('limit');
    if (limit) out.set('limit', limit);
    return out;
  }

  function listUrl(params) {
    const qs = String(params);
    return BASE + (qs ? '?' + qs : '');
  }

  function initList(view) {
    const form = view.querySelector('[data-testid="filters"]');
    const clear = view.querySelector('[data-testid="filter-clear"]');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const url = listUrl(formFilters(form));
      if (url !== location.pathname + location.search) history.pushState(null, '', url);
      loadList();
    });
    if (clear) {
      clear.addEventListener('click', (ev) => {
        if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) return; // a new tab: let it be a link
        ev.preventDefault();
        form.reset();
        if (location.search) history.pushState(null, '', BASE);
        loadList();
      });
    }
    window.addEventListener('popstate', () => loadList());
    // Keep the "x min ago" hints fresh.
    setInterval(() => {
      for (const t of document.querySelectorAll('.rel[data-ms]')) t.textContent = relTime(Number(t.getAttribute('data-ms')));
    }, 30000);
    loadList();
  }

  function listParts() {
    return {
      form: document.querySelector('[data-testid="filters"]'),
      tbody: document.getElementById('trace-rows'),
      table: document.querySelector('[data-testid="trace-list"]'),
      status: document.getElementById('list-status'),
      more: document.getElementById('more-box'),
      note: document.getElementById('list-note'),
    };
  }

  async function loadList() {
    const gen = ++list.gen;
    const p = listParts();
    const params = currentFilters();
    fillForm(p.form, params);
    store(KEY_LIST_QUERY, location.search ? '?' + String(params) : '');
    startLive(params);
    p.tbody.replaceChildren();
    list.rows.clear();
    list.cursor = null;
    list.loading = true;
    list.error = false;
    p.status.replaceChildren();
    p.table.setAttribute('aria-busy', 'true');
    renderMore();
    renderEmpty();
    try {
      const { data, headers } = await api('traces', params);
      if (gen !== list.gen) return;
      if (!Array.isArray(data)) throw new ApiError(0, 'unexpected answer (not a list)');
      for (const s of data) placeRow(s, false);
      list.cursor = headers.get('X-Next-Cursor') || null;
    } catch (e) {
      if (gen !== list.gen) return;
      list.error = true;
      p.status.replaceChildren(errorBox('Could not load traces:', e));
    }
    list.loading = false;
    p.table.removeAttribute('aria-busy');
    renderMore();
    renderEmpty();
  }

  async function loadMore(button) {
    const gen = list.gen;
    const params = currentFilters();
    params.set('cursor', list.cursor);
    button.disabled = true;
    button.textContent = 'Loading…';
    try {
      const { data, headers } = await api('traces', params);
      if (gen !== list.gen) return;
      for (const s of arr(data)) placeRow(s, false);
      list.cursor = headers.get('X-Next-Cursor') || null;
    } catch (e) {
      if (gen !== list.gen) return;
      listParts().status.replaceChildren(errorBox('Could not load older traces:', e));
    }
    renderMore();
    renderEmpty();
  }

  function renderMore() {
    const box = listParts().more;
    box.replaceChildren();
    if (list.cursor && !list.loading) {
      box.appendChild(el('button', { type: 'button', class: 'btn', 'data-testid': 'more', onclick: (ev) => loadMore(ev.currentTarget) }, 'Older traces'));
    }
  }

  function renderEmpty() {
    const p = listParts();
    const old = document.querySelector('[data-testid="empty"]');
    const count = list.rows.size;
    p.note.textContent = list.loading ? 'loading…' : count === 1 ? '1 trace' : count + ' traces';
    if (count || list.loading || list.error) { if (old) old.remove(); return; }
    if (old) return;
    const filtered = FILTER_KEYS.some((k) => currentFilters().has(k));
    p.table.after(el('p', { class: 'empty', 'data-testid': 'empty' },
      filtered ? 'No trace matches these filters.' : 'No traces yet. Point an OTLP exporter at fedtrace and they appear here live.'));
  }

  function validSummary(s) {
    return isObj(s) && typeof s.traceId === 'string' && HEX32.test(s.traceId);
  }

  // live: from the event stream -> new rows go to the top and flash.
  function placeRow(s, live) {
    if (!validSummary(s)) return;
    const id = s.traceId.toLowerCase();
    const tbody = listParts().tbody;
    const row = traceRow(s, id);
    const old = list.rows.get(id);
    if (old) {
      old.replaceWith(row);
      if (live) flash(row, 'is-updated');
    } else if (live) {
      tbody.prepend(row);
      flash(row, 'is-new');
    } else {
      tbody.appendChild(row);
    }
    list.rows.set(id, row);
  }

  function flash(node, cls) {
    node.classList.add(cls);
    node.addEventListener('animationend', () => node.classList.remove(cls), { once: true });
    setTimeout(() => node.classList.remove(cls), 4000); // also when animations are off
  }

  function traceRow(s, id) {
    const href = BASE + 'traces/' + id;
    const types = arr(s.activityTypes).map(String);
    const shortTypes = uniq(types.map(shortType));
    const dirs = arr(s.directions).map(String);
    const services = uniq(arr(s.services).map(String));
    const hosts = uniq(arr(s.hosts).map(String));
    const actors = uniq(arr(s.actors).map(String));
    const when = Date.parse(s.timestamp);
    const count = Number.isFinite(Number(s.activityCount)) ? Number(s.activityCount) : types.length;

    const marks = [];
    if (s.verificationFailed === true) {
      marks.push(el('span', { class: 'mark mark-bad', 'data-testid': 'mark-verify-failed', title: 'signature verification failed' }, '✗ signature'));
    }
    if (s.hasError === true) {
      marks.push(el('span', { class: 'mark mark-err', 'data-testid': 'mark-error', title: 'a span of this trace ended with an error' }, '⚠ error'));
    }

    const row = el('tr', {
      class: 'trace-row', 'data-testid': 'trace-row', 'data-trace-id': id,
      onclick: (ev) => {
        // The whole row opens the trace, except its own links and a text selection.
        if (ev.target.closest('a, button') || String(window.getSelection() || '')) return;
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
        location.assign(href);
      },
    },
    el('td', { class: 'c-id', 'data-label': 'Trace' },
      el('a', { href, class: 'mono', 'data-testid': 'trace-link', title: id }, id.slice(0, 8))),
    el('td', { class: 'c-time', 'data-label': 'Time' },
      timeEl(s.timestamp, { 'data-testid': 'trace-time' }),
      Number.isFinite(when) ? el('span', { class: 'rel muted small', 'data-ms': String(when) }, relTime(when)) : null),
    el('td', { class: 'c-types', 'data-label': 'Activities' },
      el('span', { class: 'dirs', 'data-testid': 'trace-directions' },
        dirs.includes('inbound') ? el('span', { class: 'dir dir-in', title: 'inbound', 'aria-label': 'inbound' }, '↓') : null,
        dirs.includes('outbound') ? el('span', { class: 'dir dir-out', title: 'outbound', 'aria-label': 'outbound' }, '↑') : null),
      el('span', { class: 'types', 'data-testid': 'trace-types', title: types.join('\n') },
        chipList(shortTypes, (t) => el('span', { class: 'type-chip' }, t))),
      actors.length ? el('span', { class: 'actors muted small', title: actors.join('\n') },
        actors.length > 1 ? actors[0] + ' +' + (actors.length - 1) : actors[0]) : null),
    el('td', { class: 'c-count num', 'data-label': 'Activities #' },
      el('span', { 'data-testid': 'trace-count' }, String(count))),
    el('td', { class: 'c-svc', 'data-label': 'Services' },
      el('span', { class: 'services', 'data-testid': 'trace-services' }, chipList(services, svcChip)),
      hosts.length ? el('span', { class: 'hosts muted small', title: hosts.join('\n') }, hosts.join(', ')) : null),
    el('td', { class: 'c-marks', 'data-label': 'Status' },
      marks.length ? marks : el('span', { class: 'muted', title: 'no failure recorded' }, '—')));
    return row;
  }

  // ---- live updates

  function setLive(text, state) {
    const n = document.querySelector('[data-testid="live-status"]');
    if (!n) return;
    n.textContent = text;
    n.setAttribute('data-state', state);
  }

  function stopLive() {
    clearTimeout(list.retryTimer);
    if (list.es) { list.es.close(); list.es = null; }
  }

  function startLive(params) {
    stopLive();
    if (typeof EventSource !== 'function') { setLive('no live updates', 'off'); return; }
    const qs = new URLSearchParams(params);
    qs.delete('limit');
    const es = new EventSource(BASE + 'api/events' + (String(qs) ? '?' + qs : ''));
    list.es = es;
    setLive('connecting…', 'connecting');
    es.onopen = () => { if (list.es === es) { list.retries = 0; setLive('live', 'live'); } };
    es.onerror = () => {
      if (list.es !== es) return;
      if (es.readyState !== EventSource.CLOSED) { setLive('reconnecting…', 'reconnecting'); return; }
      // The browser gave up (an answer other than 200 text/event-stream, e.g.
      // 401 or 503): check the session (a 401 goes to the login page) and
      // retry ourselves, waiting longer each time.
      setLive('reconnecting…', 'reconnecting');
      const delay = Math.min(30000, 1000 * 2 ** Math.min(list.retries++, 5));
      list.retryTimer = setTimeout(() => {
        if (list.es !== es) return;
        api('session').then(() => { if (list.es === es) startLive(params); }, (e) => {
          if (list.es !== es) return;
          if (e.status === 401) setLive('offline (sign-in needed)', 'off'); // api() went to the login page, or could not
          else startLive(params);
        });
      }, delay);
    };
    const onTrace = (ev) => {
      if (list.es !== es) return;
      let s;
      try { s = JSON.parse(ev.data); } catch (e) { return; }
      placeRow(s, true);
      renderEmpty();
    };
    es.addEventListener('trace', onTrace);
    es.onmessage = onTrace; // unnamed events, should a server send them
  }

  // -------------------------------------------------------- detail view

  const KIND = { 0: 'unspecified', 1: 'internal', 2: 'server', 3: 'client', 4: 'producer', 5: 'consumer' };
  function kindName(k) {
    if (typeof k === 'number') return KIND[k] || 'kind ' + k;
    const s = String(k == null ? '' : k).toLowerCase().replace(/^span_kind_/, '');
    return s || 'unspecified';
  }
  function statusCode(st) {
    const c = isObj(st) ? st.code : undefined;
    if (c === 2 || c === 'STATUS_CODE_ERROR' || c === 'ERROR') return 'error';
    if (c === 1 || c === 'STATUS_CODE_OK' || c === 'OK') return 'ok';
    return 'unset';
  }
  const isActivityEvent = (e) => isObj(e) && /^activitypub\.activity\.(received|sent)$/.test(String(e.name));

  function backHref() {
    const q = store(KEY_LIST_QUERY) || '';
    const params = new URLSearchParams(q.startsWith('?') ? q.slice(1) : '');
    return listUrl(params); // re-serialised: only what URLSearchParams can express
  }

  async function showDetail(view, rawId) {
    view.replaceChildren(el('p', { class: 'back' }, el('a', { href: backHref() }, '← traces')));
    if (!HEX32.test(rawId)) {
      view.appendChild(el('div', { class: 'alert', role: 'alert', 'data-testid': 'not-found' },
        'Not a trace id: ', el('code', null, rawId), ' (a trace id is 32 hexadecimal digits).'));
      return;
    }
    const id = rawId.toLowerCase();
    const enc = encodeURIComponent(id);
    document.title = 'fedtrace · trace ' + id.slice(0, 8);

    const root = el('section', { class: 'detail', 'data-testid': 'trace-detail', 'data-trace-id': id },
      el('header', { class: 'detail-head' },
        el('h1', null, 'Trace ', el('code', { class: 'trace-id', 'data-testid': 'trace-id' }, id))));
    const loading = el('p', { class: 'muted' }, 'Loading…');
    root.appendChild(loading);
    view.appendChild(root);

    const [rec, spn, lg, lnk] = await Promise.allSettled([
      api('traces/' + enc), api('traces/' + enc + '/spans'), api('logs/' + enc), api('traces/' + enc + '/linked')]);
    loading.remove();

    // A 404 is "nothing stored" for every part; other failures are shown where the part goes.
    const part = (r) => {
      if (r.status === 'fulfilled') return { list: arr(r.value.data).filter(isObj), err: null };
      if (r.reason && r.reason.status === 404) return { list: [], err: null };
      return { list: [], err: r.reason };
    };
    const records = part(rec);
    const spans = part(spn);
    const logs = part(lg);

    if (!records.list.length && !spans.list.length && !logs.list.length && !records.err && !spans.err && !logs.err) {
      root.appendChild(el('div', { class: 'notice', 'data-testid': 'not-found' },
        el('h2', null, 'No such trace'),
        el('p', null, 'Nothing is stored for this trace id. It may have expired, or its spans have not arrived yet.')));
      return;
    }

    const ctx = buildContext(id, records.list, spans.list, logs.list);
    // Incoming links need the server's index; it may not have one (404): then
    // only the outgoing links of the spans themselves are shown.
    const linked = lnk.status === 'fulfilled' && isObj(lnk.value.data) ? lnk.value.data : null;
    const linkedErr = lnk.status === 'rejected' && !(lnk.reason && lnk.reason.status === 404) ? lnk.reason : null;
    const links = linkedTraces(ctx, linked);
    root.querySelector('.detail-head').append(...detailHeader(ctx, enc));
    root.appendChild(el('nav', { class: 'jump', 'aria-label': 'sections' },
      el('a', { href: '#activities' }, 'Activities ', el('span', { class: 'count' }, String(records.list.length))),
      el('a', { href: '#waterfall' }, 'Spans ', el('span', { class: 'count' }, String(spans.list.length))),
      el('a', { href: '#linked' }, 'Linked ', el('span', { class: 'count' }, String(links.outgoing.length + links.incoming.length))),
      el('a', { href: '#logs' }, 'Logs ', el('span', { class: 'count' }, String(logs.list.length)))));
    root.appendChild(activitiesSection(ctx, records.err));
    root.appendChild(waterfallSection(ctx, spans.err));
    root.appendChild(linkedSection(ctx, links, linkedErr));
    root.appendChild(logsSection(ctx, logs.err));
    // BASE/traces/<id>#span-<16 hex> (from a linked trace): open that span.
    const fromHash = () => {
      const want = /^#span-([0-9a-f]{16})$/i.exec(location.hash);
      if (!want) return;
      const sid = ctx.rowsBySpan.has(want[1]) ? want[1] : want[1].toLowerCase();
      if (ctx.rowsBySpan.has(sid)) revealSpan(ctx, sid);
    };
    fromHash();
    window.addEventListener('hashchange', fromHash);
  }

  // Everything the three sections share: the span tree, the time origin, services.
  function buildContext(id, records, spans, logs) {
    const nodes = spans.map((s, i) => {
      const res = attrMap(isObj(s.resource) ? s.resource.attributes : null);
      const service = res.has('service.name') ? anyText(res.get('service.name')) : 'unknown service';
      const nodeAttr = res.get('host.name') || res.get('service.instance.id');
      return {
        s, i, kids: [], size: 0, depth: 0,
        id: typeof s.spanId === 'string' ? s.spanId : '',
        start: big(s.startTimeUnixNano),
        end: big(s.endTimeUnixNano),
        service,
        node: nodeAttr ? anyText(nodeAttr) : '',
        peer: spanPeer(s),
      };
    });
    let t0 = null;
    let t1 = null;
    for (const n of nodes) {
      if (n.start !== null && (t0 === null || n.start < t0)) t0 = n.start;
      const e = n.end !== null && n.start !== null && n.end >= n.start ? n.end : n.start;
      if (e !== null && (t1 === null || e > t1)) t1 = e;
    }
    const order = spanOrder(nodes);
    const recordsBySpan = new Map();
    for (const r of records) {
      const k = String(r.spanId);
      if (!recordsBySpan.has(k)) recordsBySpan.set(k, []);
      recordsBySpan.get(k).push(r);
    }
    return {
      id, records, spans, logs, nodes, order, recordsBySpan,
      t0, total: t0 !== null && t1 !== null ? Number(t1 - t0) : 0,
      services: uniq(order.map((n) => n.service)),
      peers: uniqPeers(order.map((n) => n.peer).filter(Boolean)),
      rowsBySpan: new Map(), // spanId -> row element, filled by the waterfall
    };
  }

  // The service a span calls without that service being instrumented, as the
  // server inferred it: {service, kind, system}, or null.
  function spanPeer(s) {
    const p = s.peer;
    if (!isObj(p) || typeof p.service !== 'string' || !p.service) return null;
    return {
      service: p.service,
      kind: typeof p.kind === 'string' && p.kind ? p.kind : 'service',
      system: typeof p.system === 'string' ? p.system : '',
    };
  }

  function uniqPeers(peers) {
    const m = new Map();
    for (const p of peers) if (!m.has(p.service)) m.set(p.service, p);
    return Array.from(m.values());
  }

  // Depth-first order of the span tree (children by start time).  Spans whose
  // parent is missing are roots; spans caught in a parent cycle (hostile
  // data) are appended as roots too.  Iterative, so deep chains cannot blow
  // the stack.  n.size = number of descendants (rows that follow n).
  function spanOrder(nodes) {
    const byId = new Map();
    for (const n of nodes) if (n.id && !byId.has(n.id)) byId.set(n.id, n);
    const roots = [];
    for (const n of nodes) {
      const p = typeof n.s.parentSpanId === 'string' && n.s.parentSpanId ? byId.get(n.s.parentSpanId) : null;
      if (p && p !== n) p.kids.push(n); else roots.push(n);
    }
    const byStart = (a, b) => {
      if (a.start !== null && b.start !== null && a.start !== b.start) return a.start < b.start ? -1 : 1;
      if ((a.start === null) !== (b.start === null)) return a.start === null ? 1 : -1;
      return a.i - b.i;
    };
    const order = [];
    const seen = new Set();
    const walk = (root) => {
      const stack = [[root, 0]];
      while (stack.length) {
        const [n, d] = stack.pop();
        if (seen.has(n)) continue;
        seen.add(n);
        n.depth = d;
        n.pos = order.length;
        order.push(n);
        const kids = n.kids.slice().sort(byStart);
        for (let k = kids.length - 1; k >= 0; k--) stack.push([kids[k], d + 1]);
      }
    };
    roots.sort(byStart).forEach(walk);
    for (const n of nodes.slice().sort(byStart)) if (!seen.has(n)) walk(n);
    // Subtree sizes: a node's descendants are the following rows deeper than it.
    for (let i = 0; i < order.length; i++) {
      let j = i + 1;
      while (j < order.length && order[j].depth > order[i].depth) j++;
      order[i].size = j - i - 1;
    }
    return order;
  }

  function detailHeader(ctx, enc) {
    const inbound = ctx.records.filter((r) => r.direction === 'inbound').length;
    const outbound = ctx.records.filter((r) => r.direction === 'outbound').length;
    const failed = ctx.records.filter((r) => r.verified === false).length;
    const errors = ctx.nodes.filter((n) => statusCode(n.s.status) === 'error').length;
    const nodes = uniq(ctx.nodes.map((n) => n.node).filter(Boolean));
    let started = null;
    if (ctx.t0 !== null) {
      const d = nsDate(ctx.t0);
      started = el('time', { datetime: d.toISOString(), title: d.toISOString() }, localTime(d, true));
    } else if (ctx.records.length) {
      started = timeEl(ctx.records.map((r) => String(r.timestamp)).sort()[0], null, true);
    }
    const fact = (label, ...value) => el('div', { class: 'fact' }, el('dt', null, label), el('dd', null, value));
    const wideFact = (label, ...value) => el('div', { class: 'fact wide' }, el('dt', null, label), el('dd', null, value));
    const out = [];
    out.push(el('dl', { class: 'facts' },
      fact('Started', started || '—'),
      fact('Duration', ctx.t0 !== null ? fmtDur(ctx.total) : '—'),
      fact('Activities', String(ctx.records.length),
        ctx.records.length ? el('span', { class: 'muted' }, ' (↓ ' + inbound + ' in, ↑ ' + outbound + ' out)') : null),
      fact('Spans', String(ctx.nodes.length), errors ? el('span', { class: 'bad-text' }, ' · ' + errors + ' with errors') : null),
      fact('Logs', String(ctx.logs.length)),
      wideFact('Services', ctx.services.length ? chipList(ctx.services, svcChip) : '—'),
      ctx.peers.length ? wideFact('Inferred services', chipList(ctx.peers, peerChip)) : null,
      nodes.length ? wideFact('Nodes', nodes.join(', ')) : null));
    const actions = el('div', { class: 'actions' },
      el('a', { class: 'btn', href: BASE + 'api/traces/' + enc + '/otlp', download: 'trace-' + ctx.id + '.json', 'data-testid': 'download-otlp' }, 'Download OTLP JSON'),
      el('button', { type: 'button', class: 'btn btn-quiet', onclick: () => location.reload() }, '↻ Reload'));
    if (navigator.clipboard && window.isSecureContext) {
      actions.appendChild(el('button', {
        type: 'button', class: 'btn btn-quiet',
        onclick: (ev) => {
          const b = ev.currentTarget;
          navigator.clipboard.writeText(ctx.id).then(() => { b.textContent = '✓ Copied'; }, () => { b.textContent = 'Copy failed'; });
        },
      }, 'Copy id'));
    }
    out.push(actions);
    if (failed) {
      out.push(el('p', { class: 'alert alert-bad', role: 'status' },
        '✗ ' + failed + (failed === 1 ? ' activity' : ' activities') + ' failed signature verification.'));
    }
    return out;
  }

  // ---- activities

  const FIELD_ORDER = ['activityType', 'direction', 'verified', 'signatureDetails', 'activityId',
    'actorId', 'inboxUrl', 'timestamp', 'traceId', 'spanId', 'parentSpanId'];

  function activitiesSection(ctx, err) {
    const sec = el('section', { class: 'block', id: 'activities', 'data-testid': 'activities' },
      el('h2', null, 'Activities'));
    if (err) sec.appendChild(errorBox('Could not load the activities:', err));
    else if (!ctx.records.length) sec.appendChild(el('p', { class: 'muted' }, 'No ActivityPub activity in this trace.'));
    const sorted = ctx.records.slice().sort((a, b) => String(a.timestamp).localeCompare(String(b.timestamp)));
    const grid = el('div', { class: 'cards' });
    for (const r of sorted) grid.appendChild(activityCard(r, ctx));
    sec.appendChild(grid);
    return sec;
  }

  function activityCard(r, ctx) {
    const dir = r.direction === 'inbound' || r.direction === 'outbound' ? r.direction : 'other';
    const failed = r.verified === false;
    const keys = Object.keys(r);
    const ordered = FIELD_ORDER.filter((k) => keys.includes(k))
      .concat(keys.filter((k) => !FIELD_ORDER.includes(k) && k !== 'activityJson'))
      .concat(keys.includes('activityJson') ? ['activityJson'] : []);
    const spanId = typeof r.spanId === 'string' ? r.spanId : '';

    const head = el('header', { class: 'activity-head' },
      el('span', { class: 'dir dir-' + (dir === 'inbound' ? 'in' : 'out'), title: dir, 'aria-label': dir }, dir === 'inbound' ? '↓' : dir === 'outbound' ? '↑' : '•'),
      el('h3', { title: String(r.activityType) }, shortType(r.activityType)),
      el('span', { class: 'muted' }, dir),
      failed ? el('strong', { class: 'badge badge-bad big' }, '✗ signature verification failed')
        : r.verified === true ? el('span', { class: 'badge badge-yes' }, '✓ verified') : null,
      el('span', { class: 'grow' }),
      timeEl(r.timestamp, { class: 'muted small' }, true),
      spanId ? el('button', { type: 'button', class: 'btn btn-small btn-quiet', title: 'show the span that carried this activity', onclick: () => revealSpan(ctx, spanId) }, 'span ↘') : null);

    const dl = el('dl', { class: 'fields' });
    for (const k of ordered) dl.appendChild(fieldRow(k, r[k], 0));
    return el('article', { class: 'card activity dir-' + dir + (failed ? ' unverified' : ''), 'data-testid': 'activity', 'data-span-id': spanId || null }, head, dl);
  }

  // <div><dt>key</dt><dd data-field=key>value</dd></div>, nested for objects.
  function fieldRow(key, v, depth) {
    return el('div', { class: 'field' + (key === 'activityJson' ? ' wide' : '') },
      el('dt', { class: 'mono' }, key),
      el('dd', { 'data-field': key }, fieldValue(key, v, depth)));
  }

  function fieldValue(key, v, depth) {
    if (key === 'activityJson') {
      const raw = typeof v === 'string' ? v : prettyJson(v);
      return el('details', { 'data-testid': 'activity-json', class: 'json-fold' },
        el('summary', null, 'Activity JSON · ' + raw.length.toLocaleString() + ' chars'),
        el('pre', { class: 'json' }, prettyJson(v)));
    }
    if (typeof v === 'boolean') {
      const cls = v ? 'badge-yes' : key === 'verified' ? 'badge-bad' : 'badge-no';
      return el('span', { class: 'badge ' + cls, 'data-value': String(v) }, v ? 'yes' : 'no');
    }
    if (v === null || v === undefined) return el('span', { class: 'muted' }, 'null');
    if (isObj(v) && depth < 4) {
      const dl = el('dl', { class: 'fields nested' });
      for (const k of Object.keys(v)) dl.appendChild(fieldRow(k, v[k], depth + 1));
      return dl;
    }
    if (typeof v === 'object') return el('pre', { class: 'json small' }, prettyJson(v));
    const s = String(v);
    const bad = (/FailureReason$|FetchError$/.test(key) && s) || (key === 'httpSignaturesKeyFetchStatus' && Number(v) >= 400);
    if (bad) return el('span', { class: 'bad-text' }, s);
    if (/Id$|Url$|IRI$|Type$/.test(key) || httpUrl(s)) return urlOrText(s, 'mono');
    return el('span', null, s);
  }

  // ---- waterfall

  function waterfallSection(ctx, err) {
    const sec = el('section', { class: 'block', id: 'waterfall', 'data-testid': 'waterfall' },
      el('h2', null, 'Spans'));
    if (err) { sec.appendChild(errorBox('Could not load the spans:', err)); return sec; }
    if (!ctx.order.length) { sec.appendChild(el('p', { class: 'muted' }, 'No spans stored for this trace.')); return sec; }

    const legend = el('p', { class: 'legend small', 'data-testid': 'wf-legend' }, chipList(ctx.services, svcChip),
      ctx.peers.length ? [vh(', '), el('span', { class: 'legend-sep muted', title: 'services that send no spans of their own, inferred from the calls to them' }, 'inferred:'), ' ',
        chipList(ctx.peers, peerChip)] : null,
      el('span', { class: 'muted' }, ' · click a row for its details'));
    const axis = el('div', { class: 'wf-axis', 'aria-hidden': 'true' }, el('div', { class: 'wf-label muted small' }, 'service · span'));
    const ticks = el('div', { class: 'wf-time' });
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const t = el('span', { class: 'tick' + (f === 1 ? ' last' : '') + (f === 0.25 || f === 0.75 ? ' minor' : '') }, fmtDur(ctx.total * f));
      t.style.left = f * 100 + '%';
      ticks.appendChild(t);
    }
    axis.appendChild(ticks);

    const rows = el('div', { class: 'wf-rows', role: 'list' });
    const state = { collapsed: new Set(), panels: new Map() };
    for (const n of ctx.order) {
      const row = spanRow(n, ctx, state, rows);
      rows.appendChild(row);
      if (n.id && !ctx.rowsBySpan.has(n.id)) ctx.rowsBySpan.set(n.id, row);
    }
    ctx.toggleSpan = (n, row, force) => toggleDetail(n, row, ctx, state, force);
    sec.append(legend, el('div', { class: 'wf' }, axis, rows));
    return sec;
  }

  function pct(ns, total) {
    if (!(total > 0)) return 0;
    return Math.min(100, Math.max(0, (ns / total) * 100));
  }

  function spanRow(n, ctx, state, rowsBox) {
    const s = n.s;
    const err = statusCode(s.status) === 'error';
    const acts = ctx.recordsBySpan.get(n.id) || [];
    const actEvents = arr(s.events).filter(isActivityEvent);
    const name = typeof s.name === 'string' && s.name ? s.name : '(no name)';
    const startOff = n.start !== null && ctx.t0 !== null ? Number(n.start - ctx.t0) : 0;
    const dur = n.start !== null && n.end !== null && n.end >= n.start ? Number(n.end - n.start) : 0;

    const left = pct(startOff, ctx.total);
    const width = ctx.total > 0 ? Math.min(100 - left, pct(dur, ctx.total)) : 100;
    const peer = n.peer;
    const bar = el('span', { class: 'bar ' + (peer ? svcClass(peer.service) + ' is-inferred' : svcClass(n.service)) + (err ? ' is-error' : '') });
    bar.style.left = left + '%';
    bar.style.width = width + '%';
    const durLabel = el('span', { class: 'dur small' }, fmtDur(dur));
    // The duration sits right of the bar; left of it when the bar ends late;
    // inside its end when the bar spans nearly everything.
    if (left + width <= 70) durLabel.style.left = (left + width) + '%';
    else if (left >= 25) durLabel.style.right = (100 - left) + '%';
    else { durLabel.style.right = (100 - left - width) + '%'; durLabel.classList.add('inside'); }
    const timeline = el('div', { class: 'wf-time' }, bar, durLabel);
    for (const e of arr(s.events).filter(isObj)) {
      const et = big(e.timeUnixNano);
      if (et === null || ctx.t0 === null) continue;
      const tick = el('span', { class: 'evt' + (isActivityEvent(e) ? ' evt-act' : ''), title: String(e.name) });
      tick.style.left = pct(Number(et - ctx.t0), ctx.total) + '%';
      timeline.appendChild(tick);
    }

    const actLabel = uniq(acts.map((r) => (r.direction === 'inbound' ? '↓ ' : '↑ ') + shortType(r.activityType)));
    const marks = [];
    if (err) marks.push(el('span', { class: 'mark mark-err', title: 'status error' + (isObj(s.status) && s.status.message ? ': ' + String(s.status.message) : '') }, '⚠'));
    if (acts.length || actEvents.length) {
      marks.push(el('span', { class: 'mark mark-act', title: 'carries an ActivityPub activity' }, '✉ ', actLabel.join(', ')));
    }

    const twisty = n.size ? el('button', {
      type: 'button', class: 'twisty', 'aria-expanded': 'true', 'aria-label': 'collapse children', title: n.size + ' nested spans',
      onclick: (ev) => {
        ev.stopPropagation();
        const open = state.collapsed.has(n.pos);
        if (open) state.collapsed.delete(n.pos); else state.collapsed.add(n.pos);
        ev.currentTarget.setAttribute('aria-expanded', String(open));
        ev.currentTarget.setAttribute('aria-label', open ? 'collapse children' : 'expand children');
        applyCollapse(ctx, state, rowsBox);
      },
    }) : el('span', { class: 'twisty-gap' });

    // A span calling an inferred service shows that service as its own
    // (hatched, with the kind's icon); the instrumented caller stays, smaller.
    const meta = peer
      ? el('span', { class: 'wf-meta small' },
        el('span', { class: 'wf-peer kind-' + kindOf(peer.kind), 'data-testid': 'span-peer', 'data-kind': peer.kind, title: peerTitle(peer) }, peerLabel(peer)),
        el('span', { class: 'wf-caller muted', title: 'called by ' + n.service + (n.node ? ' @ ' + n.node : '') },
          ' by ', el('span', { class: 'wf-svc' }, n.service), n.node ? el('span', { class: 'wf-node' }, ' @ ' + n.node) : null,
          ' · ' + kindName(s.kind)))
      : el('span', { class: 'wf-meta muted small' },
        el('span', { class: 'wf-svc' }, n.service),
        n.node ? el('span', { class: 'wf-node' }, ' @ ' + n.node) : null,
        ' · ' + kindName(s.kind));
    const label = el('div', { class: 'wf-label' },
      twisty,
      el('span', { class: 'swatch ' + (peer ? svcClass(peer.service) + ' is-inferred' : svcClass(n.service)) }),
      el('span', { class: 'wf-text' },
        el('span', { class: 'wf-name' }, name, ' ', marks),
        meta));

    const row = el('div', {
      class: 'span-row' + (err ? ' is-error' : '') + (acts.length || actEvents.length ? ' has-activity' : '') + (peer ? ' has-peer' : ''),
      'data-testid': 'span-row', 'data-span-id': n.id, role: 'listitem', tabindex: '0', 'aria-expanded': 'false',
      'data-service': n.service, 'data-peer': peer ? peer.service : null, 'data-peer-kind': peer ? peer.kind : null,
      title: name + ' — ' + fmtDur(dur),
      onclick: () => toggleDetail(n, row, ctx, state),
      onkeydown: (ev) => {
        if (ev.target !== row || (ev.key !== 'Enter' && ev.key !== ' ')) return;
        ev.preventDefault();
        toggleDetail(n, row, ctx, state);
      },
    }, label, timeline);
    row.style.setProperty('--depth', String(Math.min(n.depth, 32))); // indent of label (and narrow timeline)
    row.wfNode = n;
    return row;
  }

  function applyCollapse(ctx, state, rowsBox) {
    let hideUntil = -1;
    for (const row of rowsBox.children) {
      const n = row.wfNode;
      if (!n) continue;
      const hidden = n.pos <= hideUntil;
      row.hidden = hidden;
      const panel = state.panels.get(n.pos);
      if (panel) panel.hidden = hidden;
      if (!hidden && state.collapsed.has(n.pos)) hideUntil = Math.max(hideUntil, n.pos + n.size);
    }
  }

  function toggleDetail(n, row, ctx, state, force) {
    const open = state.panels.get(n.pos);
    if (open && force !== true) {
      open.remove();
      state.panels.delete(n.pos);
      row.setAttribute('aria-expanded', 'false');
      row.classList.remove('is-open');
      return;
    }
    if (open) return;
    const panel = spanDetail(n, ctx);
    row.after(panel);
    state.panels.set(n.pos, panel);
    row.setAttribute('aria-expanded', 'true');
    row.classList.add('is-open');
  }

  // From an activity card or a log row: open the span, scroll to it, flash it.
  function revealSpan(ctx, spanId) {
    const row = ctx.rowsBySpan.get(spanId);
    if (!row) return;
    if (row.hidden) { // inside a collapsed subtree: expand everything
      for (const b of document.querySelectorAll('.twisty[aria-expanded="false"]')) b.click();
    }
    if (ctx.toggleSpan) ctx.toggleSpan(row.wfNode, row, true);
    row.scrollIntoView({ block: 'center', behavior: 'smooth' });
    row.focus({ preventScroll: true });
    flash(row, 'is-flash');
  }

  function spanDetail(n, ctx) {
    const s = n.s;
    const st = statusCode(s.status);
    const startOff = n.start !== null && ctx.t0 !== null ? Number(n.start - ctx.t0) : NaN;
    const dur = n.start !== null && n.end !== null && n.end >= n.start ? Number(n.end - n.start) : NaN;
    const fact = (label, ...v) => el('div', { class: 'fact' }, el('dt', null, label), el('dd', null, v));
    const wideFact = (label, ...v) => el('div', { class: 'fact wide' }, el('dt', null, label), el('dd', null, v));
    const idLink = (v) => (typeof v === 'string' && v ? el('code', null, v) : el('span', { class: 'muted' }, '—'));

    const scope = isObj(s.scope) ? s.scope : {};
    const facts = el('dl', { class: 'facts small' },
      fact('Span ID', idLink(s.spanId)),
      fact('Parent', s.parentSpanId && ctx.rowsBySpan.has(s.parentSpanId)
        ? el('button', { type: 'button', class: 'linkish mono', onclick: () => revealSpan(ctx, s.parentSpanId) }, s.parentSpanId)
        : idLink(s.parentSpanId)),
      fact('Trace ID', idLink(s.traceId)),
      fact('Kind', kindName(s.kind) + (s.kind !== undefined ? ' (' + String(s.kind) + ')' : '')),
      fact('Start', n.start !== null ? el('time', { title: nsDate(n.start).toISOString() }, localTime(nsDate(n.start), true)) : '—',
        Number.isFinite(startOff) ? el('span', { class: 'muted' }, ' (+' + fmtDur(startOff) + ')') : null),
      fact('Duration', fmtDur(dur)),
      fact('Status', el('span', { class: 'badge ' + (st === 'error' ? 'badge-bad' : st === 'ok' ? 'badge-yes' : 'badge-no'), 'data-testid': 'span-status' }, st),
        isObj(s.status) && s.status.message ? el('span', { class: st === 'error' ? 'bad-text' : '' }, ' ' + String(s.status.message)) : null),
      fact('Service', el('a', { href: serviceHref(n.service), class: 'plain-link', title: 'the service page' }, svcChip(n.service)),
        n.node ? [' @ ', el('span', { class: 'span-node', 'data-testid': 'span-node', title: 'host.name (or service.instance.id) of the span\'s resource' }, n.node)] : null),
      n.peer ? wideFact('Calls (inferred)', el('a', { href: serviceHref(n.peer.service), class: 'plain-link', title: 'the service page', 'data-testid': 'span-peer-link' }, peerChip(n.peer))) : null,
      fact('Scope', scope.name ? String(scope.name) : '—', scope.version ? el('span', { class: 'muted' }, ' ' + String(scope.version)) : null));

    const events = arr(s.events).filter(isObj);
    const eventList = events.length ? el('ol', { class: 'events' }, events.map((e) => {
      const et = big(e.timeUnixNano);
      const off = et !== null && n.start !== null ? fmtDur(Number(et - n.start)) : '—';
      return el('li', { class: 'event' + (isActivityEvent(e) ? ' evt-act' : '') },
        el('div', { class: 'event-head' }, el('strong', null, String(e.name == null ? '(no name)' : e.name)),
          el('span', { class: 'muted small' }, ' +' + off + ' from span start')),
        attrTable(e.attributes, 'no attributes'));
    })) : el('p', { class: 'muted small' }, 'none');

    const links = arr(s.links).filter(isObj);
    const linkList = links.length ? el('ul', { class: 'links' }, links.map((l) => {
      const tid = typeof l.traceId === 'string' ? l.traceId : '';
      const other = HEX32.test(tid) && tid.toLowerCase() !== ctx.id;
      return el('li', null,
        'trace ', other ? el('a', { href: BASE + 'traces/' + tid.toLowerCase(), class: 'mono' }, tid) : el('code', null, tid || '—'),
        ' span ', el('code', null, String(l.spanId == null ? '—' : l.spanId)),
        attrTable(l.attributes, 'no attributes'));
    })) : el('p', { class: 'muted small' }, 'none');

    const known = new Set(['traceId', 'spanId', 'parentSpanId', 'name', 'kind', 'startTimeUnixNano', 'endTimeUnixNano',
      'attributes', 'events', 'links', 'status', 'resource', 'scope', 'peer']);
    const extra = Object.keys(s).filter((k) => !known.has(k));

    return el('div', { class: 'span-detail', 'data-testid': 'span-detail', 'data-span-id': n.id, role: 'region', 'aria-label': 'span details' },
      el('h3', null, String(s.name == null ? '(no name)' : s.name)),
      facts,
      el('h4', null, 'Attributes'), attrTable(s.attributes),
      el('h4', null, 'Events'), eventList,
      el('h4', null, 'Links'), linkList,
      el('h4', null, 'Resource'), attrTable(isObj(s.resource) ? s.resource.attributes : null),
      extra.length ? [el('h4', null, 'Other fields'),
        el('dl', { class: 'fields' }, extra.map((k) => fieldRow(k, s[k], 0)))] : null);
  }

  // ---- linked traces

  // Outgoing: the links[] of this trace's spans (plus what the server knows);
  // incoming: other traces' spans linking to this one (api/traces/<id>/linked).
  function linkedTraces(ctx, linked) {
    const outgoing = [];
    const incoming = [];
    const seen = new Set();
    const hex = (v) => (typeof v === 'string' && HEX32.test(v) ? v.toLowerCase() : '');
    const str = (v) => (typeof v === 'string' ? v : '');
    const spanName = (id) => {
      const row = id ? ctx.rowsBySpan.get(id) : null;
      const n = row ? row.wfNode : ctx.nodes.find((x) => x.id === id);
      return n ? { service: n.service, name: str(n.s.name) } : null;
    };
    const push = (listOf, key, item) => {
      if (seen.has(key)) return;
      seen.add(key);
      listOf.push(item);
    };
    for (const n of ctx.nodes) {
      for (const l of arr(n.s.links).filter(isObj)) {
        const tid = hex(l.traceId);
        if (!tid || tid === ctx.id) continue;
        push(outgoing, 'o ' + tid + ' ' + str(l.spanId) + ' ' + n.id, {
          traceId: tid, spanId: str(l.spanId), fromSpanId: n.id, fromService: n.service, fromName: str(n.s.name), attributes: l.attributes,
        });
      }
    }
    if (isObj(linked)) {
      for (const o of arr(linked.outgoing).filter(isObj)) {
        const tid = hex(o.traceId);
        if (!tid || tid === ctx.id) continue;
        const known = spanName(str(o.fromSpanId));
        push(outgoing, 'o ' + tid + ' ' + str(o.spanId) + ' ' + str(o.fromSpanId), {
          traceId: tid, spanId: str(o.spanId), fromSpanId: str(o.fromSpanId),
          fromService: str(o.fromService) || (known ? known.service : ''), fromName: str(o.fromName) || (known ? known.name : ''),
        });
      }
      for (const o of arr(linked.incoming).filter(isObj)) {
        // The other trace is fromTraceId; should a server put it in traceId, take that.
        const other = hex(o.fromTraceId) && hex(o.fromTraceId) !== ctx.id ? hex(o.fromTraceId) : hex(o.traceId);
        if (!other || other === ctx.id) continue;
        const here = hex(o.traceId) === ctx.id || !hex(o.traceId) ? str(o.spanId) : '';
        push(incoming, 'i ' + other + ' ' + str(o.fromSpanId) + ' ' + here, {
          traceId: other, spanId: str(o.fromSpanId), toSpanId: here, fromService: str(o.fromService), fromName: str(o.fromName),
        });
      }
    }
    return { outgoing, incoming };
  }

  function linkedSection(ctx, links, err) {
    const sec = el('section', { class: 'block', id: 'linked', 'data-testid': 'linked-traces' }, el('h2', null, 'Linked traces'));
    if (err) sec.appendChild(el('p', { class: 'muted small', 'data-testid': 'linked-error' },
      'Incoming links could not be loaded: ' + String(err.message || err) + (err.status ? ' (HTTP ' + err.status + ')' : '')));
    const spanRef = (id, text) => (id && ctx.rowsBySpan.has(id)
      ? el('button', { type: 'button', class: 'linkish', title: 'show span ' + id, onclick: () => revealSpan(ctx, id) }, text)
      : el('span', { title: id ? 'span ' + id : null }, text));
    const other = (tid, spanId) => el('a', {
      href: BASE + 'traces/' + tid + (/^[0-9a-f]{16}$/i.test(spanId) ? '#span-' + spanId.toLowerCase() : ''),
      class: 'mono', 'data-testid': 'linked-link', title: tid + (spanId ? ' span ' + spanId : ''),
    }, tid.slice(0, 8));
    const who = (service, name) => [
      name ? el('span', { class: 'linked-name' }, name) : el('span', { class: 'muted' }, 'a span'),
      service ? [' ', el('span', { class: 'muted small' }, '(' + service + ')')] : null];
    const attrsText = (list) => {
      const parts = arr(list).filter(isObj).map((a) => String(a.key) + '=' + anyText(a.value));
      return parts.length ? el('span', { class: 'linked-attrs muted small mono' }, parts.join(' ')) : null;
    };
    const group = (title, items, make, none) => [
      el('h3', { class: 'linked-h' }, title, ' ', el('span', { class: 'count muted' }, String(items.length))),
      items.length ? el('ul', { class: 'linked-list' }, items.map(make)) : el('p', { class: 'muted small' }, none)];

    sec.append(
      ...group('→ Outgoing', links.outgoing, (l) => el('li', { 'data-testid': 'linked-trace', 'data-direction': 'outgoing', 'data-trace-id': l.traceId },
        spanRef(l.fromSpanId, who(l.fromService, l.fromName)), ' links to trace ', other(l.traceId, l.spanId),
        l.spanId ? [' span ', el('code', { class: 'small' }, l.spanId)] : null, ' ', attrsText(l.attributes)),
      'No span of this trace links to another trace.'),
      ...group('← Incoming', links.incoming, (l) => el('li', { 'data-testid': 'linked-trace', 'data-direction': 'incoming', 'data-trace-id': l.traceId },
        'trace ', other(l.traceId, l.spanId), ': ', who(l.fromService, l.fromName),
        l.toSpanId ? [' links to ', spanRef(l.toSpanId, 'span ' + l.toSpanId)] : ' links here'),
      'No other trace links to this one.'));
    return sec;
  }

  // ---- logs

  const SEVERITY = ['', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'];
  function severity(rec) {
    const num = Number(rec.severityNumber);
    const band = Number.isFinite(num) && num >= 1 && num <= 24 ? SEVERITY[Math.ceil(num / 4)] : '';
    const text = typeof rec.severityText === 'string' && rec.severityText ? rec.severityText : band.toUpperCase() || '—';
    return { band: band || 'unset', text, num: Number.isFinite(num) && num ? num : null };
  }

  function logsSection(ctx, err) {
    const sec = el('section', { class: 'block', id: 'logs', 'data-testid': 'logs' }, el('h2', null, 'Logs'));
    if (err) { sec.appendChild(errorBox('Could not load the log records:', err)); return sec; }
    if (!ctx.logs.length) { sec.appendChild(el('p', { class: 'muted' }, 'No log record carries this trace id.')); return sec; }
    const when = (r) => big(r.timeUnixNano) || big(r.observedTimeUnixNano);
    const sorted = ctx.logs.slice().sort((a, b) => {
      const x = when(a); const y = when(b);
      if (x === null || y === null) return (x === null) - (y === null);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const tbody = el('tbody');
    for (const r of sorted) {
      const t = when(r);
      const sev = severity(r);
      const res = attrMap(isObj(r.resource) ? r.resource.attributes : null);
      const service = res.has('service.name') ? anyText(res.get('service.name')) : '';
      const spanId = typeof r.spanId === 'string' ? r.spanId : '';
      const body = isObj(r.body) && 'stringValue' in r.body ? String(r.body.stringValue) : r.body === undefined ? '' : anyText(r.body);
      tbody.appendChild(el('tr', { class: 'log-row sev-' + sev.band, 'data-testid': 'log-row' },
        el('td', { class: 'c-time', 'data-label': 'Time' },
          t !== null ? el('time', { title: nsDate(t).toISOString() }, localTime(nsDate(t), true)) : '—',
          t !== null && ctx.t0 !== null ? el('span', { class: 'muted small rel-off' }, (t >= ctx.t0 ? '+' : '') + fmtDur(Number(t - ctx.t0))) : null),
        el('td', { class: 'c-sev', 'data-label': 'Severity' },
          el('span', { class: 'sev', title: sev.num !== null ? 'severity number ' + sev.num : 'no severity number' }, sev.text)),
        el('td', { class: 'c-svc', 'data-label': 'Service' }, service ? svcChip(service) : '—'),
        el('td', { class: 'c-body', 'data-label': 'Body' }, el('span', { class: 'log-body', 'data-testid': 'log-body' }, body)),
        el('td', { class: 'c-span', 'data-label': 'Span' },
          spanId && ctx.rowsBySpan.has(spanId)
            ? el('button', { type: 'button', class: 'linkish mono', title: 'show this span', onclick: () => revealSpan(ctx, spanId) }, spanId)
            : el('code', null, spanId || '—')),
        el('td', { class: 'c-attrs', 'data-label': 'Attributes' }, attrTable(r.attributes, '—'))));
    }
    sec.appendChild(el('div', { class: 'table-wrap' },
      el('table', { class: 'logs stack' },
        el('thead', null, el('tr', null, [['Time', 'c-time'], ['Severity', 'c-sev'], ['Service', 'c-svc'], ['Body', 'c-body'], ['Span', 'c-span'], ['Attributes', 'c-attrs']]
          .map(([h, c]) => el('th', { scope: 'col', class: c }, h)))),
        tbody)));
    return sec;
  }

  // ------------------------------------------------ services: shared parts

  // Kinds of service: "instrumented" sends its own spans; the others are
  // inferred from the calls to them (class kind-<name>, an icon each).
  const KINDS = {
    instrumented: '●', database: '⛁', cache: '⚡', queue: '☰', rpc: '⇄', http: '⇢', instance: '◍', service: '◇',
  };
  const kindOf = (k) => (typeof k === 'string' && Object.prototype.hasOwnProperty.call(KINDS, k) ? k : 'other');
  const kindIcon = (k) => KINDS[kindOf(k)] || '◇';
  const isInferred = (k) => k !== 'instrumented';

  function kindBadge(kind, testid) {
    const text = typeof kind === 'string' && kind ? kind : 'unknown';
    const inferred = isInferred(text);
    return el('span', {
      class: 'kind-badge kind-' + kindOf(text) + (inferred ? ' is-inferred' : ''), 'data-testid': testid || null, 'data-kind': text,
      title: inferred ? 'inferred (' + text + '): sends no spans itself, seen through the calls to it' : 'instrumented: sends its own spans',
    }, inferred ? kindIcon(text) + ' ' : null, text);
  }

  // "postgresql · mastodon_production" with the kind's icon.
  const peerLabel = (p) => kindIcon(p.kind) + ' ' + (p.system && p.system !== p.service ? p.system + ' · ' : '') + p.service;
  const peerTitle = (p) => 'inferred ' + p.kind + ': ' + p.service + (p.system ? ' (' + p.system + ')' : '');
  function peerChip(p) {
    return el('span', { class: 'svc-chip is-inferred ' + svcClass(p.service) + ' kind-' + kindOf(p.kind), title: peerTitle(p), 'data-kind': p.kind }, peerLabel(p));
  }

  // Numbers from the API: finite numbers (or numeric strings), else NaN.
  function num(v) {
    if (typeof v === 'number') return Number.isFinite(v) ? v : NaN;
    if (typeof v === 'string' && /^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(v)) return Number(v);
    return NaN;
  }
  const fmtCount = (v) => (Number.isFinite(v) ? String(Math.round(v)) : '—');
  function fmtMs(v) {
    if (!Number.isFinite(v)) return '—';
    const a = Math.abs(v);
    if (a >= 10000) return (v / 1000).toFixed(a >= 100000 ? 0 : 1) + ' s';
    return (a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ms';
  }
  function fmtPct(rate) {
    if (!Number.isFinite(rate)) return '—';
    const p = rate * 100;
    return (p === 0 ? '0' : p >= 10 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toFixed(3)) + ' %';
  }
  function fmtRate(r) {
    if (!Number.isFinite(r)) return '—';
    return (r === 0 ? '0' : r >= 100 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toFixed(3)) + '/s';
  }
  const errClass = (rate) => (rate >= 0.05 ? 'rate-bad' : rate > 0 ? 'rate-warn' : '');

  // The time window (since/until) of the services pages lives in the query.
  const WINDOW_PRESETS = ['15m', '1h', '6h', '24h'];
  function windowParams() {
    const q = new URLSearchParams(location.search);
    const out = new URLSearchParams();
    for (const k of ['since', 'until']) {
      const v = (q.get(k) || '').trim();
      if (v) out.set(k, v.slice(0, 100));
    }
    return out;
  }
  function windowQs() {
    const s = String(windowParams());
    return s ? '?' + s : '';
  }
  const serviceHref = (name) => BASE + 'services/' + encodeURIComponent(String(name)) + windowQs();

  // "15m" / "2h" / "7d" back from now, RFC 3339 or ms since the epoch -> ms.
  function windowMs(v, now) {
    if (!v) return NaN;
    const rel = /^(\d{1,9})([smhdw])$/.exec(v);
    if (rel) return now - Number(rel[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[rel[2]];
    if (/^\d{10,15}$/.test(v)) return Number(v);
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : NaN;
  }

  // The window form: presets, free since/until text, Apply.  Changing it
  // pushes the new query (other keys, e.g. the sort, stay) and calls reload.
  function windowForm(reload) {
    const cur = windowParams();
    const since = cur.get('since') || '';
    const until = cur.get('until') || '';
    const go = (params) => {
      const q = new URLSearchParams(location.search);
      q.delete('since');
      q.delete('until');
      for (const [k, v] of params) if (v) q.set(k, v);
      const qs = String(q);
      const url = location.pathname + (qs ? '?' + qs : '');
      if (url !== location.pathname + location.search) history.pushState(null, '', url);
      reload();
    };
    const sinceIn = el('input', { type: 'text', name: 'since', value: since, placeholder: '1h or 2026-11-26T12:00:00Z', autocomplete: 'off', spellcheck: 'false' });
    const untilIn = el('input', { type: 'text', name: 'until', value: until, placeholder: 'now', autocomplete: 'off', spellcheck: 'false' });
    const active = (p) => !until && (since === p || (!since && p === '1h'));
    return el('form', {
      class: 'window', 'data-testid': 'window', method: 'get', action: location.pathname, role: 'search', 'aria-label': 'time window',
      onsubmit: (ev) => {
        ev.preventDefault();
        go([['since', sinceIn.value.trim()], ['until', untilIn.value.trim()]]);
      },
    },
    el('div', { class: 'presets', role: 'group', 'aria-label': 'last' },
      el('span', { class: 'muted small' }, 'Last'),
      WINDOW_PRESETS.map((p) => el('button', {
        type: 'button', class: 'btn btn-small preset', 'data-testid': 'window-preset', 'data-value': p,
        'aria-pressed': active(p) ? 'true' : 'false', onclick: () => go([['since', p]]),
      }, p))),
    el('label', null, 'Since ', sinceIn),
    el('label', null, 'Until ', untilIn),
    el('button', { type: 'submit', class: 'btn btn-primary btn-small', 'data-testid': 'window-apply' }, 'Apply'));
  }

  // "12:00 – 13:00" of the window the server used (ms), when it says.
  function windowNote(data) {
    const a = num(isObj(data) ? data.since : NaN);
    const b = num(isObj(data) ? data.until : NaN);
    if (!Number.isFinite(a) || !Number.isFinite(b)) return null;
    const da = new Date(a);
    const db = new Date(b);
    const sameDay = da.toDateString() === db.toDateString();
    return el('span', { class: 'muted small', 'data-testid': 'window-range', title: da.toISOString() + ' – ' + db.toISOString() },
      localTime(da).slice(0, 16) + ' – ' + (sameDay ? localTime(db).slice(11, 16) : localTime(db).slice(0, 16)));
  }

  // A 404 from these endpoints: no data in the window (or no such endpoint yet).
  function noData(what) {
    return el('div', { class: 'notice', 'data-testid': 'no-data' },
      el('p', null, 'No data in this window.'),
      el('p', { class: 'muted small' }, what + ' Try a longer window.'));
  }

  // <th> with a sort button; aria-sort on the active column.
  function sortHeader(col, sort, onSort) {
    const activeCol = sort.key === col.key;
    return el('th', {
      scope: 'col', class: (col.num ? 'num ' : '') + 'c-' + col.key,
      'aria-sort': activeCol ? (sort.dir === 'asc' ? 'ascending' : 'descending') : null,
    }, col.sortable === false ? col.label : el('button', {
      type: 'button', class: 'sort' + (activeCol ? ' is-active' : ''), 'data-testid': 'sort-' + col.key,
      title: 'sort by ' + col.label.toLowerCase(), onclick: () => onSort(col.key),
    }, col.label, el('span', { class: 'sort-arrow', 'aria-hidden': 'true' }, activeCol ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : '')));
  }

  function sortRows(rows, key, dir) {
    const sign = dir === 'asc' ? 1 : -1;
    return rows.slice().sort((a, b) => {
      if (key === 'name') return sign * a.name.localeCompare(b.name);
      const x = a[key];
      const y = b[key];
      if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) - Number.isNaN(y) || a.name.localeCompare(b.name);
      return x !== y ? sign * (x - y) : a.name.localeCompare(b.name);
    });
  }

  const METRICS = ['requests', 'errors', 'errorRate', 'rate', 'p50', 'p95', 'p99', 'avg', 'calls'];
  function metricsOf(o) {
    const m = {};
    for (const k of METRICS) m[k] = num(o[k]);
    return m;
  }

  // A numeric cell: the formatted text, the raw number in data-value.
  function numCell(label, value, fmt, attrs) {
    return el('td', Object.assign({ class: 'num', 'data-label': label }, attrs && attrs.td),
      el('span', Object.assign({ 'data-value': Number.isFinite(value) ? String(value) : null }, attrs && attrs.span), fmt(value)));
  }

  // Each page render bumps this; late answers for an older render are dropped.
  let pageGen = 0;

  // ------------------------------------------------------ services list

  const SVC_COLS = [
    { key: 'name', label: 'Service' },
    { key: 'requests', label: 'Requests', num: true, fmt: fmtCount, testid: 'service-requests' },
    { key: 'rate', label: 'Rate', num: true, fmt: fmtRate },
    { key: 'errors', label: 'Errors', num: true, fmt: fmtCount, testid: 'service-errors' },
    { key: 'errorRate', label: 'Error rate', num: true, fmt: fmtPct, testid: 'service-error-rate' },
    { key: 'p50', label: 'p50', num: true, fmt: fmtMs, testid: 'service-p50' },
    { key: 'p95', label: 'p95', num: true, fmt: fmtMs, testid: 'service-p95' },
    { key: 'p99', label: 'p99', num: true, fmt: fmtMs, testid: 'service-p99' },
    { key: 'operations', label: 'Ops', num: true, fmt: fmtCount, testid: 'service-operations' },
  ];

  function currentSort(cols, fallback) {
    const q = new URLSearchParams(location.search);
    const key = q.get('sort');
    const col = cols.find((c) => c.key === key && c.sortable !== false);
    if (!col) return fallback;
    const dir = q.get('order') === 'asc' || q.get('order') === 'desc' ? q.get('order') : col.key === 'name' ? 'asc' : 'desc';
    return { key: col.key, dir };
  }

  function setSort(key, sort) {
    const dir = sort.key === key ? (sort.dir === 'asc' ? 'desc' : 'asc') : key === 'name' ? 'asc' : 'desc';
    const q = new URLSearchParams(location.search);
    q.set('sort', key);
    q.set('order', dir);
    history.replaceState(null, '', location.pathname + '?' + q);
    return { key, dir };
  }

  function showServices(view) {
    document.title = 'fedtrace · services';
    const render = async () => {
      const gen = ++pageGen;
      setNavWindow();
      const status = el('div', { class: 'page-status' }, el('p', { class: 'muted' }, 'Loading…'));
      const head = el('div', { class: 'list-bar' }, el('h1', null, 'Services'), el('span', { class: 'note muted small', 'aria-live': 'polite' }));
      view.replaceChildren(windowForm(render), head, status);
      let data;
      try {
        ({ data } = await api('services', windowParams()));
      } catch (e) {
        if (gen !== pageGen) return;
        status.replaceChildren(e.status === 404 ? noData('No service reported spans.') : errorBox('Could not load the services:', e));
        return;
      }
      if (gen !== pageGen) return;
      const rows = arr(isObj(data) ? data.services : data).filter((s) => isObj(s) && typeof s.name === 'string' && s.name)
        .map((s) => Object.assign(metricsOf(s), { name: s.name, kind: typeof s.kind === 'string' ? s.kind : '', operations: num(s.operations) }));
      const note = windowNote(data);
      if (note) head.appendChild(note);
      head.querySelector('.note').textContent = rows.length === 1 ? '1 service' : rows.length + ' services';
      if (!rows.length) { status.replaceChildren(noData('No service reported spans.')); return; }

      let sort = currentSort(SVC_COLS, { key: 'requests', dir: 'desc' });
      const table = el('table', { class: 'data services stack sortable', 'data-testid': 'services-list' });
      const draw = () => {
        table.replaceChildren(
          el('thead', null, el('tr', null, SVC_COLS.map((c) => sortHeader(c, sort, (k) => { sort = setSort(k, sort); draw(); })))),
          el('tbody', null, sortRows(rows, sort.key, sort.dir).map(serviceRow)));
      };
      draw();
      status.replaceChildren(el('div', { class: 'table-wrap' }, table),
        el('p', { class: 'muted small legend' }, 'Requests: the spans a service served (server and consumer spans); for an inferred service, the calls to it. ',
          kindBadgeLegend()));
    };
    window.addEventListener('popstate', render);
    render();
  }

  function kindBadgeLegend() {
    return el('span', { class: 'kind-legend' }, Object.keys(KINDS).map((k) => [kindBadge(k), ' ']));
  }

  function serviceRow(s) {
    const href = serviceHref(s.name);
    return el('tr', {
      class: 'service-row kind-' + kindOf(s.kind) + (isInferred(s.kind) ? ' is-inferred' : ''), 'data-testid': 'service-row', 'data-service': s.name,
      onclick: (ev) => {
        if (ev.target.closest('a, button') || String(window.getSelection() || '')) return;
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
        location.assign(href);
      },
    },
    el('td', { class: 'c-name', 'data-label': 'Service' },
      el('a', { href, class: 'service-link', 'data-testid': 'service-link', title: s.name }, s.name), ' ', kindBadge(s.kind, 'service-kind')),
    SVC_COLS.slice(1).map((c) => numCell(c.label, s[c.key], c.fmt, {
      td: { class: 'num c-' + c.key + (c.key === 'errorRate' || c.key === 'errors' ? ' ' + errClass(s.errorRate) : '') },
      span: { 'data-testid': c.testid || null },
    })));
  }

  // ------------------------------------------------------ one service

  const OP_COLS = [
    { key: 'name', label: 'Operation' },
    { key: 'requests', label: 'Requests', num: true, fmt: fmtCount },
    { key: 'errors', label: 'Errors', num: true, fmt: fmtCount },
    { key: 'errorRate', label: 'Error rate', num: true, fmt: fmtPct },
    { key: 'p50', label: 'p50', num: true, fmt: fmtMs },
    { key: 'p95', label: 'p95', num: true, fmt: fmtMs },
    { key: 'p99', label: 'p99', num: true, fmt: fmtMs },
    { key: 'avg', label: 'avg', num: true, fmt: fmtMs },
  ];

  function showService(view, name) {
    document.title = 'fedtrace · ' + name;
    const render = async () => {
      const gen = ++pageGen;
      setNavWindow();
      const back = el('p', { class: 'back' }, el('a', { href: BASE + 'services' + windowQs() }, '← services'));
      const head = el('header', { class: 'detail-head service-head' },
        el('h1', null, el('span', { class: 'service-name', 'data-testid': 'service-name' }, name)));
      const status = el('div', { class: 'page-status' }, el('p', { class: 'muted' }, 'Loading…'));
      const root = el('section', { class: 'service-detail', 'data-testid': 'service-detail', 'data-service': name }, head, status);
      view.replaceChildren(back, windowForm(render), root);
      let data;
      try {
        ({ data } = await api('services/' + encodeURIComponent(name), windowParams()));
      } catch (e) {
        if (gen !== pageGen) return;
        status.replaceChildren(e.status === 404 ? noData('Nothing was counted for ' + name + '.') : errorBox('Could not load the service:', e));
        return;
      }
      if (gen !== pageGen) return;
      if (!isObj(data)) { status.replaceChildren(errorBox('Could not load the service:', 'unexpected answer')); return; }
      const m = metricsOf(data);
      const kind = typeof data.kind === 'string' ? data.kind : '';
      head.querySelector('h1').append(' ', kindBadge(kind, 'service-kind'));
      const note = windowNote(data);
      if (note) head.appendChild(el('p', { class: 'window-note' }, note));
      head.appendChild(redFacts(m));
      if (kind === 'instrumented') {
        const q = windowParams();
        q.set('service', name);
        head.appendChild(el('p', { class: 'actions' },
          el('a', { class: 'btn btn-small', href: BASE + '?' + q, 'data-testid': 'service-traces' }, 'Traces of this service')));
      }
      status.replaceChildren(
        chartSection(data),
        operationsSection(data),
        neighboursSection(data),
        slowQueriesSection(arr(data.slowQueries), name));
    };
    window.addEventListener('popstate', render);
    render();
  }

  function redFacts(m) {
    const fact = (label, testid, value, fmt, cls) => el('div', { class: 'fact red-fact' + (cls ? ' ' + cls : '') },
      el('dt', null, label), el('dd', { 'data-testid': testid, 'data-value': Number.isFinite(value) ? String(value) : null }, fmt(value)));
    return el('dl', { class: 'facts red', 'data-testid': 'service-red' },
      fact('Requests', 'red-requests', m.requests, fmtCount),
      fact('Rate', 'red-rate', m.rate, fmtRate),
      fact('Errors', 'red-errors', m.errors, fmtCount, errClass(m.errorRate)),
      fact('Error rate', 'red-error-rate', m.errorRate, fmtPct, errClass(m.errorRate)),
      fact('p50', 'red-p50', m.p50, fmtMs),
      fact('p95', 'red-p95', m.p95, fmtMs),
      fact('p99', 'red-p99', m.p99, fmtMs),
      fact('avg', 'red-avg', m.avg, fmtMs));
  }

  function operationsSection(data) {
    const sec = el('section', { class: 'block', id: 'operations' }, el('h2', null, 'Operations'));
    const rows = arr(data.operations).filter((o) => isObj(o) && typeof o.name === 'string')
      .map((o) => Object.assign(metricsOf(o), { name: o.name, spanKind: typeof o.spanKind === 'string' ? o.spanKind : '' }));
    if (!rows.length) { sec.appendChild(el('p', { class: 'muted' }, 'No operations in this window.')); return sec; }
    let sort = currentSort([], { key: 'requests', dir: 'desc' });
    const table = el('table', { class: 'data operations stack sortable', 'data-testid': 'operations' });
    const draw = () => {
      table.replaceChildren(
        el('thead', null, el('tr', null, OP_COLS.map((c) => sortHeader(c, sort, (k) => {
          sort = { key: k, dir: sort.key === k ? (sort.dir === 'asc' ? 'desc' : 'asc') : k === 'name' ? 'asc' : 'desc' };
          draw();
        })))),
        el('tbody', null, sortRows(rows, sort.key, sort.dir).map((o) => el('tr', { 'data-testid': 'operation-row', 'data-operation': o.name },
          el('td', { class: 'c-name', 'data-label': 'Operation' }, el('span', { class: 'op-name mono' }, o.name),
            o.spanKind ? el('span', { class: 'muted small' }, ' · ' + o.spanKind) : null),
          OP_COLS.slice(1).map((c) => numCell(c.label, o[c.key], c.fmt, {
            td: { class: 'num c-' + c.key + (c.key === 'errorRate' || c.key === 'errors' ? ' ' + errClass(o.errorRate) : '') },
          }))))));
    };
    draw();
    sec.appendChild(el('div', { class: 'table-wrap' }, table));
    return sec;
  }

  function neighboursSection(data) {
    // callers and callees are map edges ({from, to, toKind, calls, ...}):
    // the neighbour is the other end
    const ends = (items, side) => arr(items).filter(isObj).map((e) => ({
      service: side === 'from' ? e.from : e.to,
      kind: side === 'from' ? '' : e.toKind,
      calls: e.calls,
      errors: e.errors,
    }));
    const list = (items, testid, empty) => {
      const rows = items.filter((c) => typeof c.service === 'string' && c.service);
      if (!rows.length) return el('p', { class: 'muted small', 'data-testid': testid }, empty);
      rows.sort((a, b) => (num(b.calls) || 0) - (num(a.calls) || 0));
      return el('ul', { class: 'neighbours', 'data-testid': testid }, rows.map((c) => {
        const calls = num(c.calls);
        const errors = num(c.errors);
        return el('li', { 'data-testid': testid.replace(/s$/, ''), 'data-service': c.service },
          el('a', { href: serviceHref(c.service), class: 'service-link' }, c.service),
          typeof c.kind === 'string' && c.kind ? [' ', kindBadge(c.kind)] : null,
          el('span', { class: 'muted small' }, ' ' + fmtCount(calls) + (calls === 1 ? ' call' : ' calls')),
          errors > 0 ? el('span', { class: 'small ' + errClass(errors / (calls || 1)) }, ' · ' + fmtCount(errors) + (errors === 1 ? ' error' : ' errors')) : null);
      }));
    };
    return el('section', { class: 'block neighbours-box', id: 'neighbours' },
      el('div', { class: 'card' }, el('h2', null, '← Callers'), list(ends(data.callers, 'from'), 'callers', 'Nothing calls it in this window (an entry point).')),
      el('div', { class: 'card' }, el('h2', null, 'Callees →'), list(ends(data.callees, 'to'), 'callees', 'It calls no other service in this window.')));
  }

  function slowQueriesSection(queries, name) {
    const sec = el('section', { class: 'block', id: 'slow-queries', 'data-testid': 'slow-queries' }, el('h2', null, 'Slow queries'));
    const rows = queries.filter((q) => isObj(q) && typeof q.statement === 'string');
    if (!rows.length) { sec.appendChild(el('p', { class: 'muted' }, 'No database statements in this window.')); return sec; }
    const other = (v) => (typeof v === 'string' && v && v !== name ? el('a', { href: serviceHref(v) }, v) : typeof v === 'string' && v ? v : '—');
    sec.appendChild(el('div', { class: 'table-wrap' }, el('table', { class: 'data slow stack' },
      el('thead', null, el('tr', null, [['Statement', 'c-stmt'], ['Database', 'c-db'], ['Caller', 'c-caller'], ['Count', 'num'], ['p50', 'num'], ['p99', 'num'], ['max', 'num'], ['Example', 'c-example']]
        .map(([h, c]) => el('th', { scope: 'col', class: c }, h)))),
      el('tbody', null, rows.map((q) => {
        const tid = typeof q.exampleTraceId === 'string' && HEX32.test(q.exampleTraceId) ? q.exampleTraceId.toLowerCase() : '';
        return el('tr', { 'data-testid': 'slow-query-row' },
          el('td', { class: 'c-stmt', 'data-label': 'Statement' }, el('code', { class: 'statement', 'data-testid': 'slow-query-statement' }, q.statement)),
          el('td', { class: 'c-db', 'data-label': 'Database' }, other(q.service),
            typeof q.system === 'string' && q.system ? el('span', { class: 'muted small' }, ' ' + q.system) : null),
          el('td', { class: 'c-caller', 'data-label': 'Caller' }, other(q.caller)),
          numCell('Count', num(q.count), fmtCount),
          numCell('p50', num(q.p50), fmtMs),
          numCell('p99', num(q.p99), fmtMs),
          numCell('max', num(q.max), fmtMs),
          el('td', { class: 'c-example', 'data-label': 'Example' }, tid
            ? el('a', { href: BASE + 'traces/' + tid, class: 'mono', 'data-testid': 'slow-query-trace', title: 'the slowest one: trace ' + tid }, tid.slice(0, 8))
            : '—'));
      })))));
    return sec;
  }

  // ---- requests and errors per minute (SVG, redrawn when the width changes)

  function chartSection(data) {
    const sec = el('section', { class: 'block', id: 'chart' }, el('h2', null, 'Requests and errors'));
    const buckets = arr(data.buckets).filter(isObj).map((b) => ({ t: num(b.t), requests: num(b.requests) || 0, errors: num(b.errors) || 0, p50: num(b.p50), p99: num(b.p99) }))
      .filter((b) => Number.isFinite(b.t)).sort((a, b) => a.t - b.t);
    if (!buckets.length) { sec.appendChild(el('p', { class: 'muted' }, 'No per-minute figures in this window.')); return sec; }
    // The window: the server's, else the one asked for, else the buckets'.
    const now = Date.now();
    const w = windowParams();
    let t0 = num(data.since);
    let t1 = num(data.until);
    if (!Number.isFinite(t0)) t0 = windowMs(w.get('since') || '1h', now);
    if (!Number.isFinite(t1)) t1 = w.get('until') ? windowMs(w.get('until'), now) : now;
    if (!Number.isFinite(t0) || !Number.isFinite(t1) || t1 <= t0 || buckets[0].t < t0 - 6e4 || buckets[buckets.length - 1].t > t1 + 6e4 || (t1 - t0) / 6e4 > 60 * 24 * 31) {
      t0 = buckets[0].t;
      t1 = buckets[buckets.length - 1].t + 6e4;
    }
    t0 = Math.floor(t0 / 6e4) * 6e4;
    t1 = Math.max(t0 + 6e4, Math.ceil(t1 / 6e4) * 6e4);

    const box = el('div', { class: 'chart-box' });
    const legend = el('p', { class: 'chart-legend small muted' },
      el('span', { class: 'key key-req' }), ' requests ', el('span', { class: 'key key-err' }), ' errors',
      el('span', { class: 'chart-step' }));
    sec.append(box, legend);
    let drawnFor = 0;
    const draw = () => {
      const width = Math.max(280, Math.floor(box.clientWidth || 720));
      if (Math.abs(width - drawnFor) < 8) return;
      drawnFor = width;
      const { svgNode, step } = chartSvg(buckets, t0, t1, width);
      box.replaceChildren(svgNode);
      legend.querySelector('.chart-step').textContent = ' · one bar = ' + (step === 1 ? 'one minute' : step < 60 ? step + ' minutes' : step / 60 + ' h');
    };
    // Drawn once the section is in the page (its width is known then).
    requestAnimationFrame(draw);
    if (typeof ResizeObserver === 'function') new ResizeObserver(() => draw()).observe(box);
    return sec;
  }

  const SVGNS = 'http://www.w3.org/2000/svg';
  const SVG_ATTRS = new Set(['class', 'id', 'role', 'tabindex', 'focusable', 'aria-label', 'aria-hidden', 'viewBox', 'width', 'height',
    'x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'rx', 'ry', 'd', 'points', 'transform', 'text-anchor',
    'dominant-baseline', 'markerWidth', 'markerHeight', 'refX', 'refY', 'orient', 'markerUnits', 'marker-end',
    'preserveAspectRatio', 'stroke-width', 'stroke-dasharray', 'font-size', 'dx', 'dy']);

  // el() for SVG: the same rules (text as text nodes, listed attributes,
  // href only through safeHref()).
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (typeof v === 'function') {
          if (!/^on[a-z]+$/.test(k)) throw new Error('svg: bad listener ' + k);
          e.addEventListener(k.slice(2), v);
        } else if (k === 'href') {
          const ok = safeHref(String(v));
          if (ok !== null) e.setAttribute('href', ok);
        } else if (SVG_ATTRS.has(k) || /^data-[a-z-]+$/.test(k)) {
          e.setAttribute(k, v === true ? '' : String(v));
        } else {
          throw new Error('svg: attribute not allowed: ' + k);
        }
      }
    }
    return add(e, kids);
  }

  const r1 = (x) => Math.round(x * 10) / 10;
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= v) return f * p;
    return 10 * p;
  }
  const hhmm = (t, withDay) => {
    const s = localTime(new Date(t));
    return withDay ? s.slice(5, 16) : s.slice(11, 16);
  };

  function chartSvg(buckets, t0, t1, W) {
    const H = 190;
    const ml = 44;
    const mr = 8;
    const mt = 10;
    const mb = 26;
    const pw = W - ml - mr;
    const ph = H - mt - mb;
    const minutes = Math.round((t1 - t0) / 6e4);
    const maxBars = Math.max(12, Math.floor(pw / 5));
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].find((s) => minutes / s <= maxBars) || 10080;
    const n = Math.ceil(minutes / step);
    const slots = Array.from({ length: n }, (_, i) => ({ t: t0 + i * step * 6e4, requests: 0, errors: 0, p50: NaN, p99: NaN, minutes: 0 }));
    for (const b of buckets) {
      const i = Math.floor((b.t - t0) / (step * 6e4));
      if (i < 0 || i >= n) continue;
      const s = slots[i];
      s.requests += b.requests;
      s.errors += b.errors;
      s.minutes++;
      if (Number.isFinite(b.p50)) s.p50 = Number.isFinite(s.p50) ? Math.max(s.p50, b.p50) : b.p50;
      if (Number.isFinite(b.p99)) s.p99 = Number.isFinite(s.p99) ? Math.max(s.p99, b.p99) : b.p99;
    }
    const yMax = niceMax(Math.max(...slots.map((s) => s.requests)));
    const y = (v) => mt + ph - (v / yMax) * ph;
    const bw = pw / n;
    const gap = bw > 4 ? Math.min(2, bw * 0.2) : 0;
    const perBar = step === 1 ? 'per minute' : 'per ' + step + ' minutes';
    const root = svg('svg', {
      class: 'chart', 'data-testid': 'service-chart', role: 'img', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H,
      'aria-label': 'requests and errors ' + perBar,
    }, svg('title', null, 'Requests and errors ' + perBar));
    // y axis: 0, half, max
    for (const v of [0, yMax / 2, yMax]) {
      root.appendChild(svg('line', { class: 'grid', x1: ml, x2: W - mr, y1: r1(y(v)), y2: r1(y(v)) }));
      root.appendChild(svg('text', { class: 'axis', x: ml - 6, y: r1(y(v)), dy: '0.32em', 'text-anchor': 'end' },
        Number.isInteger(v) ? String(v) : v.toFixed(1)));
    }
    // x axis: a label about every 110 px, on slot starts
    const withDay = t1 - t0 > 86400000 || new Date(t0).toDateString() !== new Date(t1 - 1).toDateString();
    const every = Math.max(1, Math.ceil((withDay ? 130 : 80) / bw));
    for (let i = 0; i < n; i += every) {
      const x = ml + i * bw;
      if (x > W - mr - 30 && i) break;
      root.appendChild(svg('line', { class: 'tickmark', x1: r1(x), x2: r1(x), y1: mt + ph, y2: mt + ph + 4 }));
      root.appendChild(svg('text', { class: 'axis', x: r1(x), y: H - 8, 'text-anchor': i ? 'middle' : 'start' }, hhmm(slots[i].t, withDay)));
    }
    root.appendChild(svg('line', { class: 'baseline', x1: ml, x2: W - mr, y1: mt + ph, y2: mt + ph }));
    slots.forEach((s, i) => {
      const x = ml + i * bw + gap / 2;
      const w = Math.max(1, bw - gap);
      const end = s.t + step * 6e4;
      const tip = hhmm(s.t, withDay) + '–' + hhmm(end, false) + ': ' + s.requests + (s.requests === 1 ? ' request' : ' requests') + ', ' +
        s.errors + (s.errors === 1 ? ' error' : ' errors') + (s.requests ? ' (' + fmtPct(s.errors / s.requests) + ')' : '') +
        (Number.isFinite(s.p50) ? ', p50 ' + fmtMs(s.p50) : '') + (Number.isFinite(s.p99) ? ', p99 ' + fmtMs(s.p99) : '') +
        (step > 1 && s.minutes > 1 ? ' (percentiles: the highest of its minutes)' : '');
      const g = svg('g', { class: 'bar-g', 'data-testid': 'chart-bar', 'data-t': s.t, 'data-requests': s.requests, 'data-errors': s.errors },
        svg('title', null, tip),
        svg('rect', { class: 'hit', x: r1(ml + i * bw), y: mt, width: r1(Math.max(1, bw)), height: ph }));
      if (s.requests > 0) g.appendChild(svg('rect', { class: 'req', x: r1(x), y: r1(y(s.requests)), width: r1(w), height: r1(Math.max(1, ph - (y(s.requests) - mt))) }));
      if (s.errors > 0) g.appendChild(svg('rect', { class: 'err', x: r1(x), y: r1(y(s.errors)), width: r1(w), height: r1(Math.max(1, ph - (y(s.errors) - mt))) }));
      root.appendChild(g);
    });
    return { svgNode: root, step };
  }

  // ------------------------------------------------------------- the map

  function showMap(view) {
    document.title = 'fedtrace · service map';
    const render = async () => {
      const gen = ++pageGen;
      setNavWindow();
      const status = el('div', { class: 'page-status' }, el('p', { class: 'muted' }, 'Loading…'));
      const head = el('div', { class: 'list-bar' }, el('h1', null, 'Service map'), el('span', { class: 'note muted small' }));
      view.replaceChildren(windowForm(render), head, status);
      let data;
      try {
        ({ data } = await api('map', windowParams()));
      } catch (e) {
        if (gen !== pageGen) return;
        status.replaceChildren(e.status === 404 ? noData('No calls between services were seen.') : errorBox('Could not load the map:', e));
        return;
      }
      if (gen !== pageGen) return;
      const graph = mapGraph(data);
      const note = windowNote(data);
      if (note) head.appendChild(note);
      head.querySelector('.note').textContent = graph.nodes.length + (graph.nodes.length === 1 ? ' service, ' : ' services, ') +
        graph.edges.length + (graph.edges.length === 1 ? ' edge' : ' edges');
      if (!graph.nodes.length) { status.replaceChildren(noData('No calls between services were seen.')); return; }
      status.replaceChildren(
        el('div', { class: 'map-wrap', 'data-testid': 'map-scroll' }, mapSvg(graph)),
        el('p', { class: 'muted small legend' }, 'Left to right: who calls whom. Edge width: calls; red: calls with errors; dashed: a call back against the flow (a cycle). ',
          kindBadgeLegend()),
        edgesTable(graph));
    };
    window.addEventListener('popstate', render);
    render();
  }

  // Nodes and edges from the API, checked; nodes only named by an edge are added.
  function mapGraph(data) {
    const nodes = new Map();
    const addNode = (name, kind, o) => {
      if (!nodes.has(name)) nodes.set(name, { name, kind: kind || 'service', requests: NaN, errors: NaN });
      const n = nodes.get(name);
      if (o) Object.assign(n, { kind: kind || n.kind, requests: num(o.requests), errors: num(o.errors) });
      return n;
    };
    for (const o of arr(isObj(data) ? data.nodes : null)) {
      if (isObj(o) && typeof o.name === 'string' && o.name) addNode(o.name, typeof o.kind === 'string' ? o.kind : '', o);
    }
    const edges = [];
    const seen = new Set();
    for (const e of arr(isObj(data) ? data.edges : null)) {
      if (!isObj(e) || typeof e.from !== 'string' || typeof e.to !== 'string' || !e.from || !e.to) continue;
      const key = JSON.stringify([e.from, e.to]);
      if (seen.has(key)) continue;
      seen.add(key);
      addNode(e.from, '', null);
      addNode(e.to, typeof e.toKind === 'string' ? e.toKind : '', null);
      edges.push({ from: e.from, to: e.to, calls: num(e.calls), errors: num(e.errors), p50: num(e.p50), p99: num(e.p99) });
    }
    return { nodes: Array.from(nodes.values()), edges };
  }

  // Layered layout: a depth-first search marks back edges (cycles); depth is
  // the longest path from a root over the other edges; a few barycentre
  // sweeps order each layer to cut crossings.
  function layoutMap(graph) {
    const byName = new Map(graph.nodes.map((n) => [n.name, n]));
    const outs = new Map(graph.nodes.map((n) => [n.name, []]));
    const indeg = new Map(graph.nodes.map((n) => [n.name, 0]));
    for (const e of graph.edges) {
      e.self = e.from === e.to;
      if (e.self) continue;
      outs.get(e.from).push(e);
      indeg.set(e.to, indeg.get(e.to) + 1);
    }
    const weight = (n) => (Number.isFinite(n.requests) ? n.requests : 0);
    const byWeight = (a, b) => weight(b) - weight(a) || a.name.localeCompare(b.name);
    const roots = graph.nodes.filter((n) => indeg.get(n.name) === 0).sort(byWeight);
    const rest = graph.nodes.filter((n) => indeg.get(n.name) !== 0).sort(byWeight);
    const state = new Map();
    for (const start of roots.concat(rest)) {
      if (state.has(start.name)) continue;
      state.set(start.name, 1);
      const stack = [[start.name, 0]];
      while (stack.length) {
        const top = stack[stack.length - 1];
        const list = outs.get(top[0]);
        if (top[1] < list.length) {
          const e = list[top[1]++];
          const s = state.get(e.to);
          if (s === 1) e.back = true;
          else if (!s) { state.set(e.to, 1); stack.push([e.to, 0]); }
        } else {
          state.set(top[0], 2);
          stack.pop();
        }
      }
    }
    // Longest path over the forward edges (Kahn's order).
    const deg = new Map(graph.nodes.map((n) => [n.name, 0]));
    for (const e of graph.edges) if (!e.self && !e.back) deg.set(e.to, deg.get(e.to) + 1);
    const depth = new Map(graph.nodes.map((n) => [n.name, 0]));
    const queue = graph.nodes.filter((n) => deg.get(n.name) === 0).map((n) => n.name);
    for (let qi = 0; qi < queue.length; qi++) {
      const v = queue[qi];
      for (const e of outs.get(v)) {
        if (e.back) continue;
        depth.set(e.to, Math.max(depth.get(e.to), depth.get(v) + 1));
        deg.set(e.to, deg.get(e.to) - 1);
        if (deg.get(e.to) === 0) queue.push(e.to);
      }
    }
    const layers = [];
    for (const n of graph.nodes.slice().sort(byWeight)) {
      const d = depth.get(n.name);
      n.depth = d;
      (layers[d] = layers[d] || []).push(n);
    }
    for (let d = 0; d < layers.length; d++) layers[d] = layers[d] || [];
    // An edge over several layers runs through a placeholder in each layer
    // between, so that the ordering keeps a free lane for it.
    const preds = new Map(graph.nodes.map((n) => [n, []]));
    const succs = new Map(graph.nodes.map((n) => [n, []]));
    const link = (a, b) => { preds.get(b).push(a); succs.get(a).push(b); };
    for (const e of graph.edges) {
      if (e.self || e.back) continue;
      const a = byName.get(e.from);
      const b = byName.get(e.to);
      e.via = [];
      let prev = a;
      for (let d = a.depth + 1; d < b.depth; d++) {
        const v = { name: '', dummy: true, depth: d, requests: 0 };
        preds.set(v, []);
        succs.set(v, []);
        layers[d].push(v);
        link(prev, v);
        e.via.push(v);
        prev = v;
      }
      link(prev, b);
    }
    const rows = Math.max(...layers.map((l) => l.length));
    layers.forEach((l) => l.forEach((n, i) => { n.slot = i + (rows - l.length) / 2; }));
    const sweep = (d, nb) => {
      const l = layers[d];
      const key = new Map(l.map((n) => {
        const ns = nb.get(n);
        return [n, ns.length ? ns.reduce((a, m) => a + m.slot, 0) / ns.length : n.slot];
      }));
      l.sort((a, b) => key.get(a) - key.get(b) || a.slot - b.slot);
      l.forEach((n, i) => { n.slot = i + (rows - l.length) / 2; });
    };
    for (let it = 0; it < 8; it++) {
      for (let d = 1; d < layers.length; d++) sweep(d, preds);
      for (let d = layers.length - 2; d >= 0; d--) sweep(d, succs);
    }
    return { layers, rows, byName };
  }

  function midName(s, max) {
    if (s.length <= max) return s;
    const h = Math.floor((max - 1) / 2);
    return s.slice(0, h) + '…' + s.slice(s.length - (max - 1 - h));
  }

  function mapSvg(graph) {
    const { layers, rows, byName } = layoutMap(graph);
    const NW = 204;
    const NH = 46;
    const GX = 230;
    const RH = 72;
    const PAD = 16;
    const TOP = 34; // room for self-loops and labels above the first row
    const LABEL_H = 16;
    const nx = (n) => PAD + n.depth * (NW + GX);
    const ny = (n) => TOP + n.slot * RH;
    const maxCalls = Math.max(1, ...graph.edges.map((e) => (Number.isFinite(e.calls) ? e.calls : 0)));

    // Edge geometry first: labels may need room below the nodes.
    const labels = [];
    const bez = (p0, c0, c1, p1, t) => {
      const u = 1 - t;
      return [u * u * u * p0[0] + 3 * u * u * t * c0[0] + 3 * u * t * t * c1[0] + t * t * t * p1[0],
        u * u * u * p0[1] + 3 * u * u * t * c0[1] + 3 * u * t * t * c1[1] + t * t * t * p1[1]];
    };
    for (const e of graph.edges) {
      const a = byName.get(e.from);
      const b = byName.get(e.to);
      let d;
      let at;
      if (e.self) {
        const x = nx(a) + NW - 28;
        const y = ny(a);
        d = 'M' + x + ',' + y + ' C' + x + ',' + (y - 30) + ' ' + (x + 44) + ',' + (y - 22) + ' ' + (x + 28) + ',' + y;
        at = [x + 14, y - 24];
      } else if (e.back) {
        const p0 = [nx(a), ny(a) + NH * 0.7];
        const p1 = [nx(b) + NW, ny(b) + NH * 0.7];
        const dx = Math.max(60, (p0[0] - p1[0]) * 0.35);
        const c0 = [p0[0] - dx, p0[1] + RH * 0.6];
        const c1 = [p1[0] + dx, p1[1] + RH * 0.6];
        d = 'M' + p0.map(r1) + ' C' + c0.map(r1) + ' ' + c1.map(r1) + ' ' + p1.map(r1);
        at = bez(p0, c0, c1, p1, 0.5);
      } else {
        // Caller's right side, through the lanes of the layers between, to
        // the callee's left side; a cubic curve across each gap.
        const pts = [[nx(a) + NW, ny(a) + NH / 2]];
        for (const v of e.via || []) pts.push([nx(v), ny(v) + NH / 2], [nx(v) + NW, ny(v) + NH / 2]);
        pts.push([nx(b), ny(b) + NH / 2]);
        const curve = (p0, p1) => {
          const dx = (p1[0] - p0[0]) / 2;
          return [p0, [p0[0] + dx, p0[1]], [p1[0] - dx, p1[1]], p1];
        };
        d = 'M' + pts[0].map(r1);
        for (let i = 0; i + 1 < pts.length; i += 2) {
          const c = curve(pts[i], pts[i + 1]);
          d += ' C' + c[1].map(r1) + ' ' + c[2].map(r1) + ' ' + c[3].map(r1);
          if (i + 2 < pts.length) d += ' L' + pts[i + 2].map(r1);
        }
        // The label sits in the first gap after the caller, on the curve.
        const c = curve(pts[0], pts[1]);
        at = bez(c[0], c[1], c[2], c[3], 0.5);
      }
      e.d = d;
      e.text = fmtCount(e.calls) + (e.calls === 1 ? ' call · ' : ' calls · ') + fmtCount(e.errors) + ' err · p99 ' + fmtMs(e.p99);
      e.label = { x: at[0], y: at[1], text: e.text };
      labels.push(e.label);
    }
    // Labels must not cover nodes or each other: top to bottom, each one
    // moves down below whatever it would overlap.
    const boxes = graph.nodes.filter((n) => !n.dummy).map((n) => ({ x0: nx(n) - 2, x1: nx(n) + NW + 2, y0: ny(n) - 2, y1: ny(n) + NH + 2 }));
    labels.sort((p, q) => p.y - q.y || p.x - q.x);
    for (const l of labels) {
      l.w = l.text.length * 6.1 + 8;
      for (let guard = 0; guard < 500; guard++) {
        const x0 = l.x - l.w / 2;
        const x1 = l.x + l.w / 2;
        const y0 = l.y - LABEL_H / 2;
        const y1 = l.y + LABEL_H / 2;
        const hit = boxes.find((b) => x0 < b.x1 && x1 > b.x0 && y0 < b.y1 && y1 > b.y0);
        if (!hit) break;
        l.y = hit.y1 + LABEL_H / 2;
      }
      boxes.push({ x0: l.x - l.w / 2, x1: l.x + l.w / 2, y0: l.y - LABEL_H / 2, y1: l.y + LABEL_H / 2 });
    }
    const W = PAD * 2 + layers.length * NW + (layers.length - 1) * GX;
    const H = Math.max(TOP + rows * RH + PAD, ...labels.map((l) => l.y + LABEL_H + PAD));

    const root = svg('svg', {
      class: 'map', 'data-testid': 'service-map', role: 'group', 'aria-label': 'service map', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H,
    },
    svg('defs', null,
      svg('marker', { id: 'ft-arrow', class: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto' },
        svg('path', { d: 'M0,0 L10,5 L0,10 z' })),
      svg('marker', { id: 'ft-arrow-err', class: 'arrow arrow-err', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto' },
        svg('path', { d: 'M0,0 L10,5 L0,10 z' }))));
    const edgeLayer = svg('g', { class: 'edges' });
    const labelLayer = svg('g', { class: 'edge-labels' });
    const nodeLayer = svg('g', { class: 'nodes' });
    for (const e of graph.edges) {
      const err = e.errors > 0;
      const text = e.text;
      const tip = e.from + ' → ' + e.to + ': ' + fmtCount(e.calls) + ' calls, ' + fmtCount(e.errors) + ' errors, p50 ' + fmtMs(e.p50) + ', p99 ' + fmtMs(e.p99) +
        (e.back ? ' (against the flow: part of a cycle)' : '');
      const sw = 1.25 + 4.5 * Math.sqrt((Number.isFinite(e.calls) ? Math.max(0, e.calls) : 0) / maxCalls);
      const tw = e.label.w;
      edgeLayer.appendChild(svg('g', {
        class: 'edge' + (err ? ' edge-err' : '') + (e.back ? ' edge-back' : ''), 'data-testid': 'map-edge', 'data-from': e.from, 'data-to': e.to,
        'data-calls': Number.isFinite(e.calls) ? e.calls : null, 'data-errors': Number.isFinite(e.errors) ? e.errors : null,
      },
      svg('title', null, tip),
      svg('path', { class: 'edge-hit', d: e.d }),
      svg('path', { class: 'edge-line', d: e.d, 'stroke-width': r1(sw), 'marker-end': err ? 'url(#ft-arrow-err)' : 'url(#ft-arrow)' })));
      labelLayer.appendChild(svg('g', { class: 'edge-label' + (err ? ' edge-err' : ''), 'data-testid': 'map-edge-label', 'data-from': e.from, 'data-to': e.to },
        svg('title', null, tip),
        svg('rect', { x: r1(e.label.x - tw / 2), y: r1(e.label.y - LABEL_H / 2 + 1), width: r1(tw), height: LABEL_H - 2, rx: 3 }),
        svg('text', { x: r1(e.label.x), y: r1(e.label.y), dy: '0.34em', 'text-anchor': 'middle' }, text)));
    }
    for (const l of layers) {
      for (const n of l.filter((x) => !x.dummy)) {
        const inferred = isInferred(n.kind);
        const figures = (Number.isFinite(n.requests) ? fmtCount(n.requests) + ' req' : '') +
          (n.errors > 0 ? ' · ' + fmtCount(n.errors) + ' err' : '');
        const sub = (n.kind + ' · ' + figures).length <= 30 || !figures ? n.kind + (figures ? ' · ' + figures : '') : figures;
        nodeLayer.appendChild(svg('a', { href: serviceHref(n.name), class: 'node-link', 'aria-label': n.name + ' (' + n.kind + ')' },
          svg('g', {
            class: 'map-node kind-' + kindOf(n.kind) + (inferred ? ' is-inferred' : '') + (n.errors > 0 ? ' has-errors' : ''),
            'data-testid': 'map-node', 'data-service': n.name, 'data-kind': n.kind, transform: 'translate(' + r1(nx(n)) + ',' + r1(ny(n)) + ')',
          },
          svg('title', null, n.name + ' — ' + n.kind + (Number.isFinite(n.requests) ? ', ' + fmtCount(n.requests) + ' requests' : '') +
            (Number.isFinite(n.errors) ? ', ' + fmtCount(n.errors) + ' errors' : '')),
          svg('rect', { class: 'node-box', width: NW, height: NH, rx: 7 }),
          svg('rect', { class: 'node-strip', width: 5, height: NH - 2, x: 1, y: 1, rx: 3 }),
          svg('text', { class: 'node-name', x: 13, y: 19 }, kindIcon(n.kind) + ' ' + midName(n.name, 22)),
          svg('text', { class: 'node-sub', x: 13, y: 36 }, sub))));
      }
    }
    root.append(edgeLayer, nodeLayer, labelLayer);
    return root;
  }

  function edgesTable(graph) {
    const rows = graph.edges.slice().sort((a, b) => (b.calls || 0) - (a.calls || 0));
    return el('details', { class: 'edges-table' },
      el('summary', null, 'All edges as a table (' + rows.length + ')'),
      el('div', { class: 'table-wrap' }, el('table', { class: 'data stack' },
        el('thead', null, el('tr', null, [['From', ''], ['To', ''], ['Calls', 'num'], ['Errors', 'num'], ['p50', 'num'], ['p99', 'num']]
          .map(([h, c]) => el('th', { scope: 'col', class: c || null }, h)))),
        el('tbody', null, rows.map((e) => el('tr', { class: e.errors > 0 ? 'is-error' : null },
          el('td', { 'data-label': 'From' }, el('a', { href: serviceHref(e.from) }, e.from)),
          el('td', { 'data-label': 'To' }, el('a', { href: serviceHref(e.to) }, e.to)),
          numCell('Calls', e.calls, fmtCount),
          numCell('Errors', e.errors, fmtCount, { td: { class: 'num ' + errClass(e.errors / (e.calls || 1)) } }),
          numCell('p50', e.p50, fmtMs),
          numCell('p99', e.p99, fmtMs)))))));
  }

  // ------------------------------------------------------------------ nav

  // aria-current on the active page's link; Services and Map keep the window.
  function setNav(view) {
    const current = view === 'list' || view === 'detail' ? 'traces' : view === 'services' || view === 'service' ? 'services' : view === 'map' ? 'map' : '';
    for (const a of document.querySelectorAll('.site-nav a[data-nav]')) {
      if (a.getAttribute('data-nav') === current) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function setNavWindow() {
    const qs = windowQs();
    for (const [k, path] of [['services', 'services'], ['map', 'map']]) {
      const a = document.querySelector('.site-nav a[data-nav="' + k + '"]');
      const href = safeHref(BASE + path + qs);
      if (a && href) a.setAttribute('href', href);
    }
  }

  // --------------------------------------------------------------- router

  function route() {
    const p = location.pathname;
    let rest = null;
    if (p.startsWith(BASE)) rest = p.slice(BASE.length);
    else if (p + '/' === BASE) rest = '';
    if (rest === '' || rest === 'index.html') return { view: 'list' };
    const m = rest === null ? null : /^traces\/([^/]+)\/?$/.exec(rest);
    if (m) return { view: 'detail', id: m[1] };
    if (rest === 'services' || rest === 'services/') return { view: 'services' };
    if (rest === 'map' || rest === 'map/') return { view: 'map' };
    // The name is URL-encoded, but may hold a '/' (kept as it is).
    const sv = rest === null ? null : /^services\/(.+)$/.exec(rest);
    if (sv) return { view: 'service', name: sv[1] };
    return { view: 'unknown' };
  }

  function main() {
    const listView = document.getElementById('list-view');
    const detailView = document.getElementById('detail-view');
    const r = route();
    setNav(r.view);
    loadSession();
    if (r.view === 'list') {
      detailView.remove();
      listView.hidden = false;
      initList(listView);
      return;
    }
    listView.remove();
    detailView.hidden = false; // the container of every view but the list
    if (r.view === 'detail') {
      let id = r.id;
      try { id = decodeURIComponent(id); } catch (e) { /* shown as it is */ }
      showDetail(detailView, id);
    } else if (r.view === 'services') {
      showServices(detailView);
    } else if (r.view === 'map') {
      showMap(detailView);
    } else if (r.view === 'service') {
      let name = r.name;
      try { name = decodeURIComponent(name); } catch (e) { /* shown as it is */ }
      showService(detailView, name);
    } else {
      detailView.replaceChildren(el('div', { class: 'notice' },
        el('h1', null, 'Not found'), el('p', null, el('a', { href: BASE }, '← traces'))));
    }
  }

  main();
}());
