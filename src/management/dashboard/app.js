// warren dashboard. Reads live state from the WebSocket /ws (one message a second), acts
// through the HTTP API (/api/...) with the same basic-auth credentials. No framework: each
// tick re-renders the visible tab's table from the latest snapshot.
import { drawChart, drawLegend, formatNumber } from './charts.js';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

const state = {
  auth: sessionStorage.getItem('warren-auth'),
  user: null,
  snap: null,
  history: [],
  tab: 'overview',
  filters: {},
  ws: null,
  retry: 0,
};

const RATE_SERIES = [
  { key: 'publish', label: 'Publish', color: '#f59e0b' },
  { key: 'deliver', label: 'Deliver', color: '#10b981' },
  { key: 'ack', label: 'Ack', color: '#6366f1' },
];
const DEPTH_SERIES = [
  { key: 'ready', label: 'Ready', color: '#3b82f6' },
  { key: 'unacked', label: 'Unacked', color: '#f43f5e' },
];

// ---------------------------------------------------------------------------------------
// helpers

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function base64Utf8(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

const vpath = (v) => encodeURIComponent(v);

function toast(text, isError = false) {
  const el = document.createElement('div');
  el.className = 'toast' + (isError ? ' err' : '');
  el.textContent = text;
  $('#toasts').append(el);
  setTimeout(() => el.remove(), isError ? 6000 : 3000);
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: state.auth ?? '', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.status === 401 && (path === '/api/whoami' || data?.reason === 'Login failed' || !data)) {
    logout('Please sign in again.');
    throw new Error('not signed in');
  }
  if (!res.ok) throw new Error(data?.reason ?? `${res.status} ${res.statusText}`);
  return data;
}

function ago(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

const rate = (v) => (v > 0 ? `${formatNumber(v)}/s` : '<span class="muted">0</span>');

function openDialog(id) {
  const d = $(id);
  d.hidden = false;
  const first = $('input:not([type=checkbox]), select, textarea', d);
  first?.focus();
  return d;
}

function closeDialogs() {
  for (const d of $$('.overlay')) if (d.id !== 'login') d.hidden = true;
}

function confirmAction(title, text, okLabel = 'Confirm') {
  return new Promise((resolve) => {
    const d = openDialog('#dlg-confirm');
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    const ok = $('#confirm-ok');
    ok.textContent = okLabel;
    const done = (v) => {
      d.hidden = true;
      ok.onclick = null;
      resolve(v);
    };
    ok.onclick = () => done(true);
    $('[data-close]', d).onclick = () => done(false);
    ok.focus();
  });
}

// ---------------------------------------------------------------------------------------
// login and live connection

function showLogin(message) {
  $('#login').hidden = false;
  const err = $('#login-error');
  err.hidden = !message;
  err.textContent = message ?? '';
  $('#login-form [name=user]').focus();
}

function logout(message) {
  state.auth = null;
  state.user = null;
  sessionStorage.removeItem('warren-auth');
  state.ws?.close();
  $('#user-name').textContent = '';
  $('#logout').hidden = true;
  showLogin(message);
}

async function login(auth) {
  state.auth = auth;
  const me = await api('GET', '/api/whoami');
  state.user = me;
  sessionStorage.setItem('warren-auth', auth);
  $('#login').hidden = true;
  $('#user-name').textContent = me.name;
  $('#logout').hidden = false;
  connect();
}

function setLive(on, text) {
  const el = $('#live-status');
  el.classList.toggle('on', on);
  $('span', el).textContent = text;
}

function connect() {
  state.ws?.close();
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', authorization: state.auth }));
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === 'hello') {
      state.history = msg.history ?? [];
      state.retry = 0;
      setLive(true, 'live');
    } else if (msg.type === 'tick') {
      if (msg.point) {
        state.history.push(msg.point);
        if (state.history.length > 300) state.history.shift();
      }
      state.snap = msg;
      render();
    } else if (msg.type === 'error') {
      logout(msg.reason);
    }
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    setLive(false, 'reconnecting…');
    if (!state.auth) return setLive(false, 'offline');
    const delay = Math.min(10_000, 500 * 2 ** state.retry++);
    setTimeout(() => state.auth && state.ws === ws && connect(), delay);
  };
}

// ---------------------------------------------------------------------------------------
// rendering

