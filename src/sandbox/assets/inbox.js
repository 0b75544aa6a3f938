// The sandbox's agents' inbox: a stand-in of Blinger's Custom App. Plain JS, no build step.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const token = document.body.dataset.token;
  const channel = document.body.dataset.channel;
  let selected = decodeURIComponent((location.hash.match(/^#c=(.+)$/) || [])[1] || '') || null;
  let convs = [];

  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const time = (at) => new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const api = async (path, init) => {
    const res = await fetch('sandbox/api/' + path, init);
    if (!res.ok) throw new Error(res.status + ' ' + (await res.text()));
    return res.json();
  };

  /** A file's name: as its link serves it, else the link's last part when that reads as one. */
  function fileName(url, served) {
    if (served) return served;
    try {
      const last = decodeURIComponent(new URL(url).pathname.split('/').pop() || '');
      if (last && last.length <= 120 && /\.[A-Za-z0-9]{1,8}$/.test(last)) return last;
    } catch (err) {
      /* not a URL */
    }
    return 'file';
  }

  function dataView(type, data, served) {
    const box = el('div', { class: 'event-data' });
    if (type === 'image' && /^https?:/i.test(data)) {
      box.append(
        el(
          'a',
          { href: data, target: '_blank', rel: 'noopener' },
          el('img', { src: data, alt: 'image sent in the conversation', loading: 'lazy' }),
        ),
      );
    } else if (type === 'file' && /^https?:/i.test(data)) {
      // Shown by name; the link is behind it (and in the raw body below).
      box.append(
        el('span', { class: 'badge', text: 'file' }),
        ' ',
        el('a', { class: 'file-link', href: data, target: '_blank', rel: 'noopener', title: data, text: fileName(data, served) }),
      );
    } else box.textContent = String(data);
    return box;
  }

  function problems(list, kind, label) {
    if (!list || !list.length) return null;
    return el('ul', { class: 'problems ' + kind, 'aria-label': label }, ...list.map((p) => el('li', { text: p })));
  }

  function incomingView(e) {
    const b = typeof e.body === 'object' && e.body ? e.body : {};
    const head = el(
      'div',
      { class: 'event-head' },
      el('span', { text: 'bridge → Blinger · ' + time(e.at) }),
      el('span', { class: 'badge', text: 'type: ' + (b.type === undefined ? '—' : String(b.type)) }),
      b.echo === true ? el('span', { class: 'badge flag', text: 'echo' }) : null,
      b.echo_outgoing === true ? el('span', { class: 'badge flag', text: 'echo_outgoing' }) : null,
      el('span', { class: 'badge ' + (e.status === 200 ? 'ok' : 'bad'), text: 'answered ' + e.status }),
      e.violations.length
        ? el('span', { class: 'badge bad', text: e.violations.length + ' violation' + (e.violations.length > 1 ? 's' : '') })
        : null,
      e.warnings.length
        ? el('span', { class: 'badge warn', text: e.warnings.length + ' warning' + (e.warnings.length > 1 ? 's' : '') })
        : null,
    );
    const fields = [];
    if (b.client_name !== undefined) fields.push('client_name: ' + JSON.stringify(b.client_name));
    if (b.client_phone !== undefined) fields.push('client_phone: ' + JSON.stringify(b.client_phone));
    if (b.info !== undefined)
      fields.push(
        'info: ' +
          (b.info && typeof b.info === 'object' && !Array.isArray(b.info)
            ? '{' + Object.keys(b.info).join(', ') + '}'
            : JSON.stringify(b.info)),
      );
    return el(
      'li',
      { class: 'event in' + (e.violations.length ? ' broken' : ''), 'data-dir': 'in' },
      head,
      typeof e.body === 'string'
        ? dataView('text', e.body)
        : dataView(b.type, b.data === undefined ? '(no data)' : b.data, e.link && e.link.name),
      fields.length ? el('div', { class: 'fields', text: fields.join(' · ') }) : null,
      e.link
        ? el(
            'div',
            { class: 'fields' },
            el('span', { class: 'badge ' + (e.link.ok ? 'ok' : 'bad'), text: (e.link.ok ? '✓ ' : '✗ ') + e.link.detail }),
          )
        : null,
      problems(e.violations, 'bad', 'Violations of the Custom App API'),
      problems(e.warnings, 'warn', 'Warnings'),
      el(
        'details',
        { class: 'raw' },
        el('summary', { text: 'Request body as received' }),
        el('pre', { text: typeof e.body === 'string' ? e.body : JSON.stringify(e.body, null, 2) }),
      ),
    );
  }

  function replyView(e) {
    const ok = e.status >= 200 && e.status < 300;
    const answer = e.answer && typeof e.answer === 'object' ? e.answer.message || JSON.stringify(e.answer) : String(e.answer);
    return el(
      'li',
      { class: 'event out' + (ok ? '' : ' broken'), 'data-dir': 'out' },
      el(
        'div',
        { class: 'event-head' },
        el('span', { text: 'agent → bridge · ' + time(e.at) }),
        el('span', { class: 'badge', text: 'type: ' + e.type }),
        el('span', { class: 'badge ' + (ok ? 'ok' : 'bad'), text: 'bridge answered ' + e.status }),
      ),
      dataView(e.type, e.data),
      ok ? null : problems([answer], 'bad', 'The bridge refused the reply'),
    );
  }

  function renderList() {
    // One empty state: before the first conversation, the main pane says what to do.
    $('empty').hidden = convs.length > 0;
    $('placeholder').hidden = convs.length === 0 || Boolean(selected);
    $('convs').replaceChildren(
      ...convs.map((c) =>
        el(
          'li',
          {},
          (() => {
            const b = el(
              'button',
              { type: 'button', 'aria-current': c.clientId === selected ? 'true' : 'false', 'data-client': c.clientId },
              el(
                'span',
                { class: 'conv-name' },
                el('span', { text: c.client_name || c.clientId }),
                c.violations
                  ? el('span', { class: 'badge bad', text: '⚠ ' + c.violations })
                  : el('span', { class: 'badge', text: String(c.count) }),
              ),
              el('span', { class: 'conv-last', text: c.last || '' }),
            );
            b.addEventListener('click', () => select(c.clientId));
            return b;
          })(),
        ),
      ),
    );
  }

  async function loadList() {
    const r = await api('conversations');
    convs = r.conversations;
    renderList();
    $('rejected').hidden = r.rejected.length === 0;
    $('rejected-title').textContent = 'Rejected requests (' + r.rejected.length + ') — they named no conversation';
    $('rejected-list').replaceChildren(...r.rejected.map((e) => incomingView(e)));
    if (!selected && convs.length) select(convs[0].clientId);
  }

  async function loadConv() {
    if (!selected) return;
    let c;
    try {
      c = await api('conversations/' + encodeURIComponent(selected));
    } catch (err) {
      return;
    }
    $('placeholder').hidden = true;
    $('conv-body').hidden = false;
    const s = c.summary;
    $('conv-title').textContent = s.client_name || s.clientId;
    const rows = [
      ['client_id', s.clientId],
      ['client_name', s.client_name],
      ['client_phone', s.client_phone],
    ];
    for (const [k, v] of Object.entries(s.info || {})) rows.push(['info.' + k, typeof v === 'string' ? v : JSON.stringify(v)]);
    $('client').replaceChildren(...rows.filter((r) => r[1]).flatMap((r) => [el('dt', { text: r[0] }), el('dd', { text: r[1] })]));
    const list = $('events');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.replaceChildren(...c.events.map((e) => (e.dir === 'in' ? incomingView(e) : replyView(e))));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function select(id) {
    selected = id;
    history.replaceState(null, '', '#c=' + encodeURIComponent(id));
    renderList();
    loadConv();
  }

  // ---- replies: sent to the bridge's webhook exactly as Blinger sends them
  async function sendReply(type, data) {
    const body = { token, custom_channel_id: channel, client_id: selected, type, data };
    let status = 0;
    let answer = null;
    try {
      const res = await fetch('blinger/' + encodeURIComponent(channel), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
        body: JSON.stringify(body),
      });
      status = res.status;
      answer = await res.json().catch(() => null);
    } catch (err) {
      answer = { message: 'the bridge did not answer: ' + err.message };
    }
    await api('conversations/' + encodeURIComponent(selected) + '/replies', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type, data, status, answer }),
    });
    return { status, answer };
  }

  $('reply').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!selected) return;
    const textEl = $('reply-text');
    const fileEl = $('reply-file');
    const text = textEl.value.trim();
    const file = fileEl.files && fileEl.files[0];
    if (!text && !file) return;
    const status = $('reply-status');
    $('reply-send').disabled = true;
    status.className = 'reply-status';
    status.textContent = 'Sending…';
    const results = [];
    try {
      if (file) {
        const up = await fetch('sandbox/files', {
          method: 'POST',
          body: file,
          headers: { 'content-type': file.type || 'application/octet-stream', 'x-file-name': encodeURIComponent(file.name) },
        });
        if (!up.ok) throw new Error('upload failed: ' + up.status);
        const f = await up.json();
        results.push(await sendReply(f.type, f.url));
        fileEl.value = '';
      }
      if (text) {
        results.push(await sendReply('text', text));
        textEl.value = '';
      }
      const bad = results.find((r) => r.status !== 200);
      status.className = 'reply-status' + (bad ? ' bad' : '');
      status.textContent = bad
        ? 'The bridge answered ' + bad.status + ': ' + ((bad.answer && bad.answer.message) || '')
        : 'Sent: the bridge answered 200 (queued for the visitor).';
    } catch (err) {
      status.className = 'reply-status bad';
      status.textContent = String(err.message || err);
    } finally {
      $('reply-send').disabled = false;
      loadConv();
      textEl.focus();
    }
  });
  $('reply-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      $('reply').requestSubmit();
    }
  });

  // ---- live: the server says something changed; refetch
  const events = new EventSource('sandbox/events');
  events.onmessage = (ev) => {
    let e = {};
    try {
      e = JSON.parse(ev.data);
    } catch (err) {
      /* refresh anyway */
    }
    loadList().catch(() => undefined);
    if (!e.clientId || e.clientId === selected) loadConv();
  };
  events.onopen = () => {
    loadList().catch(() => undefined);
    loadConv();
  };

  loadList().catch(() => undefined);
  loadConv();
})();
