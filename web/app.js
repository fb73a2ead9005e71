'use strict';
/*
 * fedtrace dashboard: one script for the traces list (BASE) and the detail
 * of one trace (BASE + "traces/<32 hex>").  No framework, no build step.
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
    'aria-live', 'aria-hidden', 'aria-busy', 'aria-current']);

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

    const [rec, spn, lg] = await Promise.allSettled([
      api('traces/' + enc), api('traces/' + enc + '/spans'), api('logs/' + enc)]);
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
    root.querySelector('.detail-head').append(...detailHeader(ctx, enc));
    root.appendChild(el('nav', { class: 'jump', 'aria-label': 'sections' },
      el('a', { href: '#activities' }, 'Activities ', el('span', { class: 'count' }, String(records.list.length))),
      el('a', { href: '#waterfall' }, 'Spans ', el('span', { class: 'count' }, String(spans.list.length))),
      el('a', { href: '#logs' }, 'Logs ', el('span', { class: 'count' }, String(logs.list.length)))));
    root.appendChild(activitiesSection(ctx, records.err));
    root.appendChild(waterfallSection(ctx, spans.err));
    root.appendChild(logsSection(ctx, logs.err));
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
      rowsBySpan: new Map(), // spanId -> row element, filled by the waterfall
    };
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

    const legend = el('p', { class: 'legend small' }, chipList(ctx.services, svcChip),
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
    const bar = el('span', { class: 'bar ' + svcClass(n.service) + (err ? ' is-error' : '') });
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

    const label = el('div', { class: 'wf-label' },
      twisty,
      el('span', { class: 'swatch ' + svcClass(n.service) }),
      el('span', { class: 'wf-text' },
        el('span', { class: 'wf-name' }, name, ' ', marks),
        el('span', { class: 'wf-meta muted small' },
          el('span', { class: 'wf-svc' }, n.service),
          n.node ? el('span', { class: 'wf-node' }, ' @ ' + n.node) : null,
          ' · ' + kindName(s.kind))));

    const row = el('div', {
      class: 'span-row' + (err ? ' is-error' : '') + (acts.length || actEvents.length ? ' has-activity' : ''),
      'data-testid': 'span-row', 'data-span-id': n.id, role: 'listitem', tabindex: '0', 'aria-expanded': 'false',
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
      fact('Service', svcChip(n.service), n.node ? ' @ ' + n.node : null),
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
      'attributes', 'events', 'links', 'status', 'resource', 'scope']);
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

  // --------------------------------------------------------------- router

  function route() {
    const p = location.pathname;
    let rest = null;
    if (p.startsWith(BASE)) rest = p.slice(BASE.length);
    else if (p + '/' === BASE) rest = '';
    if (rest === '' || rest === 'index.html') return { view: 'list' };
    const m = rest === null ? null : /^traces\/([^/]+)\/?$/.exec(rest);
    if (m) return { view: 'detail', id: m[1] };
    return { view: 'unknown' };
  }

  function main() {
    const listView = document.getElementById('list-view');
    const detailView = document.getElementById('detail-view');
    const r = route();
    loadSession();
    if (r.view === 'list') {
      detailView.remove();
      listView.hidden = false;
      initList(listView);
      return;
    }
    listView.remove();
    detailView.hidden = false;
    if (r.view === 'detail') {
      let id = r.id;
      try { id = decodeURIComponent(id); } catch (e) { /* shown as it is */ }
      showDetail(detailView, id);
    } else {
      detailView.replaceChildren(el('div', { class: 'notice' },
        el('h1', null, 'Not found'), el('p', null, el('a', { href: BASE }, '← traces'))));
    }
  }

  main();
}());
