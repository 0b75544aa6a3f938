// blinger-bridge web chat launcher: a button in the corner that opens the chat in an iframe
// (a panel on a wide screen, the whole screen on a phone).
// <script src="https://BRIDGE/webchat/assets/embed.js" data-channel="CHANNEL_ID" data-label="Chat with us" data-color="#2563eb" async></script>
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script) return;
  var channel = script.getAttribute('data-channel');
  if (!channel) {
    console.error('blinger-bridge chat: the <script> tag needs data-channel="<channel id>"');
    return;
  }
  var label = script.getAttribute('data-label') || 'Chat with us';
  var given = script.getAttribute('data-color') || '';
  var color = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(given) ? given : '#2563eb';
  if (given && given !== color) console.error('blinger-bridge chat: data-color must be a hex colour such as #2563eb');
  var base = script.src.replace(/\/webchat\/assets\/embed\.js(\?.*)?$/, '');
  var src =
    base +
    '/chat/' +
    encodeURIComponent(channel) +
    '?embed=1&color=' +
    encodeURIComponent(color) +
    '&page=' +
    encodeURIComponent(location.href) +
    (document.referrer ? '&referrer=' + encodeURIComponent(document.referrer) : '');
  // A phone: the chat takes the whole screen, as a messenger app would.
  var phone = window.matchMedia('(max-width: 600px)');

  /** Black or white text, whichever reads better on the colour (the chat page decides the same way). */
  function inkOn(hex) {
    if (hex.length === 4) hex = '#' + hex[1] + hex[1] + hex[2] + hex[2] + hex[3] + hex[3];
    var lum = [1, 3, 5]
      .map(function (i) {
        var v = parseInt(hex.slice(i, i + 2), 16) / 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      })
      .reduce(function (sum, v, i) {
        return sum + v * [0.2126, 0.7152, 0.0722][i];
      }, 0);
    return lum > 0.4 ? '#111827' : '#ffffff';
  }

  var button = document.createElement('button');
  button.type = 'button';
  button.textContent = label;
  button.setAttribute('aria-expanded', 'false');
  button.setAttribute('aria-controls', 'blinger-bridge-chat');
  var b = button.style;
  b.position = 'fixed';
  b.right = '16px';
  b.bottom = '16px';
  b.zIndex = '2147483646';
  b.padding = '12px 18px';
  b.border = '0';
  b.borderRadius = '999px';
  b.background = color;
  b.color = inkOn(color);
  b.font = '600 15px system-ui, sans-serif';
  b.boxShadow = '0 4px 14px rgba(0,0,0,.2)';
  b.cursor = 'pointer';

  var frame = null;
  var pageOverflow = '';

  function place() {
    if (!frame) return;
    var f = frame.style;
    var open = button.getAttribute('aria-expanded') === 'true';
    if (phone.matches) {
      f.inset = '0';
      f.width = '100vw';
      f.height = '100%';
      f.border = '0';
      f.borderRadius = '0';
      f.boxShadow = 'none';
      // The chat has its own close button; the page behind must not scroll under it.
      b.display = open ? 'none' : '';
      document.documentElement.style.overflow = open ? 'hidden' : pageOverflow;
    } else {
      f.inset = 'auto';
      f.right = '16px';
      f.bottom = '72px';
      f.width = 'min(380px, calc(100vw - 32px))';
      f.height = 'min(600px, calc(100vh - 96px))';
      f.border = '1px solid #e5e7eb';
      f.borderRadius = '12px';
      f.boxShadow = '0 8px 30px rgba(0,0,0,.18)';
      b.display = '';
      document.documentElement.style.overflow = pageOverflow;
    }
  }

  function open(show) {
    if (!frame) {
      pageOverflow = document.documentElement.style.overflow;
      frame = document.createElement('iframe');
      frame.id = 'blinger-bridge-chat';
      frame.title = label;
      frame.src = src;
      frame.style.position = 'fixed';
      frame.style.zIndex = '2147483647';
      document.body.appendChild(frame);
    }
    frame.style.display = show ? 'block' : 'none';
    button.setAttribute('aria-expanded', String(show));
    button.textContent = show ? 'Close chat' : label;
    place();
    if (show) frame.focus();
  }
  button.addEventListener('click', function () {
    open(button.getAttribute('aria-expanded') !== 'true');
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && button.getAttribute('aria-expanded') === 'true') {
      open(false);
      button.focus();
    }
  });
  // The chat's own close button (embedded pages show one).
  window.addEventListener('message', function (ev) {
    if (frame && ev.source === frame.contentWindow && ev.data && ev.data.type === 'blinger-bridge:close') {
      open(false);
      button.focus();
    }
  });
  if (phone.addEventListener) phone.addEventListener('change', place);
  (document.body
    ? Promise.resolve()
    : new Promise(function (r) {
        document.addEventListener('DOMContentLoaded', r);
      })
  ).then(function () {
    document.body.appendChild(button);
  });
})();
