/* receiptd web console: a small script over the JSON API, signed in by a session cookie.
 *
 * Every value from the journal is put on the page as text (textContent), never as markup: an
 * order reference or a receipt line comes from a till and is not trusted. Writes carry the
 * session's CSRF token in X-CSRF-Token. The server enforces every role; the role here only
 * decides which pages are offered. */
'use strict';

const LANG = (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
const WORDS = {
  en: {
    sign_in: 'Sign in',
    token: 'Token',
    sign_in_help:
      'Paste the token you were given. This browser stays signed in; the token is not kept on' +
      ' this device.',
    sign_out: 'Sign out',
    receipts: 'Receipts',
    printers: 'Printers',
    tokens: 'Tokens',
    journal: 'Journal',
    till: 'Till',
    today: 'Today\'s receipts',
    search: 'Search',
    order_ref: 'Order ref',
    text: 'Text or amount',
    from: 'From',
    to: 'To',
    show_today: 'Today',
    slip: 'Slip',
    reprint: 'Reprint',
    print_now: 'Print now',
    leave_it: 'Leave it',
    close: 'Close',
    cancel: 'Cancel',
    print_copy: 'Print a COPY',
    none: 'Nothing here.',
    printed_at: 'Printed at {t} — print a COPY?',
    copy_queued: 'A COPY of receipt {id} is on its way to {p}.',
    not_printed: 'Receipt {id} has not printed yet ({s}): nothing to copy.',
    waiting: '{n} waiting on {p}',
    held_title: 'Held: needs your decision',
    held_reason: 'Receipt {id} held: {r}',
    cut_short: 'its printing was cut short {n}×',
    stale: 'it waited {d} through “{s}” and was not printed late on its own',
    held_help:
      '“Print now” prints it marked; “Leave it” hides it here. It stays in the journal either' +
      ' way.',
    released: 'Receipt {id} is printing again.',
    pos_page:
      'This token ({n}) belongs to a till: it sends receipts. The console pages need a cashier' +
      ' or admin token.',
    needs_role: 'This page needs the {r} role.',
    recover: 'Recover',
    timeline: 'Fault timeline',
    since: 'since',
    queue: 'waiting',
    in_doubt: 'in doubt',
    held: 'held',
    paper_left: 'paper left',
    printed_n: 'printed',
    copies: 'copies',
    outages: 'outages',
    mttr: 'mean time to repair',
    recovered: '{p}: recovery sent.',
    add_token: 'Add a token',
    name: 'Name',
    role: 'Role',
    add: 'Add',
    revoke: 'Revoke',
    secret_once: 'Copy this secret now: it is shown only once.',
    revoked: 'Token {n} revoked.',
    revoke_q: 'Revoke token {n}? Everything using it stops.',
    stats: 'Journal',
    backup: 'Download a backup',
    live: 'live',
    offline_events: 'reconnecting…',
    by: 'by',
    copies_n: 'COPY ×{n}',
    signed_out: 'Signed out.',
    session_over: 'Please sign in again.',
    all_printers_ok: 'All printers ready.',
    state: 'State',
    at: 'At',
    cause: 'Cause',
    source: 'source',
    created_by: 'made by',
    k_state: 'State',
    k_since: 'Since',
    k_queue: 'Queue',
    k_paper: 'Paper',
    k_printed: 'Printed',
    k_outages: 'Outages',
    paper_left_m: 'about {m} m left on the roll',
    paper_used_m: '{m} m used on this roll',
  },
  zh: {
    sign_in: '登录',
    token: '令牌',
    sign_in_help: '粘贴发给您的令牌。此浏览器会保持登录；令牌不会保存在本设备上。',
    sign_out: '退出',
    receipts: '小票',
    printers: '打印机',
    tokens: '令牌',
    journal: '日志',
    till: '收银台',
    today: '今天的小票',
    search: '搜索',
    order_ref: '订单号',
    text: '文字或金额',
    from: '从',
    to: '到',
    show_today: '今天',
    slip: '小票图',
    reprint: '补打',
    print_now: '立即打印',
    leave_it: '暂不处理',
    close: '关闭',
    cancel: '取消',
    print_copy: '打印副本（COPY）',
    none: '暂无。',
    printed_at: '已于 {t} 打印 — 要打印副本（COPY）吗？',
    copy_queued: '小票 {id} 的副本正在 {p} 打印。',
    not_printed: '小票 {id} 尚未打印（{s}）：无法补打副本。',
    waiting: '{p} 上有 {n} 张等待',
    held_title: '已暂停：需要您决定',
    held_reason: '小票 {id} 已暂停：{r}',
    cut_short: '打印被中断 {n} 次',
    stale: '打印机{s}期间等待了 {d}，因此未自动补打',
    held_help: '“立即打印”会带标记打印；“暂不处理”只在此处隐藏。小票始终保留在日志中。',
    released: '小票 {id} 正在重新打印。',
    pos_page: '此令牌（{n}）属于收银机：用于发送小票。控制台页面需要收银员或管理员令牌。',
    needs_role: '此页面需要 {r} 角色。',
    recover: '恢复',
    timeline: '故障记录',
    since: '自',
    queue: '等待',
    in_doubt: '待确认',
    held: '已暂停',
    paper_left: '剩余纸张',
    printed_n: '已打印',
    copies: '副本',
    outages: '故障次数',
    mttr: '平均修复时间',
    recovered: '{p}：已发送恢复指令。',
    add_token: '添加令牌',
    name: '名称',
    role: '角色',
    add: '添加',
    revoke: '吊销',
    secret_once: '请立即复制此密钥：它只显示这一次。',
    revoked: '令牌 {n} 已吊销。',
    revoke_q: '吊销令牌 {n}？使用它的设备将无法再打印。',
    stats: '日志',
    backup: '下载备份',
    live: '实时',
    offline_events: '正在重新连接…',
    by: '由',
    copies_n: '{n} 份副本',
    signed_out: '已退出。',
    session_over: '请重新登录。',
    all_printers_ok: '所有打印机就绪。',
    state: '状态',
    at: '时间',
    cause: '原因',
    source: '来源',
    created_by: '创建者',
    k_state: '状态',
    k_since: '开始于',
    k_queue: '队列',
    k_paper: '纸张',
    k_printed: '已打印',
    k_outages: '故障',
    paper_left_m: '纸卷约剩 {m} 米',
    paper_used_m: '本卷已用 {m} 米',
  },
};
const STATES = {
  en: {
    online: 'ready',
    paper_near_end: 'paper low',
    paper_out: 'paper out',
    cover_open: 'cover open',
    cutter_error: 'cutter error',
    mechanical_error: 'paper jam',
    auto_recoverable_error: 'too hot',
    unrecoverable_error: 'hardware error',
    offline: 'not reachable',
    unknown: 'connecting',
    queued: 'waiting',
    printing: 'printing',
    printed: 'printed',
    cancelled: 'cancelled',
    held: 'held',
    failed: 'failed',
  },
  zh: {
    online: '就绪',
    paper_near_end: '纸将用完',
    paper_out: '缺纸',
    cover_open: '盖子打开',
    cutter_error: '切刀故障',
    mechanical_error: '卡纸',
    auto_recoverable_error: '过热',
    unrecoverable_error: '硬件故障',
    offline: '无法连接',
    unknown: '连接中',
    queued: '等待中',
    printing: '打印中',
    printed: '已打印',
    cancelled: '已取消',
    held: '已暂停',
    failed: '失败',
  },
};
const RANK = { pos: 1, cashier: 2, admin: 3 };
const PAGES = [
  { id: 'till', role: 'pos', only: 'pos', draw: drawTill },
  { id: 'receipts', role: 'cashier', draw: drawReceipts },
  { id: 'printers', role: 'admin', draw: drawPrinters },
  { id: 'tokens', role: 'admin', draw: drawTokens },
  { id: 'journal', role: 'admin', draw: drawJournal },
];

let me = null;          // {name, role, csrf_token}
let events = null;      // the EventSource while signed in
const listeners = [];   // (type, data) => void, of the page on screen
const leftAlone = new Set(JSON.parse(sessionStorage.getItem('leftAlone') || '[]'));

function t(key, vars) {
  let s = (WORDS[LANG][key] !== undefined ? WORDS[LANG][key] : WORDS.en[key]) || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(String(v));
  return s;
}
function stateWord(s) { return STATES[LANG][s] || STATES.en[s] || s; }
function hintOf(hint) { return hint ? (hint[LANG] || hint.en || '') : ''; }

/* el('li', {class: 'x', onclick: f}, 'text', child, ...): children are text or nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
function badge(state, look) {
  return el('span', { class: 'state ' + (look || state) }, stateWord(state));
}
/* A held print's reason in plain words: "held after 2 interrupted attempts in a row:
 * interrupted: fault:cover_open" reads "its printing was cut short 2× (cover open)", "stale:
 * waited 3600 s through paper_out (…)" reads "it waited 60 min through “paper out” …"; any
 * other reason as it is. */
function heldWords(reason) {
  const stale = /^stale: waited (\d+) s through ([a-z_ ]+?) \(/.exec(reason || '');
  if (stale) {
    const secs = Number(stale[1]);
    const took = secs < 120 ? secs + ' s' : Math.round(secs / 60) + ' min';
    return t('stale', { d: took, s: stateWord(stale[2]) });
  }
  const m = /held after (\d+) interrupted/.exec(reason || '');
  if (!m) return reason || '';
  const fault = /fault:([a-z_]+)/.exec(reason);
  return t('cut_short', { n: m[1] }) + (fault ? ' (' + stateWord(fault[1]) + ')' : '');
}
function clock(iso, seconds) {
  if (!iso) return '';
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  const hm = d.toLocaleTimeString(LANG === 'zh' ? 'zh-CN' : undefined,
    { hour: '2-digit', minute: '2-digit', second: seconds ? '2-digit' : undefined });
  return today ? hm : d.toLocaleDateString() + ' ' + hm;
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KB';
  return (n / 1048576).toFixed(1) + ' MB';
}

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || error.code);
    this.status = status;
    this.code = error.code;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const opts = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = (me && me.csrf_token) || '';
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
  }
  const r = await fetch(path, opts);
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (r.status === 401 && me && path !== '/v1/session') {
    signedOut(t('session_over'));
  }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || { code: 'http_' + r.status });
  return data;
}