function matches(tab, ...texts) {
  const f = (state.filters[tab] ?? '').trim().toLowerCase();
  return f === '' || texts.some((t) => String(t).toLowerCase().includes(f));
}

function render() {
  const s = state.snap;
  if (!s) return;
  $('#node-info').textContent = `${s.node} · RabbitMQ ${s.version} compatible · up ${ago(s.uptime)}`;
  for (const el of $$('[data-count]')) el.textContent = s.totals[el.dataset.count] ?? '';
  for (const el of $$('[data-total]')) el.textContent = formatNumber(s.totals[el.dataset.total] ?? 0);
  fillVhostSelects(s.vhosts);
  const renderers = { overview: renderOverview, queues: renderQueues, exchanges: renderExchanges, bindings: renderBindings, connections: renderConnections, channels: renderChannels, consumers: renderConsumers };
  renderers[state.tab]?.(s);
}

function fillVhostSelects(vhosts) {
  for (const sel of $$('select[data-vhosts]')) {
    const cur = [...sel.options].map((o) => o.value).join('\n');
    if (cur === vhosts.join('\n')) continue;
    const keep = sel.value;
    sel.innerHTML = vhosts.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join('');
    if (vhosts.includes(keep)) sel.value = keep;
  }
}

function renderOverview(s) {
  drawChart($('#chart-rates'), state.history, RATE_SERIES);
  drawLegend($('#legend-rates'), state.history, RATE_SERIES, '/s');
  drawChart($('#chart-depth'), state.history, DEPTH_SERIES);
  drawLegend($('#legend-depth'), state.history, DEPTH_SERIES);
  const top = [...s.queues].sort((a, b) => b.messages - a.messages || b.publish_rate - a.publish_rate).slice(0, 8);
  queueTable($('#table-top-queues'), top, s, false);
}

function queueTable(table, queues, s, withActions) {
  const multiVhost = s.vhosts.length > 1;
  const max = Math.max(1, ...queues.map((q) => q.messages_ready));
  const head = `<thead><tr>${multiVhost ? '<th>Vhost</th>' : ''}<th>Name</th><th>Features</th>
    <th class="num">Ready</th><th class="num">Unacked</th><th class="num">Total</th><th class="num">Consumers</th>
    <th class="num">Incoming</th><th class="num">Deliver</th><th class="num">Ack</th>${withActions ? '<th></th>' : ''}</tr></thead>`;
  const cols = (multiVhost ? 1 : 0) + 9 + (withActions ? 1 : 0);
  const rows = queues
    .map((q) => {
      const features = [
        q.type === 'quorum' ? '<span class="badge q" title="quorum queue">QQ</span>' : '',
        q.durable ? '<span class="badge d" title="durable">D</span>' : '',
        q.auto_delete ? '<span class="badge ad" title="auto-delete">AD</span>' : '',
        q.exclusive ? '<span class="badge x" title="exclusive">Excl</span>' : '',
        q.policy ? `<span class="badge pol" title="policy">${esc(q.policy)}</span>` : '',
      ].join('');
      return `<tr data-vhost="${esc(q.vhost)}" data-queue="${esc(q.name)}">
        ${multiVhost ? `<td class="vh">${esc(q.vhost)}</td>` : ''}
        <td class="name">${esc(q.name)}</td>
        <td>${features}</td>
        <td class="num"><span class="depth"><span class="bar"><i style="width:${(q.messages_ready / max) * 100}%"></i></span><span data-col="messages_ready">${q.messages_ready}</span></span></td>
        <td class="num" data-col="messages_unacknowledged">${q.messages_unacknowledged}</td>
        <td class="num" data-col="messages">${q.messages}</td>
        <td class="num" data-col="consumers">${q.consumers}</td>
        <td class="num">${rate(q.publish_rate)}</td>
        <td class="num">${rate(q.deliver_rate)}</td>
        <td class="num">${rate(q.ack_rate)}</td>
        ${withActions ? `<td class="acts">
          <button class="sm" data-action="get" title="Get or peek messages">Get</button>
          <button class="sm" data-action="publish" title="Publish to this queue">Publish</button>
          <button class="sm danger" data-action="purge" title="Remove all ready messages">Purge</button>
          <button class="sm danger" data-action="delete" title="Delete the queue">Delete</button>
        </td>` : ''}
      </tr>`;
    })
    .join('');
  table.innerHTML = head + `<tbody>${rows || `<tr><td class="empty" colspan="${cols}">No queues yet.</td></tr>`}</tbody>`;
}

