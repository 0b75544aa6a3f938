// blinger-bridge web chat launcher: a button in the corner that opens the chat in an iframe.
// <script src="https://BRIDGE/webchat/assets/embed.js" data-channel="CHANNEL_ID" data-label="Chat with us" async></script>
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
  var color = script.getAttribute('data-color') || '#2563eb';
  var base = script.src.replace(/\/webchat\/assets\/embed\.js(\?.*)?$/, '');
  var src =
    base +
    '/chat/' +
    encodeURIComponent(channel) +
    '?embed=1&page=' +
    encodeURIComponent(location.href) +
    (document.referrer ? '&referrer=' + encodeURIComponent(document.referrer) : '');

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
  b.color = '#fff';
  b.font = '600 15px system-ui, sans-serif';
  b.boxShadow = '0 4px 14px rgba(0,0,0,.2)';
  b.cursor = 'pointer';

  var frame = null;
  function open(show) {
    if (!frame) {
      frame = document.createElement('iframe');
      frame.id = 'blinger-bridge-chat';
      frame.title = label;
      frame.src = src;
      var f = frame.style;
      f.position = 'fixed';
      f.right = '16px';
      f.bottom = '72px';
      f.zIndex = '2147483647';
      f.width = 'min(380px, calc(100vw - 32px))';
      f.height = 'min(600px, calc(100vh - 96px))';
      f.border = '1px solid #e5e7eb';
      f.borderRadius = '12px';
      f.background = '#fff';
      f.boxShadow = '0 8px 30px rgba(0,0,0,.18)';
      document.body.appendChild(frame);
    }
    frame.style.display = show ? 'block' : 'none';
    button.setAttribute('aria-expanded', String(show));
    button.textContent = show ? 'Close chat' : label;
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
  (document.body
    ? Promise.resolve()
    : new Promise(function (r) {
        document.addEventListener('DOMContentLoaded', r);
      })
  ).then(function () {
    document.body.appendChild(button);
  });
})();
