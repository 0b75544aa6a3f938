// blinger-bridge web chat page. Plain JS, no build step. Protocol: adapters/webchat/protocol.ts.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const channel = body.dataset.channel;
  const maxUpload = Number(body.dataset.maxUpload);
  const maxUploadText = body.dataset.maxUploadText;
  const params = new URLSearchParams(location.search);
  const storeKey = 'blinger-bridge.webchat.' + channel;
  const list = $('messages');
  const statusEl = $('status');
  const textEl = $('text');
  const alertEl = $('alert');

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
  const outbox = new Map(); // id -> {frame} texts not yet acknowledged
  const uploads = new Map(); // id -> File, for "try again"

  const fmtTime = (at) => new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const fmtSize = (n) => (n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : n >= 1024 ? Math.round(n / 1024) + ' KB' : n + ' B');
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
  const PHONE_RE = /^\+?[0-9][0-9 ().-]{2,30}$/;

  function keyboard(e) {
    const k = e.from === 'agent' && e.keyboard;
    if (!k) return null;
    const group = document.createElement('div');
    group.className = 'keyboard';
    group.setAttribute('role', 'group');
    const button = (label, onClick) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'kb-button';
      b.textContent = label;
      b.addEventListener('click', onClick);
      return b;
    };
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

  let nearBottom = true;
  list.addEventListener('scroll', () => {
    nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  });
  function stickToBottom() {
    if (nearBottom) list.scrollTop = list.scrollHeight;
  }

  /** Adds or updates one entry. status: undefined (delivered), 'pending', 'failed'. */
  function show(e, status, note, retry) {
    let el = rendered.get(e.id);
    const fresh = !el;
    if (fresh) {
      el = document.createElement('div');
      el.dataset.id = e.id;
    }
    el.className = 'msg ' + e.from + (status ? ' ' + status : '');
    el.replaceChildren(content(e));
    const k = e.keyboard || {};
    el.dataset.kb = e.from !== 'agent' ? '' : k.buttons ? 'buttons' : k.requestPhone ? 'phone' : k.remove ? 'remove' : '';
    el.dataset.kind = e.kind || '';
    const kb = keyboard(e);
    if (kb) el.appendChild(kb);
    const meta = document.createElement('div');
    meta.className = 'meta';
    const time = document.createElement('time');
    time.dateTime = new Date(e.at).toISOString();
    time.textContent = fmtTime(e.at);
    meta.appendChild(time);
    if (e.from === 'visitor') {
      const s = document.createElement('span');
      s.className = 'state';
      s.textContent = status === 'pending' ? note || 'Sending…' : status === 'failed' ? note || 'Not sent' : 'Sent';
      meta.appendChild(s);
      if (retry) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'linkish';
        b.textContent = 'Try again';
        b.addEventListener('click', retry);
        meta.appendChild(b);
      }
    }
    el.appendChild(meta);
    if (fresh) {
      rendered.set(e.id, el);
      list.appendChild(el);
    }
    refreshPhoneAsk();
    stickToBottom();
  }

  function showAlert(text) {
    alertEl.textContent = text;
    alertEl.hidden = !text;
  }

  // ---- connection, with reconnect
  let ws = null;
  let ready = false;
  let attempt = 0;
  let timer = 0;
  let stopped = false;

  function setStatus(s, text) {
    statusEl.dataset.state = s;
    $('status-text').textContent = text;
  }

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + location.pathname.replace(/\/+$/, '') + '/ws';
  }

  function connect() {
    clearTimeout(timer);
    if (stopped || ws) return;
    setStatus('connecting', 'Connecting…');
    const sock = new WebSocket(wsUrl());
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify(Object.assign({ type: 'hello', key: state.key }, context())));
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
      if (ev.code === 4404) {
        stopped = true;
        setStatus('gone', 'Unavailable');
        showAlert('This chat does not exist. Check the address of the page.');
        return;
      }
      if (ev.code === 4429) {
        stopped = true;
        setStatus('gone', 'Too many tabs');
        showAlert('This chat is open in too many tabs. Close some of them and reload this page.');
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

  function onFrame(f) {
    switch (f.type) {
      case 'welcome': {
        ready = true;
        attempt = 0;
        setStatus('online', 'Online');
        if (alertEl.textContent.indexOf('could not') !== -1 || alertEl.textContent.indexOf('too long') !== -1) showAlert('');
        // The server's history is the truth; pending messages stay after it and are sent again.
        const keep = new Set([].concat(Array.from(outbox.keys()), Array.from(uploads.keys())));
        for (const [id, el] of rendered)
          if (!keep.has(id)) {
            el.remove();
            rendered.delete(id);
          }
        for (const e of f.history) {
          if (!keep.has(e.id)) show(e);
        }
        for (const id of keep) {
          const el = rendered.get(id);
          if (el) list.appendChild(el);
        }
        refreshPhoneAsk();
        nearBottom = true;
        stickToBottom();
        for (const item of outbox.values()) sendFrame(item.frame);
        break;
      }
      case 'ack':
        outbox.delete(f.id);
        show(f.entry);
        break;
      case 'message':
        if (!outbox.has(f.entry.id) && !uploads.has(f.entry.id)) show(f.entry);
        break;
      case 'error':
        if (f.id && outbox.has(f.id)) {
          const item = outbox.get(f.id);
          if (f.code === 'unavailable') {
            show(item.entry, 'pending', 'Waiting to send…');
            setTimeout(() => {
              if (outbox.has(f.id)) sendFrame(item.frame);
            }, 3000);
          } else {
            outbox.delete(f.id);
            show(
              item.entry,
              'failed',
              f.code === 'unknown_button' ? 'Not sent: this choice is not available any more' : 'Not sent: ' + f.message,
            );
          }
        } else showAlert(f.message);
        break;
    }
  }

  // ---- sending: typed text, button presses and the shared phone wait in the outbox until acknowledged
  function queue(entry, frame) {
    outbox.set(entry.id, { frame, entry });
    show(entry, 'pending');
    sendFrame(frame);
  }

  function sendText(text) {
    const id = randomId(12);
    queue({ id, from: 'visitor', type: 'text', data: text, at: Date.now() }, { type: 'message', id, text });
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
    if (PHONE_RE.test(known)) return sharePhone(known);
    sharingPhone = true;
    $('profile').open = true;
    $('profile-submit').textContent = 'Share';
    $('profile-saved').textContent = 'Enter your phone number and press Share';
    $('phone').focus();
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
    show(preview, 'pending', 'Uploading…');
    const fail = (why, canRetry) => show(preview, 'failed', why, canRetry ? () => upload(file, id) : undefined);
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
    if (!res.ok) return fail('Not sent: ' + (answer.message || 'error ' + res.status), res.status >= 500);
    uploads.delete(id);
    URL.revokeObjectURL(preview.data);
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
  $('phone').value = state.phone || '';
  function showProfile() {
    const set = Boolean(state.name || state.phone);
    $('profile-summary').textContent = set ? 'You: ' + [state.name, state.phone].filter(Boolean).join(', ') : 'Your name and phone';
    $('profile-optional').hidden = set;
  }
  showProfile();
  $('profile-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.name = $('name').value.trim();
    state.phone = $('phone').value.trim();
    save();
    sendFrame({ type: 'profile', name: state.name || undefined, phone: state.phone || undefined });
    showProfile();
    if (sharingPhone) {
      if (!state.phone) {
        $('profile-saved').textContent = 'Enter your phone number to share it';
        $('phone').focus();
        return;
      }
      endSharing();
      sharePhone(state.phone);
    }
    $('profile-saved').textContent = 'Saved';
    setTimeout(() => {
      $('profile-saved').textContent = '';
      $('profile').open = false;
    }, 1200);
  });

  $('profile').addEventListener('toggle', () => {
    if (!$('profile').open && sharingPhone) {
      endSharing();
      $('profile-saved').textContent = '';
    }
  });

  connect();
})();