/* --- dialogs ------------------------------------------------------------------------------ */

function dialog(...children) {
  const box = document.getElementById('dialog');
  box.replaceChildren(...children);
  document.getElementById('overlay').hidden = false;
  const first = box.querySelector('button');
  if (first) first.focus();
}
function closeDialog() { document.getElementById('overlay').hidden = true; }
function notice(text, bad) {
  const box = document.getElementById('notice');
  if (box) box.replaceChildren(el('div', { class: bad ? 'error' : 'muted', role: 'status' }, text));
}

/* --- sign-in and the frame ---------------------------------------------------------------- */

async function start() {
  document.getElementById('sign-out').textContent = t('sign_out');
  document.getElementById('sign-out').addEventListener('click', signOut);
  document.getElementById('overlay').addEventListener('click', (e) => {
    if (e.target.id === 'overlay') closeDialog();
  });
  document.documentElement.lang = LANG === 'zh' ? 'zh-CN' : 'en';
  window.addEventListener('hashchange', route);
  try {
    me = await api('GET', '/v1/session');
  } catch (e) {
    me = null;
  }
  if (me) signedIn(); else drawSignIn('');
}

function drawSignIn(message) {
  document.getElementById('bar').hidden = true;
  const input = el('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  const error = el('div', { class: 'error', id: 'sign-in-error', role: 'alert' }, message);
  const form = el('form', { class: 'card signin', id: 'sign-in' },
    el('h1', {}, 'receiptd'),
    el('p', { class: 'muted' }, t('sign_in_help')),
    el('label', {}, t('token'), input), error,
    el('p', {}, el('button', { type: 'submit', id: 'sign-in-button' }, t('sign_in'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      me = await api('POST', '/v1/session', { token: input.value.trim() });
      input.value = '';
      signedIn();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  document.getElementById('main').replaceChildren(form);
  input.focus();
}

function signedIn() {
  const bar = document.getElementById('bar');
  bar.hidden = false;
  document.getElementById('who').textContent = me.name + ' · ' + me.role;
  const nav = document.getElementById('nav');
  nav.replaceChildren(...offered().map(
    (p) => el('a', { href: '#' + p.id, id: 'nav-' + p.id }, t(p.id))));
  openEvents();
  route();
}

function signedOut(message) {
  me = null;
  if (events) { events.close(); events = null; }
  listeners.length = 0;
  drawSignIn(message);
}

async function signOut() {
  try { await api('POST', '/v1/session/sign-out'); } catch (e) { /* gone already */ }
  signedOut(t('signed_out'));
}

function offered() {
  return PAGES.filter((p) => RANK[me.role] >= RANK[p.role] && (!p.only || p.only === me.role));
}

function route() {
  if (!me) return;
  const pages = offered();
  const id = location.hash.slice(1).split('/')[0];
  const page = PAGES.find((p) => p.id === id);
  listeners.length = 0;
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('on', a.id === 'nav-' + id);
  }
  const main = document.getElementById('main');
  if (!page) { location.replace('#' + pages[0].id); return; }
  if (!pages.includes(page)) {
    main.replaceChildren(el('p', { class: 'card error', id: 'not-for-role' },
      t('needs_role', { r: page.role })));
    return;
  }
  main.replaceChildren(el('div', { id: 'notice' }));
  page.draw(main).catch((e) => notice(e.message, true));
}

function openEvents() {
  if (events) events.close();
  events = new EventSource('/v1/events');
  // The browser reconnects by itself after a dropped stream (sending Last-Event-ID, so
  // nothing is missed), but not after an answer that is not a stream: a session that ended
  // (a daemon restart, a revoked token) or too many streams. Ask who we are, then retry.
  events.onerror = () => {
    if (events.readyState !== EventSource.CLOSED) return;
    setTimeout(async () => {
      if (!me) return;
      try {
        await api('GET', '/v1/session');
        openEvents();
      } catch (e) {
        if (e.status === 401) signedOut(t('session_over'));
        else if (me) setTimeout(openEvents, 5000);
      }
    }, 2000);
  };
  for (const type of ['receipt', 'printer', 'waiting', 'held']) {
    events.addEventListener(type, (e) => {
      let data = {};
      try { data = JSON.parse(e.data); } catch (err) { return; }
      for (const f of listeners.slice()) f(type, data);
    });
  }
}

function debounce(f, ms) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(f, ms); };
}

/* --- pos: its own page only ---------------------------------------------------------------- */

async function drawTill(main) {
  const list = el('ul', { class: 'list', id: 'till-printers' });
  main.append(el('section', { class: 'card', id: 'pos-page' }, el('h1', {}, t('till')),
    el('p', {}, t('pos_page', { n: me.name })), list));
  async function load() {  // what a till may know: does its printer print now?
    const data = await api('GET', '/v1/printers');
    list.replaceChildren(...data.printers.map((p) => el('li', { 'data-printer': p.name },
      el('span', { class: 'main' }, el('strong', {}, p.name), ' ',
        badge(p.state, p.ready === false ? 'bad' : null),
        p.held ? el('span', { class: 'muted' }, ' · ' + p.held + ' ' + t('held')) : ''))));
  }
  listeners.push(debounce(() => load().catch(() => {}), 200));
  await load().catch(() => {});  // an older daemon keeps printers from a till: no list
}

/* --- cashier: receipts, waiting, held ------------------------------------------------------ */

async function drawReceipts(main) {
  const status = el('div', { id: 'printer-status' });
  const held = el('div', { id: 'held' });
  const list = el('ul', { class: 'list', id: 'receipts' });
  const title = el('h2', {}, t('today'));
  const f = {
    order: el('input', { name: 'order_ref', id: 'q-order', maxlength: 128 }),
    text: el('input', { name: 'q', id: 'q-text', maxlength: 200 }),
    from: el('input', { name: 'since', id: 'q-from', type: 'datetime-local' }),
    to: el('input', { name: 'until', id: 'q-to', type: 'datetime-local' }),
  };
  const form = el('form', { class: 'row card', id: 'search' },
    el('label', {}, t('order_ref'), f.order), el('label', {}, t('text'), f.text),
    el('label', {}, t('from'), f.from), el('label', {}, t('to'), f.to),
    el('button', { type: 'submit' }, t('search')),
    el('button', { type: 'button', class: 'second', onclick: () => { form.reset(); load(); } },
      t('show_today')));
  main.append(el('h1', {}, t('receipts')), status, held, form, title,
    el('section', { class: 'card' }, list));
  let todayMode = true;
  const shown = new Map();

  function row(r) {
    return el('li', { 'data-id': r.id, class: 'receipt' },
      el('span', { class: 'num' }, clock(r.created_at)),
      el('span', { class: 'main' }, el('strong', {}, '#' + r.id), ' ',
        r.order_ref ? r.order_ref : '', ' ', badge(r.state),
        r.copies ? el('span', { class: 'muted' }, ' ' + t('copies_n', { n: r.copies })) : '',
        r.submitted_by ? el('span', { class: 'muted' }, ' · ' + r.submitted_by) : ''),
      el('span', { class: 'acts' },
        el('button', { type: 'button', class: 'second slip', onclick: () => showSlip(r) },
          t('slip')),
        el('button', { type: 'button', class: 'reprint', onclick: () => askReprint(r) },
          t('reprint'))));
  }
  function put(r) {
    const old = shown.get(r.id);
    const node = row(r);
    if (old) old.replaceWith(node);
    else list.prepend(node);
    shown.set(r.id, node);
    const empty = list.querySelector('.empty');
    if (empty) empty.remove();
  }
  async function load() {
    const params = new URLSearchParams({ limit: '100' });
    todayMode = !(f.order.value || f.text.value || f.from.value || f.to.value);
    if (todayMode) {
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      params.set('since', midnight.toISOString());
    } else {
      if (f.order.value) params.set('order_ref', f.order.value.trim());
      if (f.text.value) params.set('q', f.text.value.trim());
      if (f.from.value) params.set('since', new Date(f.from.value).toISOString());
      if (f.to.value) params.set('until', new Date(f.to.value).toISOString());
    }
    title.textContent = todayMode ? t('today') : t('search');
    const data = await api('GET', '/v1/console/receipts?' + params);
    shown.clear();
    list.replaceChildren();
    for (const r of data.receipts.slice().reverse()) put(r);
    if (!data.receipts.length) list.append(el('li', { class: 'empty muted' }, t('none')));
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load().catch((err) => notice(err.message, true));
  });

  async function loadTill() {
    const data = await api('GET', '/v1/console/till');
    const troubled = data.printers.filter((p) => p.state !== 'online' || p.waiting.length);
    status.replaceChildren(...(troubled.length ? troubled.map(printerAlert)
      : [el('p', { class: 'muted', id: 'all-ok' }, t('all_printers_ok'))]));
    const items = data.printers.flatMap((p) => p.held.map((h) => ({ ...h, printer: p.name })))
      .filter((h) => !leftAlone.has(h.print_id));
    held.replaceChildren(...(items.length ? [el('section',
      { class: 'card alert', id: 'held-panel' },
      el('h2', {}, t('held_title')), el('p', { class: 'muted' }, t('held_help')),
      el('ul', { class: 'list' }, items.map(heldItem)))] : []));
  }
  function printerAlert(p) {
    const bad = p.state !== 'online' && p.state !== 'paper_near_end';
    return el('section', { class: 'card alert' + (bad ? '' : ' warn'), 'data-printer': p.name },
      el('div', {}, el('strong', {}, p.name), ' ', badge(p.state, bad ? 'bad' : null),
        p.since ? el('span', { class: 'muted' }, ' ' + t('since') + ' ' + clock(p.since)) : ''),
      el('p', { class: 'hint' }, hintOf(p.hint)),
      p.waiting.length ? el('p', { class: 'waiting' },
        t('waiting', { n: p.waiting.length, p: p.name }) + ': ' +
        p.waiting.map((r) => '#' + r.id + (r.order_ref ? ' ' + r.order_ref : '')).join(', ')) : '');
  }
  function heldItem(h) {
    return el('li', { 'data-id': h.receipt_id },
      el('span', { class: 'main', title: h.reason || '' },
        t('held_reason', { id: '#' + h.receipt_id, r: heldWords(h.reason) }),
        h.order_ref ? el('span', { class: 'muted' }, ' · ' + h.order_ref) : '',
        el('span', { class: 'muted' }, ' · ' + clock(h.created_at))),
      el('span', { class: 'acts' },
        el('button', { type: 'button', class: 'print-now', onclick: async () => {
          try {
            await api('POST', '/v1/receipts/' + h.receipt_id + '/reprint',
              { reason: 'held: print now' });
            notice(t('released', { id: h.receipt_id }));
          } catch (e) { notice(e.message, true); }
          loadTill().catch(() => {});
        } }, t('print_now')),
        el('button', { type: 'button', class: 'second leave-it', onclick: () => {
          leftAlone.add(h.print_id);
          sessionStorage.setItem('leftAlone', JSON.stringify([...leftAlone]));
          loadTill().catch(() => {});
        } }, t('leave_it'))));
  }

  const refreshTill = debounce(() => loadTill().catch(() => {}), 150);
  listeners.push(async (type, data) => {
    if (type !== 'receipt') { refreshTill(); return; }
    refreshTill();
    if (!todayMode && !shown.has(data.receipt_id)) return;
    try { put(await api('GET', '/v1/receipts/' + data.receipt_id)); } catch (e) { /* purged */ }
  });
  await Promise.all([load(), loadTill()]);
}

function showSlip(r) {
  dialog(el('h2', {}, '#' + r.id + (r.order_ref ? ' · ' + r.order_ref : '')),
    el('img', { class: 'slip', id: 'slip-image', alt: 'receipt ' + r.id,
      src: '/v1/receipts/' + r.id + '/preview?format=png' }),
    el('div', { class: 'acts' },
      el('button', { type: 'button', onclick: closeDialog }, t('close'))));
}

async function askReprint(r) {
  let fresh = r;
  try { fresh = await api('GET', '/v1/receipts/' + r.id); } catch (e) { /* show what we have */ }
  if (fresh.state !== 'printed' && fresh.state !== 'held') {
    notice(t('not_printed', { id: r.id, s: stateWord(fresh.state) }), true);
    return;
  }
  const printed = fresh.state === 'printed';
  dialog(el('h2', {}, '#' + fresh.id + (fresh.order_ref ? ' · ' + fresh.order_ref : '')),
    el('p', { class: 'warning', id: 'duplicate-warning' }, printed
      ? t('printed_at', { t: clock(fresh.printed_at) })
      : t('held_reason', { id: '#' + fresh.id, r: '' })),
    el('div', { class: 'acts' },
      el('button', { type: 'button', class: 'second', onclick: closeDialog }, t('cancel')),
      el('button', { type: 'button', id: 'confirm-reprint', onclick: async () => {
        closeDialog();
        try {
          const out = await api('POST', '/v1/receipts/' + fresh.id + '/reprint',
            { reason: 'console' });
          notice(t('copy_queued', { id: fresh.id, p: out.receipt.printer }));
        } catch (e) { notice(e.message, true); }
      } }, printed ? t('print_copy') : t('print_now'))));
}

/* --- admin: printers ------------------------------------------------------------------------ */

async function drawPrinters(main) {
  const grid = el('div', { class: 'grid', id: 'printers' });
  const open = new Set();  // printers whose timeline is shown: kept across live refreshes
  main.append(el('h1', {}, t('printers')), grid);
  async function load() {
    const data = await api('GET', '/v1/printers');
    grid.replaceChildren(...data.printers.map(card));
  }
  async function fillTimeline(name, box) {
    const ev = await api('GET', '/v1/printers/' + encodeURIComponent(name) + '/events?limit=50');
    box.replaceChildren(el('h2', {}, t('timeline')), el('table', { class: 'timeline' },
      el('tbody', {}, ev.events.map((e) => el('tr', {},
        el('td', { class: 'num' }, clock(e.at, true)), el('td', {}, stateWord(e.state)),
        el('td', { class: 'muted' }, e.cause || ''))))));
  }
  function card(p) {
    const paper = p.paper || {};
    const h = p.history || {};
    const q = p.queue || {};
    const timeline = el('div', { class: 'timeline' });
    const bad = p.state !== 'online' && p.state !== 'paper_near_end';
    const used = ((paper.used_since_roll_mm || 0) / 1000).toFixed(1);
    const kv = [
      [t('k_state'), stateWord(p.state)
        + (p.category && p.category !== 'none' ? ' · ' + p.category : '')],
      [t('k_since'), clock(p.since)],
      [t('k_queue'), q.depth + ' ' + t('queue') + ' · ' + q.in_doubt + ' ' + t('in_doubt')
        + ' · ' + q.held + ' ' + t('held')],
      [t('k_paper'), paper.roll_remaining_mm != null
        ? t('paper_left_m', { m: (paper.roll_remaining_mm / 1000).toFixed(1) })
          + (paper.low_estimate ? ' ⚠' : '')
        : t('paper_used_m', { m: used })],
      [t('k_printed'), h.printed + ' · ' + t('copies') + ' ' + h.copies_printed],
      [t('k_outages'), (h.outages || 0)
        + (h.mttr_s != null ? ' · ' + t('mttr') + ' ' + Math.round(h.mttr_s) + ' s' : '')],
    ];
    if (open.has(p.name)) fillTimeline(p.name, timeline).catch(() => {});
    return el('section', { class: 'card' + (bad ? ' alert' : ''), 'data-printer': p.name },
      el('h2', {}, p.name, ' ', badge(p.state, bad ? 'bad' : null)),
      el('p', { class: 'hint' }, hintOf(p.hint)),
      el('dl', { class: 'kv' }, kv.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      el('div', { class: 'acts' },
        el('button', { type: 'button', class: 'recover', onclick: async () => {
          try {
            await api('POST', '/v1/printers/' + encodeURIComponent(p.name) + '/recover');
            notice(t('recovered', { p: p.name }));
          } catch (e) { notice(e.message, true); }
          load().catch(() => {});
        } }, t('recover')), ' ',
        el('button', { type: 'button', class: 'second show-timeline', onclick: () => {
          if (open.delete(p.name)) { timeline.replaceChildren(); return; }
          open.add(p.name);
          fillTimeline(p.name, timeline).catch((e) => notice(e.message, true));
        } }, t('timeline'))),
      timeline);
  }
  listeners.push(debounce(() => load().catch(() => {}), 200));
  await load();
}

/* --- admin: tokens ---------------------------------------------------------------------- */

async function drawTokens(main) {
  const list = el('ul', { class: 'list', id: 'tokens' });
  const made = el('div', { id: 'new-secret' });
  const name = el('input', { id: 'token-name', required: true, maxlength: 64,
    pattern: '[a-z0-9][a-z0-9_.\\-]{0,63}' });
  const role = el('select', { id: 'token-role' },
    ['pos', 'cashier', 'admin'].map((r) => el('option', { value: r }, r)));
  const form = el('form', { class: 'row card', id: 'add-token' },
    el('label', {}, t('name'), name), el('label', {}, t('role'), role),
    el('button', { type: 'submit' }, t('add')));
  main.append(el('h1', {}, t('tokens')), el('h2', {}, t('add_token')), form, made,
    el('section', { class: 'card' }, list));
  async function load() {
    const data = await api('GET', '/v1/tokens');
    list.replaceChildren(...data.tokens.map((tok) => el('li', { 'data-token': tok.name },
      el('span', { class: 'main' }, el('strong', {}, tok.name), ' ', tok.role,
        el('span', { class: 'muted' }, ' · ' + t('source') + ' ' + tok.source +
          (tok.created_by ? ' · ' + t('created_by') + ' ' + tok.created_by : ''))),
      tok.source === 'config' ? '' : el('span', { class: 'acts' },
        el('button', { type: 'button', class: 'danger revoke',
          onclick: () => askRevoke(tok.name) }, t('revoke'))))));
  }
  function askRevoke(n) {
    dialog(el('p', { class: 'warning' }, t('revoke_q', { n })),
      el('div', { class: 'acts' },
        el('button', { type: 'button', class: 'second', onclick: closeDialog }, t('cancel')),
        el('button', { type: 'button', class: 'danger', id: 'confirm-revoke', onclick: async () => {
          closeDialog();
          try {
            await api('POST', '/v1/tokens/' + encodeURIComponent(n) + '/revoke');
            notice(t('revoked', { n }));
          } catch (e) { notice(e.message, true); }
          load().catch(() => {});
        } }, t('revoke'))));
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const out = await api('POST', '/v1/tokens', { name: name.value.trim(), role: role.value });
      made.replaceChildren(el('section', { class: 'card alert warn' },
        el('p', {}, el('strong', {}, out.name), ' (' + out.role + '): ' + t('secret_once')),
        el('code', { class: 'secret', id: 'token-secret' }, out.secret)));
      form.reset();
    } catch (err) { notice(err.message, true); }
    load().catch(() => {});
  });
  await load();
}

/* --- admin: journal --------------------------------------------------------------------- */

async function drawJournal(main) {
  const stats = await api('GET', '/v1/journal/stats');
  const rows = [];
  (function flat(prefix, v) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) flat(prefix ? prefix + '.' + k : k, x);
    } else if (/_bytes$/.test(prefix) && typeof v === 'number') rows.push([prefix, bytes(v)]);
    else rows.push([prefix, Array.isArray(v) ? JSON.stringify(v) : String(v)]);
  })('', stats);
  main.append(el('h1', {}, t('stats')),
    el('section', { class: 'card' }, el('dl', { class: 'kv', id: 'journal-stats' },
      rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { class: 'num' }, v)]))),
    el('p', {}, el('a', { class: 'button', id: 'backup', href: '/v1/journal/backup',
      download: '' }, t('backup'))));
}

document.addEventListener('DOMContentLoaded', start);