function renderQueues(s) {
  queueTable($('#table-queues'), s.queues.filter((q) => matches('queues', q.name, q.vhost)), s, true);
}

function simpleTable(table, headers, rows, emptyText) {
  const head = `<thead><tr>${headers.map((h) => `<th class="${h.num ? 'num' : ''}">${h.label}</th>`).join('')}</tr></thead>`;
  table.innerHTML = head + `<tbody>${rows.join('') || `<tr><td class="empty" colspan="${headers.length}">${emptyText}</td></tr>`}</tbody>`;
}

function renderExchanges(s) {
  const rows = s.exchanges
    .filter((x) => matches('exchanges', x.name || 'amq.default', x.vhost))
    .map((x) => `<tr data-vhost="${esc(x.vhost)}" data-exchange="${esc(x.name)}">
      <td class="vh">${esc(x.vhost)}</td>
      <td class="name">${x.name === '' ? '<span class="muted">(AMQP default)</span>' : esc(x.name)}</td>
      <td><span class="badge">${esc(x.type)}</span></td>
      <td>${x.durable ? '<span class="badge d">D</span>' : ''}${x.auto_delete ? '<span class="badge ad">AD</span>' : ''}${x.internal ? '<span class="badge x">I</span>' : ''}</td>
      <td class="num">${formatNumber(x.publish_in)}</td>
      <td class="num">${formatNumber(x.publish_out)}</td>
    </tr>`);
  simpleTable($('#table-exchanges'), [
    { label: 'Vhost' }, { label: 'Name' }, { label: 'Type' }, { label: 'Features' }, { label: 'Published in', num: true }, { label: 'Routed out', num: true },
  ], rows, 'No exchanges.');
}

function renderBindings(s) {
  const rows = s.bindings
    .filter((b) => matches('bindings', b.source || 'amq.default', b.destination, b.routing_key))
    .map((b) => `<tr>
      <td class="vh">${esc(b.vhost)}</td>
      <td class="name">${b.source === '' ? '<span class="muted">(AMQP default)</span>' : esc(b.source)}</td>
      <td>→</td>
      <td><span class="badge">${b.destination_type}</span> <span class="name">${esc(b.destination)}</span></td>
      <td class="mono">${esc(b.routing_key)}</td>
      <td class="mono">${Object.keys(b.arguments).length ? esc(JSON.stringify(b.arguments)) : ''}</td>
    </tr>`);
  simpleTable($('#table-bindings'), [
    { label: 'Vhost' }, { label: 'Source' }, { label: '' }, { label: 'Destination' }, { label: 'Routing key' }, { label: 'Arguments' },
  ], rows, 'No bindings.');
}

function renderConnections(s) {
  const rows = s.connections.map((c) => `<tr data-connection="${esc(c.name)}">
      <td class="name">${esc(c.user_provided_name ?? c.name)}${c.user_provided_name ? `<div class="muted mono">${esc(c.name)}</div>` : ''}</td>
      <td>${esc(c.user)}</td>
      <td class="vh">${esc(c.vhost)}</td>
      <td>${esc(c.client)}</td>
      <td><span class="state ${c.state === 'running' ? '' : 'closing'}">${esc(c.state)}</span></td>
      <td class="num">${c.channels}</td>
      <td class="num">${bytes(c.recv_oct)}</td>
      <td class="num">${bytes(c.send_oct)}</td>
      <td class="num">${ago(Date.now() - c.connected_at)}</td>
      <td class="acts"><button class="sm danger" data-action="close-connection">Close</button></td>
    </tr>`);
  simpleTable($('#table-connections'), [
    { label: 'Name' }, { label: 'User' }, { label: 'Vhost' }, { label: 'Client' }, { label: 'State' }, { label: 'Channels', num: true },
    { label: 'Received', num: true }, { label: 'Sent', num: true }, { label: 'Open for', num: true }, { label: '' },
  ], rows, 'No client is connected.');
}

