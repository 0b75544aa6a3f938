// blinger-bridge web chat page. Plain JS, no build step. Protocol: docs/client-api.md (adapters/webchat/protocol.ts).
(() => {
  'use strict';
  const PROTOCOL_VERSION = '1.0';
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const channel = body.dataset.channel;
  const maxUpload = Number(body.dataset.maxUpload);
  const maxUploadText = body.dataset.maxUploadText;
  const params = new URLSearchParams(location.search);
  const embedded = params.get('embed') === '1';
  const storeKey = 'blinger-bridge.webchat.' + channel;
  const list = $('messages');
  const statusEl = $('status');
  const textEl = $('text');
  const alertEl = $('alert');
  const phoneEl = $('phone');

  // ---- theme: the launcher's data-color (or ?color=) colours the whole chat
  (function theme() {
    const c = params.get('color');
    if (!c || !/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(c)) return;
    const hex = c.length === 4 ? '#' + c[1] + c[1] + c[2] + c[2] + c[3] + c[3] : c;
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
    const lin = (v) => (v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    const luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    const root = document.documentElement.style;
    root.setProperty('--accent', hex);
    // Text on the colour: whichever of black and white reads better.
    root.setProperty('--accent-ink', luminance > 0.4 ? '#111827' : '#ffffff');
  })();

  if (embedded) {
    // The launcher's panel: a close button, as the page may fill a phone's screen.
    $('close').hidden = false;
    $('close').addEventListener('click', () => parent.postMessage({ type: 'blinger-bridge:close' }, '*'));
  }

  // ---- identity: a random key in localStorage; the bridge derives the conversation id from it
  const randomId = (bytes) => {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return btoa(String.fromCharCode.apply(null, a)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  let state = {};
  try {
    state = JSON.parse(localStorage.getItem(storeKey) || '{}') || {};
  } catch (e) {
    state = {};
  }
  const save = () => {
    try {
      localStorage.setItem(storeKey, JSON.stringify(state));
    } catch (e) {
      /* private mode: this visit only */
    }
  };
  if (typeof state.key !== 'string' || !/^[A-Za-z0-9_-]{22,128}$/.test(state.key)) {
    state.key = randomId(32);
    save();
  }

  const context = () => ({
    name: state.name || undefined,
    phone: state.phone || undefined,
    page: params.get('page') || location.href,
    referrer: params.get('referrer') || document.referrer || undefined,
    language: navigator.language || undefined,
  });

  // ---- rendering
  const rendered = new Map(); // id -> element
  const entries = new Map(); // id -> the entry shown
  const statuses = new Map(); // id -> 'delivered' | 'failed' | 'resent', as the server told
  const outbox = new Map(); // id -> {frame, entry} not yet acknowledged
  const uploads = new Map(); // id -> File, for "try again"

  const fmtTime = (at) => new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const fmtSize = (n) => (n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : n >= 1024 ? Math.round(n / 1024) + ' KB' : n + ' B');
  const dayOf = (at) => {
    const d = new Date(at);
    return d.getFullYear() + '-' + d.getMonth() + '-' + d.getDate();
  };
  const daysAgo = (at) => {
    const midnight = (t) => {
      const d = new Date(t);
      d.setHours(0, 0, 0, 0);
      return d.getTime();
    };
    return Math.round((midnight(Date.now()) - midnight(at)) / 86400000);
  };
  function fmtDay(at) {
    const ago = daysAgo(at);
    if (ago === 0) return 'Today';
    if (ago === 1) return 'Yesterday';
    const d = new Date(at);
    const opts = { weekday: 'long', day: 'numeric', month: 'long' };
    if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric';
    return d.toLocaleDateString([], opts);
  }
  const fileNameOf = (e) => {
    if (e.name) return e.name;
    try {
      return decodeURIComponent(new URL(e.data).pathname.split('/').pop()) || 'file';
    } catch (err) {
      return 'file';
    }
  };
  const safeUrl = (u) => (/^(https?:|blob:)/i.test(u) ? u : null);

  function linkify(el, text) {
    const parts = text.split(/(https?:\/\/[^\s<>"]+)/g);
    parts.forEach((p, i) => {
      if (i % 2 === 1) {
        const a = document.createElement('a');
        a.href = p;
        a.textContent = p;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        el.appendChild(a);
      } else if (p) el.appendChild(document.createTextNode(p));
    });
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function clip() {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', 'clip');
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', 'M21 11.5l-8.6 8.6a5.5 5.5 0 01-7.8-7.8l8.6-8.6a3.7 3.7 0 015.2 5.2l-8.6 8.6a1.8 1.8 0 01-2.6-2.6l7.9-7.9');
    svg.appendChild(path);
    return svg;
  }

  function content(e) {
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    const url = e.type === 'text' ? null : safeUrl(e.data);
    if (e.type === 'text' || !url) {
      linkify(bubble, e.type === 'text' ? e.data : '(' + e.type + ' unavailable)');
      return bubble;
    }
    const a = document.createElement('a');
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    if (e.type === 'image') {
      bubble.classList.add('media');
      const img = document.createElement('img');
      img.src = url;
      img.alt = e.from === 'agent' ? 'Image from the support team' : 'Your image' + (e.name ? ' ' + e.name : '');
      img.loading = 'lazy';
      img.addEventListener('error', () => {
        a.replaceWith(document.createTextNode('Image no longer available'));
      });
      img.addEventListener('load', stickToBottom);
      a.appendChild(img);
    } else {
      a.className = 'file';
      a.append(clip(), document.createTextNode(fileNameOf(e) + (e.size ? ' (' + fmtSize(e.size) + ')' : '')));
    }
    bubble.appendChild(a);
    return bubble;
  }

  // ---- a bot message's buttons, and its "share my phone number" request
  // The phone rule is the server's (the input's pattern attribute): one rule on both sides.
  const isPhone = (v) => new RegExp('^(?:' + phoneEl.pattern + ')$').test(v);

  function keyboard(e) {
    const k = e.from === 'agent' && e.keyboard;
    if (!k) return null;
    const group = document.createElement('div');
    group.className = 'keyboard';
    group.setAttribute('role', 'group');
    const button = (label, onClick) => textButton('kb-button', label, onClick);
    if (Array.isArray(k.buttons) && k.buttons.length) {
      // Every message keeps its buttons, as in Telegram: an older menu can still be used.
      group.setAttribute('aria-label', 'Quick replies');
      for (const row of k.buttons) {
        const r = document.createElement('div');
        r.className = 'kb-row';
        for (const b of Array.isArray(row) ? row : []) {
          if (b && typeof b.label === 'string' && typeof b.data === 'string') r.appendChild(button(b.label, () => press(b)));
        }
        if (r.childNodes.length) group.appendChild(r);
      }
      return group.childNodes.length ? group : null;
    }
    if (typeof k.requestPhone === 'string' && k.requestPhone) {
      // Shown under the latest request only, until the phone is shared or the bot hides it.
      group.classList.add('phone-ask');
      group.removeAttribute('role');
      group.appendChild(button(k.requestPhone, askedForPhone));
      return group;
    }
    return null;
  }

  /** The phone request stays under the latest one, unless a later message hid it or the visitor shared theirs. */
  function refreshPhoneAsk() {
    let active = null;
    for (const el of list.children) {
      if (el.dataset.kb === 'phone') active = el;
      else if (el.dataset.kb === 'remove' || (el.dataset.kind === 'phone' && !el.classList.contains('failed'))) active = null;
    }
    for (const g of list.querySelectorAll('.phone-ask')) g.hidden = g.parentElement !== active;
  }

  /** A line with the date before the first message of each day. */
  function markDays() {
    for (const d of list.querySelectorAll('.day')) d.remove();
    let last = null;
    for (const el of Array.from(list.querySelectorAll('.msg'))) {
      const at = Number(el.dataset.at);
      const day = dayOf(at);
      if (day === last) continue;
      last = day;
      const sep = document.createElement('p');
      sep.className = 'day';
      sep.setAttribute('role', 'separator');
      const t = document.createElement('time');
      t.dateTime = new Date(at).toISOString().slice(0, 10);
      t.textContent = fmtDay(at);
      sep.appendChild(t);
      list.insertBefore(sep, el);
    }
  }

  let nearBottom = true;
  list.addEventListener('scroll', () => {
    nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  });
  function stickToBottom() {
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  /** A button with a text label (a keyboard button, an action in a message's meta line). */
  function textButton(className, label, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = className;
    b.textContent = label;
    b.addEventListener('click', onClick);
    return b;
  }

  /** A small action link in a message's meta line. */
  function action(label, onClick) {
    return textButton('linkish', label, onClick);
  }

  /**
   * The state line of a visitor's message: what the page knows (local: sending, not sent) or what
   * the server said (sent = durable, delivered = Blinger has it, failed, resent).
   */
  function stateOf(e, local) {
    if (local) return local.state === 'pending' ? ['sending', local.note || 'Sending…'] : ['unsent', local.note || 'Not sent'];
    const s = statuses.get(e.id) || e.status;
    if (s === 'delivered') return ['delivered', '✓✓ Delivered'];
    if (s === 'failed') return ['failed', 'Not delivered'];
    if (s === 'resent') return ['resent', 'Not delivered · sent again below'];
    return ['sent', '✓ Sent'];
  }

  /** Adds or updates one entry. local: {state: 'pending' | 'failed', note, retry} while the page still owns it. */
  function show(e, local, batch) {
    let el = rendered.get(e.id);
    const fresh = !el;
    if (fresh) {
      el = document.createElement('div');
      el.dataset.id = e.id;
    }
    entries.set(e.id, e);
    const [status, text] = e.from === 'visitor' ? stateOf(e, local) : ['', ''];
    const failed = status === 'unsent' || status === 'failed' || status === 'resent';
    el.className = 'msg ' + e.from + (status === 'sending' ? ' pending' : failed ? ' failed' : '');
    el.dataset.at = String(e.at);
    // A new state redraws only the meta line: an image is not loaded again for a tick.
    const shown = e.type + '\n' + e.data + '\n' + JSON.stringify(e.keyboard || null);
    if (el.dataset.shown !== shown) {
      el.dataset.shown = shown;
      el.replaceChildren(content(e));
      const k = e.keyboard || {};
      el.dataset.kb = e.from !== 'agent' ? '' : k.buttons ? 'buttons' : k.requestPhone ? 'phone' : k.remove ? 'remove' : '';
      el.dataset.kind = e.kind || '';
      const kb = keyboard(e);
      if (kb) el.appendChild(kb);
    } else {
      const old = el.querySelector(':scope > .meta');
      if (old) old.remove();
    }
    const meta = document.createElement('div');
    meta.className = 'meta';
    const time = document.createElement('time');
    time.dateTime = new Date(e.at).toISOString();
    time.textContent = fmtTime(e.at);
    meta.appendChild(time);
    if (e.from === 'visitor') {
      const s = document.createElement('span');
      s.className = 'state';
      s.dataset.status = status;
      s.textContent = text;
      meta.appendChild(s);
      if (local && local.retry) meta.appendChild(action('Try again', local.retry));
      if (!local && status === 'failed') meta.appendChild(action('Send again', () => resend(e)));
    }
    el.appendChild(meta);
    if (fresh) {
      rendered.set(e.id, el);
      list.appendChild(el);
    }
    if (batch) return;
    markDays();
    refreshPhoneAsk();
    stickToBottom();
  }

  function showAlert(text) {
    alertEl.textContent = text;
    alertEl.hidden = !text;
  }

  // ---- opening hours: "we reply during opening hours", and when they start again
  let hoursTimer = 0;
  function showHours(h) {
    clearTimeout(hoursTimer);
    const el = $('availability');
    el.hidden = !h;
    if (!h) return;
    let text = 'We reply during opening hours';
    if (!h.open && typeof h.opensAt === 'number') {
      const ago = daysAgo(h.opensAt);
      const when = ago === 0 ? 'today' : ago === -1 ? 'tomorrow' : new Date(h.opensAt).toLocaleDateString([], { weekday: 'long' });
      text += ' · back ' + when + ' at ' + fmtTime(h.opensAt);
      const wait = h.opensAt - Date.now();
      if (wait > 0 && wait < 2147483647) hoursTimer = setTimeout(() => showHours({ open: true }), wait);
    } else if (!h.open) text += ' · closed now';
    el.textContent = text;
    el.dataset.open = String(Boolean(h.open));
  }

  // ---- connection, with reconnect
  let ws = null;
  let ready = false;
  let attempt = 0;
  let timer = 0;
  let stopped = false;
  let lastError = null;

  function setStatus(s, text) {
    statusEl.dataset.state = s;
    $('status-text').textContent = text;
  }

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + location.pathname.replace(/\/+$/, '') + '/ws';
  }

  /** Close codes after which reconnecting cannot help: say why and stop. */
  const FINAL = {
    4403: 'This chat cannot be used from this site.',
    4404: 'This chat does not exist. Check the address of the page.',
    4426: 'This chat page is out of date. Reload the page.',
    4429: 'This chat is open in too many tabs. Close some of them and reload this page.',
  };

  function connect() {
    clearTimeout(timer);
    if (stopped || ws) return;
    setStatus('connecting', 'Connecting…');
    const sock = new WebSocket(wsUrl());
    ws = sock;
    lastError = null;
    sock.onopen = () => sock.send(JSON.stringify(Object.assign({ type: 'hello', version: PROTOCOL_VERSION, key: state.key }, context())));
    sock.onmessage = (ev) => {
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch (err) {
        return;
      }
      onFrame(f);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      ready = false;
      if (FINAL[ev.code]) {
        stopped = true;
        setStatus('gone', 'Unavailable');
        // A quota names itself in its error frame.
        showAlert(lastError && lastError.code === 'rate_limited' ? 'Not available: ' + lastError.message + '.' : FINAL[ev.code]);
        return;
      }
      if (ev.code === 1009) showAlert('That message was too long to send.');
      const delay = Math.round(Math.min(10000, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() / 2));
      attempt++;
      setStatus('offline', 'Offline — reconnecting…');
      timer = setTimeout(connect, delay);
    };
  }

  const reconnectNow = () => {
    if (!ws && !stopped) {
      attempt = 0;
      connect();
    }
  };
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') reconnectNow();
  });

  function sendFrame(f) {
    if (ws && ready) {
      ws.send(JSON.stringify(f));
      return true;
    }
    return false;
  }

  function welcome(f) {
    ready = true;
    attempt = 0;
    setStatus('online', 'Connected');
    showHours(f.hours);
    if (alertEl.textContent.indexOf('could not') !== -1 || alertEl.textContent.indexOf('too long') !== -1) showAlert('');
    // The server's history is the truth; pending messages stay after it and are sent again.
    const keep = new Set([].concat(Array.from(outbox.keys()), Array.from(uploads.keys())));
    for (const [id, el] of rendered)
      if (!keep.has(id)) {
        el.remove();
        rendered.delete(id);
      }
    for (const e of f.history) {
      if (e.status) statuses.set(e.id, e.status);
      else statuses.delete(e.id);
      if (!keep.has(e.id)) show(e, undefined, true);
    }
    for (const id of keep) {
      const el = rendered.get(id);
      if (el) list.appendChild(el);
    }
    markDays();
    refreshPhoneAsk();
    nearBottom = true;
    stickToBottom();
    for (const item of outbox.values()) sendFrame(item.frame);
  }

  function refused(f) {
    const item = outbox.get(f.id);
    if (f.code === 'unavailable') {
      show(item.entry, { state: 'pending', note: 'Waiting to send…' });
      setTimeout(() => {
        if (outbox.has(f.id)) sendFrame(item.frame);
      }, 3000);
      return;
    }
    if (f.code === 'rate_limited') {
      // Kept in the outbox: "Try again" sends the same message (same id) once there is room.
      show(item.entry, { state: 'failed', note: 'Not sent: ' + f.message, retry: () => queue(item.entry, item.frame) });
      return;
    }
    outbox.delete(f.id);
    const note =
      f.code === 'unknown_button'
        ? 'Not sent: this choice is not available any more'
        : f.code === 'not_resendable'
          ? 'Not sent: the message can no longer be sent again'
          : 'Not sent: ' + f.message;
    show(item.entry, { state: 'failed', note });
  }

  function onFrame(f) {
    switch (f.type) {
      case 'welcome':
        welcome(f);
        break;
      case 'ack':
        outbox.delete(f.id);
        if (f.entry.status) statuses.set(f.id, f.entry.status);
        show(f.entry);
        break;
      case 'message':
        if (!outbox.has(f.entry.id) && !uploads.has(f.entry.id)) show(f.entry);
        break;
      case 'status': {
        statuses.set(f.id, f.status);
        const e = entries.get(f.id);
        if (e && !outbox.has(f.id) && !uploads.has(f.id)) show(e);
        break;
      }
      case 'error':
        lastError = f;
        if (f.id && outbox.has(f.id)) refused(f);
        else showAlert(f.message);
        break;
    }
  }

  // ---- sending: typed text, button presses, the shared phone and resends wait in the outbox until acknowledged
  function queue(entry, frame) {
    outbox.set(entry.id, { frame, entry });
    show(entry, { state: 'pending' });
    sendFrame(frame);
  }

  function sendText(text) {
    const id = randomId(12);
    queue({ id, from: 'visitor', type: 'text', data: text, at: Date.now() }, { type: 'message', id, text });
  }

  /** A message that could not be delivered, sent again as a new message (the bridge keeps what it was). */
  function resend(e) {
    const id = randomId(12);
    const copy = { id, from: 'visitor', type: e.type, data: e.data, at: Date.now() };
    for (const k of ['name', 'size', 'kind']) if (e[k] !== undefined) copy[k] = e[k];
    queue(copy, { type: 'resend', id, of: e.id });
  }

  /** A press of a bot message's button: the visitor's choice shows as their message (the label). */
  function press(b) {
    // A double click is one choice: not again while the first press is on its way.
    for (const item of outbox.values()) if (item.frame.type === 'button' && item.frame.data === b.data) return;
    const id = randomId(12);
    queue({ id, from: 'visitor', type: 'text', data: b.label, kind: 'button', at: Date.now() }, { type: 'button', id, data: b.data });
  }

  function sharePhone(phone) {
    const id = randomId(12);
    const name = state.name || undefined;
    const data = 'Contact: ' + (name ? name + ', ' : '') + phone;
    queue({ id, from: 'visitor', type: 'text', data, kind: 'phone', at: Date.now() }, { type: 'phone', id, phone, name });
  }

  // The bot asked for the phone: one tap shares the one in the form; without one, the form opens for it.
  let sharingPhone = false;
  function askedForPhone() {
    const known = (state.phone || '').trim();
    if (isPhone(known)) return sharePhone(known);
    sharingPhone = true;
    $('profile').open = true;
    $('profile-submit').textContent = 'Share';
    formNote('Enter your phone number and press Share');
    phoneEl.focus();
  }
  function endSharing() {
    sharingPhone = false;
    $('profile-submit').textContent = 'Save';
  }

  async function upload(file, id) {
    id = id || randomId(12);
    uploads.set(id, file);
    const isImage = /^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(file.type);
    const preview = {
      id,
      from: 'visitor',
      type: isImage ? 'image' : 'file',
      data: URL.createObjectURL(file),
      name: file.name,
      size: file.size,
      at: Date.now(),
    };
    show(preview, { state: 'pending', note: 'Uploading…' });
    const fail = (why, canRetry) => show(preview, { state: 'failed', note: why, retry: canRetry ? () => upload(file, id) : undefined });
    let res;
    try {
      res = await fetch(location.pathname.replace(/\/+$/, '') + '/upload', {
        method: 'POST',
        body: file,
        headers: {
          'content-type': file.type || 'application/octet-stream',
          'x-visitor-key': state.key,
          'x-message-id': id,
          'x-file-name': encodeURIComponent(file.name),
          'x-chat-context': encodeURIComponent(JSON.stringify(context())),
        },
      });
    } catch (err) {
      return fail('Not sent: no connection', true);
    }
    let answer = {};
    try {
      answer = await res.json();
    } catch (err) {
      /* keep {} */
    }
    if (!res.ok) return fail('Not sent: ' + (answer.message || 'error ' + res.status), res.status >= 500 || res.status === 429);
    uploads.delete(id);
    URL.revokeObjectURL(preview.data);
    if (answer.entry.status) statuses.set(id, answer.entry.status);
    show(answer.entry);
  }

  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = textEl.value.trim();
    if (!text) return;
    sendText(text);
    textEl.value = '';
    grow();
    textEl.focus();
  });
  textEl.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('composer').requestSubmit();
    }
  });
  function grow() {
    textEl.style.height = 'auto';
    textEl.style.height = Math.min(textEl.scrollHeight + 2, 128) + 'px';
  }
  textEl.addEventListener('input', grow);

  $('file').addEventListener('change', (ev) => {
    const file = ev.target.files && ev.target.files[0];
    ev.target.value = '';
    if (!file) return;
    if (file.size > maxUpload) {
      showAlert('“' + file.name + '” is larger than ' + maxUploadText + ', the most this chat accepts.');
      return;
    }
    if (file.size === 0) {
      showAlert('“' + file.name + '” is empty.');
      return;
    }
    showAlert('');
    upload(file);
  });

  // ---- optional name and phone
  $('name').value = state.name || '';
  phoneEl.value = state.phone || '';
  function showProfile() {
    const set = Boolean(state.name || state.phone);
    $('profile-summary').textContent = set ? 'You: ' + [state.name, state.phone].filter(Boolean).join(', ') : 'Your name and phone';
    $('profile-optional').hidden = set;
  }
  /** The line under the form: a confirmation, or what is wrong. */
  function formNote(text, kind) {
    const el = $('profile-saved');
    el.textContent = text;
    el.dataset.kind = kind || '';
  }
  showProfile();
  $('profile-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const phone = phoneEl.value.trim();
    // The same rule the server applies (PHONE_PATTERN): what the page accepts, the bridge accepts.
    if (phone && !isPhone(phone)) {
      phoneEl.setAttribute('aria-invalid', 'true');
      formNote('Not saved: enter a phone number (' + phoneEl.title.toLowerCase() + ')', 'error');
      phoneEl.focus();
      return;
    }
    phoneEl.removeAttribute('aria-invalid');
    state.name = $('name').value.trim();
    state.phone = phone;
    save();
    sendFrame({ type: 'profile', name: state.name || undefined, phone: state.phone || undefined });
    showProfile();
    if (sharingPhone) {
      if (!state.phone) {
        formNote('Enter your phone number to share it', 'error');
        phoneEl.focus();
        return;
      }
      endSharing();
      sharePhone(state.phone);
    }
    formNote('Saved', 'ok');
    setTimeout(() => {
      formNote('');
      $('profile').open = false;
    }, 1200);
  });
  phoneEl.addEventListener('input', () => {
    if (phoneEl.getAttribute('aria-invalid') && (phoneEl.value.trim() === '' || isPhone(phoneEl.value.trim()))) {
      phoneEl.removeAttribute('aria-invalid');
      formNote('');
    }
  });

  $('profile').addEventListener('toggle', () => {
    if (!$('profile').open && sharingPhone) {
      endSharing();
      formNote('');
    }
  });

  // Dates read "Today" and "Yesterday": redraw them after midnight.
  setInterval(markDays, 60000);

  connect();
})();