function renderChannels(s) {
  const rows = s.channels.map((c) => `<tr>
      <td class="name">${esc(c.name)}</td>
      <td>${esc(c.user)}</td>
      <td class="vh">${esc(c.vhost)}</td>
      <td>${c.confirm ? '<span class="badge d">confirm</span>' : ''}${c.transactional ? '<span class="badge ad">tx</span>' : ''}</td>
      <td><span class="state ${c.state === 'running' ? '' : 'closing'}">${esc(c.state)}</span></td>
      <td class="num">${c.prefetch_count || '<span class="muted">∞</span>'}${c.global_prefetch_count ? ` / ${c.global_prefetch_count} global` : ''}</td>
      <td class="num">${c.messages_unacknowledged}</td>
      <td class="num">${c.consumer_count}</td>
    </tr>`);
  simpleTable($('#table-channels'), [
    { label: 'Channel' }, { label: 'User' }, { label: 'Vhost' }, { label: 'Mode' }, { label: 'State' },
    { label: 'Prefetch', num: true }, { label: 'Unacked', num: true }, { label: 'Consumers', num: true },
  ], rows, 'No channel is open.');
}

function renderConsumers(s) {
  const rows = s.consumers.map((c) => `<tr>
      <td class="name mono">${esc(c.consumer_tag)}</td>
      <td class="vh">${esc(c.vhost)}</td>
      <td class="name">${esc(c.queue)}</td>
      <td class="mono">${esc(c.channel)}</td>
      <td>${c.ack_required ? 'manual' : '<span class="badge ad">auto</span>'}${c.exclusive ? ' <span class="badge x">exclusive</span>' : ''}</td>
      <td class="num">${c.prefetch_count || '<span class="muted">∞</span>'}</td>
      <td class="num">${c.unacked}</td>
    </tr>`);
  simpleTable($('#table-consumers'), [
    { label: 'Tag' }, { label: 'Vhost' }, { label: 'Queue' }, { label: 'Channel' }, { label: 'Ack' }, { label: 'Prefetch', num: true }, { label: 'Unacked', num: true },
  ], rows, 'No consumers.');
}

// ---------------------------------------------------------------------------------------
// tabs

function selectTab(tab) {
  if (!$(`#panel-${tab}`)) tab = 'overview';
  state.tab = tab;
  for (const b of $$('#tabs button')) b.classList.toggle('active', b.dataset.tab === tab);
  for (const p of $$('.tab-panel')) p.hidden = p.id !== `panel-${tab}`;
  if (location.hash !== `#${tab}`) history.replaceState(null, '', `#${tab}`);
  render();
}

// ---------------------------------------------------------------------------------------
// actions

async function queueAction(action, vhost, name) {
  const path = `/api/queues/${vpath(vhost)}/${encodeURIComponent(name)}`;
  if (action === 'purge') {
    if (!(await confirmAction('Purge queue', `Remove every ready message from "${name}"?`, 'Purge'))) return;
    await api('DELETE', `${path}/contents`);
    toast(`Purged ${name}`);
  } else if (action === 'delete') {
    if (!(await confirmAction('Delete queue', `Delete "${name}" with its messages and bindings?`, 'Delete'))) return;
    await api('DELETE', path);
    toast(`Deleted ${name}`);
  } else if (action === 'publish') {
    openPublish(vhost, 'amq.default', name);
  } else if (action === 'get') {
    const d = openDialog('#dlg-get');
    d.dataset.vhost = vhost;
    d.dataset.queue = name;
    $('#get-queue-name').textContent = name;
    $('#get-result').innerHTML = '';
  }
}

function openPublish(vhost, exchange, routingKey) {
  const d = openDialog('#dlg-publish');
  const f = $('#form-publish');
  if (vhost) f.vhost.value = vhost;
  f.exchange.value = exchange ?? 'amq.default';
  f.routing_key.value = routingKey ?? '';
  const names = (state.snap?.exchanges ?? []).filter((x) => x.vhost === f.vhost.value).map((x) => x.name || 'amq.default');
  $('#exchange-names').innerHTML = names.map((n) => `<option value="${esc(n)}">`).join('');
  $('[name=payload]', d).focus();
}

function parseJson(text, what) {
  try {
    const v = JSON.parse(text || '{}');
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error();
    return v;
  } catch {
    throw new Error(`${what} must be a JSON object`);
  }
}

function wire() {
  $('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      await login('Basic ' + base64Utf8(`${f.user.value}:${f.pass.value}`));
    } catch (err) {
      showLogin(err.message === 'not signed in' ? 'Wrong user name or password, or the user may not use the management UI.' : err.message);
    }
  });
  $('#logout').addEventListener('click', () => logout());
  $('#tabs').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-tab]');
    if (b) selectTab(b.dataset.tab);
  });
  for (const b of $$('[data-goto]')) b.addEventListener('click', () => selectTab(b.dataset.goto));
  for (const input of $$('input[data-filter]')) {
    input.addEventListener('input', () => {
      state.filters[input.dataset.filter] = input.value;
      render();
    });
  }
  document.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-action]');
    if (!b) return;
    const row = b.closest('tr');
    try {
      if (b.dataset.action === 'close-connection') {
        const name = row.dataset.connection;
        if (!(await confirmAction('Close connection', `Force-close ${name}? The client sees 320 CONNECTION_FORCED.`, 'Close'))) return;
        await api('DELETE', `/api/connections/${encodeURIComponent(name)}`);
        toast('Connection closed');
      } else {
        await queueAction(b.dataset.action, row.dataset.vhost, row.dataset.queue);
      }
    } catch (err) {
      toast(err.message, true);
    }
  });
  for (const b of $$('[data-close]')) b.addEventListener('click', () => b.closest('.overlay').hidden = true);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeDialogs();
  });
  $('#btn-add-queue').addEventListener('click', () => openDialog('#dlg-add-queue'));
  $('#btn-publish').addEventListener('click', () => openPublish());

  $('#form-add-queue').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      const args = parseJson(f.arguments.value, 'Arguments');
      if (f.type.value === 'quorum') args['x-queue-type'] = 'quorum';
      await api('PUT', `/api/queues/${vpath(f.vhost.value)}/${encodeURIComponent(f.name.value)}`, {
        durable: f.durable.checked,
        auto_delete: f.auto_delete.checked,
        arguments: args,
      });
      toast(`Queue ${f.name.value} is there`);
      f.name.value = '';
      closeDialogs();
    } catch (err) {
      toast(err.message, true);
    }
  });

  $('#form-publish').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      const properties = {};
      const headers = parseJson(f.headers.value, 'Headers');
      if (Object.keys(headers).length) properties.headers = headers;
      if (f.persistent.checked) properties.delivery_mode = 2;
      const r = await api('POST', `/api/exchanges/${vpath(f.vhost.value)}/${encodeURIComponent(f.exchange.value || 'amq.default')}/publish`, {
        properties,
        routing_key: f.routing_key.value,
        payload: f.payload.value,
        payload_encoding: 'string',
      });
      toast(r.routed ? 'Message published' : 'Published, but no queue was bound for it', !r.routed);
      if (r.routed) closeDialogs();
    } catch (err) {
      toast(err.message, true);
    }
  });

  $('#form-get').addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = $('#dlg-get');
    const f = e.target;
    try {
      const msgs = await api('POST', `/api/queues/${vpath(d.dataset.vhost)}/${encodeURIComponent(d.dataset.queue)}/get`, {
        count: Number(f.count.value),
        ackmode: f.ackmode.value,
        encoding: f.encoding.value,
        truncate: 50_000,
      });
      $('#get-result').innerHTML = msgs.length === 0
        ? '<p class="muted">The queue is empty.</p>'
        : msgs.map((m, i) => `<div class="message">
            <header><b>#${i + 1}</b><span>exchange <b>${esc(m.exchange || '(default)')}</b></span><span>routing key <b>${esc(m.routing_key)}</b></span>
              <span>${m.payload_bytes} bytes, ${esc(m.payload_encoding)}</span>${m.redelivered ? '<span class="badge ad">redelivered</span>' : ''}
              <span>${m.message_count} left</span></header>
            ${Array.isArray(m.properties) ? '' : `<pre class="props">properties ${esc(JSON.stringify(m.properties))}</pre>`}
            <pre>${esc(m.payload)}</pre></div>`).join('');
    } catch (err) {
      toast(err.message, true);
    }
  });

  window.addEventListener('resize', () => state.tab === 'overview' && render());
  window.addEventListener('hashchange', () => selectTab(location.hash.slice(1)));
}

wire();
selectTab(location.hash.slice(1) || 'overview');
if (state.auth) login(state.auth).catch(() => showLogin());
else showLogin();
