/* chatd parent widget.
 *
 * Embedded with one script tag (see widget/README.md):
 *   <script src="https://helpline.example/widget.js" data-lang="en" defer></script>
 *
 * Plain JavaScript, no framework, no build step.  Everything the widget
 * draws lives in a shadow root so the host page's CSS cannot reach it.
 *
 * Layout of this file:
 *   config      - data- attributes of the script tag
 *   i18n        - t(key, vars) over window.ChatdWidgetI18n[lang]
 *   store       - the few sessionStorage/localStorage keys we use
 *   S           - the model (state, transcript, queue, ...)
 *   conn        - the one WebSocket, hello/resume, backoff, outbox
 *   handlers    - one function per server frame type
 *   views       - state -> what is shown; render()
 *   quick exit  - button and Shift x3
 *   build       - the DOM, rebuilt on a language change
 *   ChatdWidget - public API {open, close, exit, ...}
 *
 * Wire protocol: docs/protocol.md (parent endpoint).
 */
(function () {
  'use strict';

  if (window.ChatdWidget) return; // a second copy of the tag: keep the first

  /* ------------------------------------------------------------ config */

  var SCRIPT = document.currentScript || (function () {
    var all = document.querySelectorAll('script[src]');
    for (var i = all.length - 1; i >= 0; i--) {
      if (/widget\.js(\?|#|$)/.test(all[i].src)) return all[i];
    }
    return null;
  })();
  if (!SCRIPT) return;

  var LANGS = ['en', 'cy'];   // one file each under widget/i18n/
  var DEFAULT_EXIT = 'https://www.bbc.co.uk/weather';
  var SERVER = new URL(SCRIPT.getAttribute('data-server') || '/', SCRIPT.src);
  var ASSETS = new URL(SCRIPT.getAttribute('data-assets') || '/', SCRIPT.src);

  var cfg = {
    lang: pickLang(SCRIPT.getAttribute('data-lang')),
    exitUrl: safeUrl(SCRIPT.getAttribute('data-exit-url')) || DEFAULT_EXIT,
    retentionDays: parseInt(SCRIPT.getAttribute('data-retention-days'), 10) || 30,
    shiftExit: SCRIPT.getAttribute('data-shift-exit') !== 'off',
    wsUrl: (SERVER.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + SERVER.host + '/ws/parent',
    statusUrl: SERVER.origin + '/api/status'
  };

  var TOPICS = ['behaviour', 'school', 'send', 'bullying', 'separation', 'mental_health',
    'finance_housing', 'substance_misuse', 'young_carer', 'bereavement', 'other'];
  var SHIFT_WINDOW_MS = 5000;
  var TYPING_SEND_MS = 3000;   // send `typing` at most this often
  var TYPING_SHOW_MS = 5000;   // show "is typing" this long after the last frame
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 30000;

  function pickLang(attr) {
    var want = (attr || document.documentElement.lang || 'en').toLowerCase().slice(0, 2);
    return LANGS.indexOf(want) >= 0 ? want : 'en';
  }

  /* Only http(s) targets: a javascript: URL in data-exit-url must not run. */
  function safeUrl(s) {
    if (!s) return null;
    try {
      var u = new URL(s, location.href);
      return (u.protocol === 'https:' || u.protocol === 'http:') ? u.href : null;
    } catch (e) { return null; }
  }

  /* -------------------------------------------------------------- i18n */

  function strings(lang) {
    var all = window.ChatdWidgetI18n || {};
    return all[lang] || {};
  }

  /* t('queue_position', {n: 3}); plural keys carry a CLDR suffix. */
  function t(key, vars) {
    var lang = S.lang, s;
    if (vars && typeof vars.n === 'number') {
      var cat = pluralRules(lang).select(vars.n);
      s = strings(lang)[key + '_' + cat] || strings(lang)[key + '_other'] ||
          strings('en')[key + '_' + new Intl.PluralRules('en').select(vars.n)] ||
          strings('en')[key + '_other'];
    }
    if (s === undefined) s = strings(lang)[key];
    if (s === undefined) s = strings('en')[key];
    if (s === undefined) s = key;
    return s.replace(/\{(\w+)\}/g, function (m, k) {
      return vars && vars[k] !== undefined ? String(vars[k]) : m;
    });
  }

  var pluralCache = {};
  function pluralRules(lang) {
    if (!pluralCache[lang]) pluralCache[lang] = new Intl.PluralRules(lang);
    return pluralCache[lang];
  }

  function locale() { return S.lang === 'cy' ? 'cy-GB' : 'en-GB'; }

  function fmtTime(ts) {
    try {
      return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(ts));
    } catch (e) { return ''; }
  }

  /* next_open as "on Monday 3 March at 09:00" style text, London time. */
  function fmtWhen(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return '';
    try {
      return new Intl.DateTimeFormat(locale(), {
        weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit', hour12: false,
        timeZone: 'Europe/London'
      }).format(d);
    } catch (e) { return d.toString(); }
  }

  /* Load a same-origin script (the language files).  Resolves either way. */
  function loadScript(src) {
    return new Promise(function (resolve) {
      var s = document.createElement('script');
      s.src = src;
      s.async = true;
      s.onload = s.onerror = function () { resolve(); };
      document.head.appendChild(s);
    });
  }

  function loadLang(lang) {
    if (window.ChatdWidgetI18n && window.ChatdWidgetI18n[lang]) return Promise.resolve();
    return loadScript(new URL('i18n/' + lang + '.js', ASSETS).href);
  }

  /* ------------------------------------------------------------- store */

  /* The only keys the widget writes.  Quick exit removes all of them from
   * both storages.  By default only sessionStorage is used, so nothing
   * survives the tab; localStorage only when the parent ticks "keep". */
  var KEY_SESSION = 'chatd.session';
  var KEY_LANG = 'chatd.lang';
  var KEYS = [KEY_SESSION, KEY_LANG];

  var store = {
    local: false,
    area: function () {
      try { return this.local ? window.localStorage : window.sessionStorage; } catch (e) { return null; }
    },
    get: function (key) {
      var v = null;
      try { v = window.sessionStorage.getItem(key); } catch (e) { /* blocked */ }
      if (v === null) {
        try {
          v = window.localStorage.getItem(key);
          if (v !== null) this.local = true; // the parent chose to keep it
        } catch (e) { /* blocked */ }
      }
      return v;
    },
    set: function (key, value) {
      var a = this.area();
      try { if (a) a.setItem(key, value); } catch (e) { /* full or blocked */ }
    },
    remove: function (key) {
      try { window.sessionStorage.removeItem(key); } catch (e) { /* blocked */ }
      try { window.localStorage.removeItem(key); } catch (e) { /* blocked */ }
    },
    clearAll: function () { KEYS.forEach(this.remove, this); }
  };

  /* ------------------------------------------------------------- model */

  var S = {
    lang: cfg.lang,
    state: 'intro',      // intro | closed | waiting | chatting | reconnecting | ended
    before: null,        // the state shown under "reconnecting"
    open: false,         // panel open
    status: null,        // GET /api/status answer; false when it failed
    session: { resume: null, lastSeq: 0, conversation: null },
    messages: [],        // {seq, from, text, ts, id, status, service, reason}
    bySeq: {},           // seq -> message: dedupe of replays
    pending: [],         // own messages not yet acknowledged, in send order
    controls: [],        // control frames to send once the socket is back
    startFrame: null,    // a start waiting for `welcome`
    lastStart: null,     // the last start sent, in case the socket took it down
    queue: null,         // {position, eta_s}
    adviser: '',
    adviserTyping: false,
    ended: null,         // {by, return_code}
    feedbackDone: false,
    closed: null,        // {next_open, services}
    notice: '',          // a calm line above the body (errors, expiry)
    unread: 0,
    confirmEnd: false,
    replayUpTo: 0,       // after a reload, seqs up to here are old: not announced
    shownView: null,     // the view last drawn: focus is managed on a change
    statusAt: 0
  };

  function resetConversation() {
    S.messages = [];
    S.bySeq = {};
    S.pending = [];
    S.queue = null;
    S.adviser = '';
    S.adviserTyping = false;
    S.ended = null;
    S.feedbackDone = false;
    S.confirmEnd = false;
    S.session.lastSeq = 0;
    S.session.conversation = null;
    saveSession();
    if (ui.log) ui.log.replaceChildren();
  }

  function saveSession() {
    if (!S.session.resume) { store.remove(KEY_SESSION); return; }
    store.set(KEY_SESSION, JSON.stringify({
      resume: S.session.resume,
      last_seq: S.session.lastSeq,
      conversation: S.session.conversation
    }));
  }

  function noteSeq(seq) {
    if (typeof seq === 'number' && seq > S.session.lastSeq) {
      S.session.lastSeq = seq;
      saveSession();
    }
  }

  /* Random client id: 24 hex characters, within the 1-64 printable limit. */
  function newId() {
    var b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
  }

  /* -------------------------------------------------------- connection */

  /* The single WebSocket.  `ready` is true between `welcome` and close:
   * only then are frames other than hello sent; before that they wait in
   * S.pending (messages) and S.controls (end, feedback, typing is dropped). */
  var conn = {
    ws: null,
    ready: false,
    attempt: 0,
    timer: null,
    stopped: false,   // set by quick exit: never reconnect

    connect: function () {
      if (this.stopped || this.ws) return;
      clearTimeout(this.timer);
      this.timer = null;
      var ws;
      try {
        ws = new WebSocket(cfg.wsUrl, 'helpline.v1');
      } catch (e) {
        this.retry();
        return;
      }
      this.ws = ws;
      ws.onopen = function () {
        var hello = { type: 'hello' };
        if (S.session.resume) {
          hello.resume = S.session.resume;
          // After a page load the transcript is empty: ask for all of it.
          hello.last_seq = S.messages.length ? S.session.lastSeq : 0;
        }
        ws.send(JSON.stringify(hello));
      };
      ws.onmessage = function (ev) {
        if (conn.ws !== ws) return;
        var f;
        try { f = JSON.parse(ev.data); } catch (e) { return; }
        if (f && typeof f.type === 'string' && handlers.hasOwnProperty(f.type)) handlers[f.type](f);
      };
      ws.onclose = function () {
        if (conn.ws !== ws) return;
        conn.ws = null;
        conn.ready = false;
        conn.onDrop();
      };
      ws.onerror = function () { /* onclose follows */ };
    },

    /* Send now if the session is up; returns false otherwise. */
    send: function (frame) {
      if (!this.ready || !this.ws || this.ws.readyState !== 1) return false;
      try { this.ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
    },

    /* Control frames (end, feedback) survive a drop: sent after welcome. */
    sendOrQueue: function (frame) {
      if (!this.send(frame)) {
        S.controls.push(frame);
        this.connect();
      }
    },

    /* Close on purpose (line closed, chat over): no reconnect. */
    close: function () {
      clearTimeout(this.timer);
      this.timer = null;
      var ws = this.ws;
      this.ws = null;
      this.ready = false;
      if (ws) { try { ws.close(1000); } catch (e) { /* already closing */ } }
    },

    onDrop: function () {
      if (this.stopped) return;
      if (!needsLink()) return;
      if (S.state === 'waiting' || S.state === 'chatting') setState('reconnecting');
      else if (S.startFrame) { S.notice = t('connect_failed'); render(); }
      this.retry();
    },

    /* Exponential backoff with jitter: 1 s, 2 s, 4 s ... 30 s. */
    retry: function () {
      if (this.stopped || this.timer) return;
      var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, this.attempt));
      var delay = base / 2 + Math.random() * base / 2;
      this.attempt++;
      var self = this;
      this.timer = setTimeout(function () { self.timer = null; self.connect(); }, delay);
    },

    /* The network came back or the tab woke up: try at once. */
    kick: function () {
      if (this.ws || this.stopped || !needsLink()) return;
      clearTimeout(this.timer);
      this.timer = null;
      this.attempt = 0;
      this.connect();
    }
  };

  /* Whether the widget has something the socket is needed for. */
  function needsLink() {
    return !!(S.startFrame || S.controls.length || S.pending.length ||
      S.state === 'waiting' || S.state === 'chatting' || S.state === 'reconnecting');
  }

  /* Everything queued while the socket was away, in order, with the same
   * client ids: the server acknowledges a duplicate id with the first seq. */
  function flushOutbox() {
    S.pending.forEach(function (m) {
      if (m.status === 'failed') return;
      conn.send({ type: 'msg', id: m.id, text: m.text });
    });
    var controls = S.controls;
    S.controls = [];
    controls.forEach(function (f) { conn.send(f); });
  }

  /* ---------------------------------------------------------- handlers */

  var typingTimer = null;

  var handlers = {
    welcome: function (f) {
      conn.ready = true;
      conn.attempt = 0;
      var wasReconnecting = S.state === 'reconnecting';
      var expired = !!S.session.resume && f.resume !== S.session.resume;
      S.session.resume = f.resume;
      if (f.conversation && S.session.conversation && f.conversation !== S.session.conversation) {
        resetConversation(); // a different conversation: our transcript is stale
      }
      if (f.conversation) S.session.conversation = f.conversation;
      saveSession();
      if (S.notice === t('connect_failed')) S.notice = '';

      if (f.state === 'new' && S.startFrame) {
        conn.send(S.startFrame);   // the answer is `queued` or `closed`
        S.startFrame = null;
      } else if (f.state === 'new' && !expired && isChatState() && S.lastStart) {
        // Our `start` was lost with the old socket: send it again.
        conn.send(S.lastStart);
        setState('waiting');
      } else if (f.state === 'new') {
        if (expired && (S.messages.length || isChatState())) {
          // The old session is gone (expired): start over, keep what they typed.
          var typed = S.pending.map(function (m) { return m.text; }).join('\n');
          resetConversation();
          S.notice = t('expired');
          setState('intro');
          if (typed && ui.opening) ui.opening.value = typed;
        }
      } else {
        // Resumed: the server follows with queued / connected / ended.
        S.startFrame = null;
        var next = f.state === 'queued' ? 'waiting' : f.state === 'chatting' ? 'chatting' : 'ended';
        if (S.state !== next) setState(next);
        if (wasReconnecting) announce(t('reconnected'));
      }
      flushOutbox();
      // The chat was resumed after a reload: bring the panel back.
      if (!S.open && (S.state === 'waiting' || S.state === 'chatting')) api.open();
      render();
    },

    closed: function (f) {
      S.closed = { next_open: f.next_open || null, services: Array.isArray(f.services) ? f.services : [] };
      S.startFrame = null;
      // An opening message was not stored: give it back to the form.
      dropUnstored();
      setState('closed');
      // Nothing to resume on a shut line.
      conn.close();
      S.session.resume = null;
      saveSession();
    },

    queued: function (f) {
      var old = S.queue;
      S.queue = { position: f.position, eta_s: f.eta_s };
      markOpeningStored();
      if (S.state !== 'waiting') setState('waiting');
      else render();
      if (!old || old.position !== f.position) announce(queueText());
    },

    connected: function (f) {
      var name = String(f.adviser || '');
      var changed = name !== S.adviser;
      S.adviser = name;
      if (f.conversation) { S.session.conversation = f.conversation; saveSession(); }
      markOpeningStored();
      setState('chatting');
      if (changed) {
        announce(t('adviser_is', { name: adviserName() }));
        if (!S.open) bumpUnread();
      }
    },

    ack: function (f) {
      var m = findPending(f.id);
      if (m) confirm(m, f.seq);
      noteSeq(f.seq);
    },

    msg: function (f) {
      if (typeof f.seq !== 'number') return;
      noteSeq(f.seq);
      if (S.bySeq[f.seq]) return; // replay of one we have
      // Our own message, replayed after a resume: it was stored.
      var mine = f.id ? findPending(f.id) || findById(f.id) : null;
      if (mine) { confirm(mine, f.seq); return; }
      var m = { seq: f.seq, from: f.from, text: String(f.text || ''), ts: f.ts || Date.now(), status: 'sent' };
      addMessage(m);
      if (f.from === 'adviser') S.adviserTyping = false;
      if (f.from !== 'parent' && f.seq > S.replayUpTo) {
        announce(t('said', { name: fromName(f.from), text: m.text }));
        if (!S.open) bumpUnread();
      }
      render();
    },

    signpost: function (f) {
      if (typeof f.seq !== 'number' || !f.service) return;
      noteSeq(f.seq);
      if (S.bySeq[f.seq]) return;
      addMessage({ seq: f.seq, from: 'adviser', service: f.service, ts: Date.now(), status: 'sent' });
      if (f.seq > S.replayUpTo) {
        announce(t('service_label', { name: f.service.name || '' }));
        if (!S.open) bumpUnread();
      }
    },

    typing: function () {
      S.adviserTyping = true;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { S.adviserTyping = false; render(); }, TYPING_SHOW_MS);
      render();
    },

    ended: function (f) {
      var again = S.state === 'ended'; // re-sent after a resume
      S.ended = { by: f.by || 'system', return_code: f.return_code || null };
      S.lastStart = null;
      S.confirmEnd = false;
      S.adviserTyping = false;
      S.pending.forEach(function (m) { m.status = 'failed'; updateMessage(m); });
      S.pending = [];
      setState('ended');
      if (!again) announce(t('ended_heading'));
    },

    feedback_ok: function () {
      S.feedbackDone = true;
      render();
      // Nothing more will be sent on this session.
      conn.close();
    },

    error: function (f) {
      var m = f.id ? findPending(f.id) : null;
      if (m) {
        m.status = 'failed';
        m.reason = f.code === 'too_long' ? 'msg_failed_long' : f.code === 'rate_limited' ? 'msg_failed_rate' : 'msg_failed';
        S.pending.splice(S.pending.indexOf(m), 1);
        updateMessage(m);
        return;
      }
      if (f.code === 'closed') S.notice = t('err_unavailable');
      else if (f.code === 'rate_limited') S.notice = t('err_rate');
      else if (f.code === 'too_long') S.notice = t('err_too_long');
      else if (f.code === 'not_allowed' && f.ref === 'start') return; // a second start after a drop: harmless
      else S.notice = t('err_generic');
      render();
    }
  };

  function isChatState() {
    var s = S.state === 'reconnecting' ? S.before : S.state;
    return s === 'waiting' || s === 'chatting';
  }

  function findPending(id) {
    for (var i = 0; i < S.pending.length; i++) if (S.pending[i].id === id) return S.pending[i];
    return null;
  }

  function findById(id) {
    for (var i = 0; i < S.messages.length; i++) if (S.messages[i].id === id) return S.messages[i];
    return null;
  }

  /* A pending message is stored as `seq`. */
  function confirm(m, seq) {
    var i = S.pending.indexOf(m);
    if (i >= 0) S.pending.splice(i, 1);
    if (typeof seq === 'number') {
      if (S.bySeq[seq] && S.bySeq[seq] !== m) return;
      m.seq = seq;
      S.bySeq[seq] = m;
    }
    m.status = 'sent';
    updateMessage(m);
    placeMessage(m);
  }

  /* The opening text of `start` becomes seq 1 (docs/protocol.md). */
  function markOpeningStored() {
    S.messages.slice().forEach(function (m) {
      if (m.opening && m.status === 'pending') {
        m.status = 'sent';
        m.seq = 1;
        S.bySeq[1] = m;
        noteSeq(1);
        updateMessage(m);
        placeMessage(m);
      }
    });
  }

  function dropUnstored() {
    var keep = [];
    S.messages.forEach(function (m) {
      if (m.opening && m.status === 'pending') {
        if (ui.opening) ui.opening.value = m.text;
      } else keep.push(m);
    });
    S.messages = keep;
    renderLog();
  }

  /* The transcript is kept in seq order, the order the adviser sees:
   * a message stored while the parent's own were still "Sending…" (a
   * reply that arrives with the resume after a drop) goes before them,
   * and a message moves to its place when its seq is known. */
  function addMessage(m) {
    if (typeof m.seq === 'number') S.bySeq[m.seq] = m;
    var i = typeof m.seq === 'number' ? seqIndex(m) : S.messages.length;
    S.messages.splice(i, 0, m);
    appendMessage(m, S.messages[i + 1]);
  }

  /* Where a message with a seq belongs: before the first pending message
   * or the first with a higher seq. */
  function seqIndex(m) {
    for (var i = 0; i < S.messages.length; i++) {
      var x = S.messages[i];
      if (x.status === 'pending' || (typeof x.seq === 'number' && x.seq > m.seq)) return i;
    }
    return S.messages.length;
  }

  function placeMessage(m) {
    var i = S.messages.indexOf(m);
    if (i < 0 || typeof m.seq !== 'number') return;
    S.messages.splice(i, 1);
    var j = seqIndex(m);
    S.messages.splice(j, 0, m);
    if (j !== i && m.node && ui.log) {
      var next = S.messages[j + 1];
      ui.log.insertBefore(m.node, next && next.node && next.node.parentNode === ui.log ? next.node : null);
    }
  }

  function adviserName() { return S.adviser || t('from_adviser'); }

  function fromName(from) {
    return from === 'parent' ? t('from_you') : from === 'adviser' ? adviserName() : t('from_system');
  }

  function bumpUnread() {
    S.unread++;
    renderLauncher();
  }

  /* --------------------------------------------------------- actions */

  function startChat(form) {
    var area = form.area.trim().toUpperCase();
    if (area && !/^[A-Z]{1,2}[0-9]{1,2}$/.test(area)) {
      showFieldError(ui.area, ui.areaError, t('area_invalid'));
      return;
    }
    showFieldError(ui.area, ui.areaError, '');
    store.local = !!form.remember;
    var f = { type: 'start' };
    var text = form.text.trim();
    if (text) f.text = text;
    if (form.topic) f.topic = form.topic;
    if (area) f.area = area;
    if (form.returnCode.trim()) f.return_code = form.returnCode.trim();

    if (S.state === 'ended') resetConversation();
    if (text) {
      // Shown at once; stored as seq 1 when `queued` (or `connected`) arrives.
      addMessage({ from: 'parent', text: text, ts: Date.now(), status: 'pending', opening: true });
    }
    S.notice = '';
    S.lastStart = f;
    if (conn.send(f)) S.startFrame = null;
    else { S.startFrame = f; conn.connect(); }
    S.queue = null;
    setState('waiting');
  }

  function sendMessage(text) {
    text = text.replace(/\s+$/, '');
    if (!text.trim()) return false;
    var m = { id: newId(), from: 'parent', text: text, ts: Date.now(), status: 'pending' };
    S.pending.push(m);
    addMessage(m);
    // While reconnecting it simply waits in S.pending; flushOutbox sends it.
    conn.send({ type: 'msg', id: m.id, text: text });
    if (!conn.ws) conn.connect();
    return true;
  }

  function retryMessage(m) {
    m.status = 'pending';
    m.reason = null;
    m.id = newId(); // the failed id was never stored
    S.pending.push(m);
    updateMessage(m);
    conn.send({ type: 'msg', id: m.id, text: m.text });
  }

  var lastTypingSent = 0;
  function typed() {
    var now = Date.now();
    if (now - lastTypingSent < TYPING_SEND_MS) return;
    if (conn.send({ type: 'typing' })) lastTypingSent = now;
  }

  function endChat() {
    S.confirmEnd = false;
    conn.sendOrQueue({ type: 'end' });
    render();
  }

  function sendFeedback(rating, text) {
    var f = { type: 'feedback' };
    if (rating) f.rating = rating;
    if (text.trim()) f.text = text.trim();
    if (!f.rating) return false; // the protocol needs a rating
    conn.sendOrQueue(f);
    return true;
  }

  /* A new chat gets a new session: the old one's replays must not mix in. */
  function newChat() {
    conn.close();
    S.session.resume = null;
    S.replayUpTo = 0;
    resetConversation();
    S.notice = '';
    setState('intro');
    fetchStatus();
  }

  /* GET /api/status for the intro: open?, how many waiting, eta. */
  function fetchStatus() {
    S.status = null;
    render();
    fetch(cfg.statusUrl, { credentials: 'omit', cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (st) {
        S.status = st;
        S.statusAt = Date.now();
        // Shut: the services open now come with the `closed` answer to a start.
        if (st && st.open === false && S.state === 'intro') askClosedServices();
        render();
      })
      .catch(function () { S.status = false; render(); });
  }

  function askClosedServices() {
    var f = { type: 'start' };
    if (conn.send(f)) return;
    S.startFrame = f;
    conn.connect();
  }

  /* ------------------------------------------------------------- views */

  /* Each state names the sections it shows, its heading, and the element
   * that gets focus when the state is entered and focus would be lost. */
  var SECTIONS = ['intro', 'closedBox', 'queueBox', 'log', 'typing', 'endedBox', 'composer'];
  var VIEWS = {
    intro: {
      show: ['intro'],
      heading: function () { return t('intro_heading'); },
      sub: function () { return statusText(); },
      focus: function () { return ui.heading; },
      update: renderIntro
    },
    closed: {
      show: ['closedBox'],
      heading: function () { return t('closed_heading'); },
      sub: function () { return ''; },
      focus: function () { return ui.heading; },
      update: renderClosed
    },
    waiting: {
      show: ['queueBox', 'log', 'composer'],
      heading: function () { return t('queue_heading'); },
      sub: function () { return queueText(); },
      focus: function () { return ui.input; },
      update: renderQueue
    },
    chatting: {
      show: ['log', 'typing', 'composer'],
      heading: function () { return t('chat_heading'); },
      sub: function () { return t('adviser_is', { name: adviserName() }); },
      focus: function () { return ui.input; },
      update: renderTyping
    },
    ended: {
      show: ['log', 'endedBox'],
      heading: function () { return t('ended_heading'); },
      sub: function () { return ''; },
      focus: function () { return ui.heading; },
      update: renderEnded
    }
  };
  /* reconnecting draws the state it interrupted, plus the banner. */
  VIEWS.reconnecting = {
    show: null, heading: null, sub: null, focus: null, update: null, banner: 'reconnecting'
  };

  function setState(next) {
    if (next === 'reconnecting') {
      if (S.state !== 'reconnecting') S.before = S.state;
    } else {
      S.before = null;
    }
    S.state = next;
    render();
  }

  function view() {
    var v = VIEWS[S.state];
    return v.show ? v : VIEWS[S.before || 'intro'];
  }

  function render() {
    if (!ui.panel) return;
    var v = view();
    SECTIONS.forEach(function (name) { ui[name].hidden = v.show.indexOf(name) < 0; });
    ui.heading.textContent = v.heading();
    ui.sub.textContent = v.sub();
    ui.sub.hidden = !ui.sub.textContent;
    renderBanner();
    renderEndControls();
    v.update();
    renderLauncher();
    if (S.shownView !== v) { S.shownView = v; scrollOnEnter(v); keepFocus(v); }
  }

  function renderBanner() {
    var text = '';
    if (S.state === 'reconnecting') text = navigator.onLine === false ? t('offline') : t('reconnecting');
    else if (S.notice) text = S.notice;
    ui.banner.textContent = text;
    ui.banner.hidden = !text;
    ui.banner.className = 'banner' + (S.state === 'reconnecting' ? ' banner-calm' : '');
  }

  /* End / leave queue with a one-step confirmation, so a slip doesn't end it. */
  function renderEndControls() {
    var st = view() === VIEWS.waiting ? 'waiting' : view() === VIEWS.chatting ? 'chatting' : null;
    ui.endRow.hidden = !st;
    ui.endBtn.textContent = st === 'waiting' ? t('leave_queue') : t('end_chat');
    ui.endBtn.hidden = S.confirmEnd;
    ui.endConfirm.hidden = !S.confirmEnd;
  }

  /* A new view starts at its natural place: forms at the top, the chat at
   * the newest message, the ended view at the ended box. */
  function scrollOnEnter(v) {
    var sc = ui.scroll;
    if (v === VIEWS.intro || v === VIEWS.closed) sc.scrollTop = 0;
    else if (v === VIEWS.ended) sc.scrollTop = Math.max(0, ui.endedBox.offsetTop - sc.offsetTop - 8);
    else scrollToEnd();
  }

  /* If the element that had focus was just hidden, move focus somewhere
   * sensible in the new state instead of letting it fall to <body>.  Focus
   * elsewhere on the host page is left alone. */
  function keepFocus(v) {
    if (!S.open) return;
    var a = ui.root.activeElement;
    if (a && a.getClientRects().length && !a.closest('[hidden]')) return;
    var outer = document.activeElement;
    if (!a && outer && outer !== document.body && outer !== host) return;
    var target = v.focus();
    if (target && !target.closest('[hidden]')) target.focus();
  }

  /* Keyboard focus stays in the open panel (it covers the page on a
   * phone, and part of it elsewhere): Tab wraps round.  Hide or Escape
   * leaves it. */
  function trapTab(e) {
    if (e.key !== 'Tab') return;
    var items = Array.prototype.filter.call(
      ui.panel.querySelectorAll('button, a[href], input, select, textarea, [tabindex="0"]'),
      function (x) { return !x.disabled && !x.closest('[hidden]') && x.getClientRects().length; });
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1], a = ui.root.activeElement;
    if (e.shiftKey && (a === first || a === ui.heading || !a)) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && a === last) { e.preventDefault(); first.focus(); }
  }

  function statusText() {
    var st = S.status;
    if (st === null) return t('status_checking');
    if (st === false) return t('status_unknown');
    if (!st.open) {
      var when = fmtWhen(st.next_open);
      return when ? t('status_closed_next', { when: when }) : t('status_closed');
    }
    var parts = [t('status_open')];
    if (typeof st.waiting === 'number') {
      parts.push(st.waiting > 0 ? t('waiting_people', { n: st.waiting }) : t('waiting_none'));
    }
    if (st.waiting > 0) parts.push(etaText(st.eta_s));
    return parts.filter(Boolean).join(' ');
  }

  function etaText(eta) {
    if (typeof eta !== 'number' || eta < 0) return '';
    if (eta < 60) return t('eta_under_minute');
    return t('eta_about', { n: Math.round(eta / 60) });
  }

  function queueText() {
    var q = S.queue;
    if (!q) return t('queue_joining');
    var pos = q.position === 1 ? t('queue_next') : t('queue_position', { n: q.position });
    var eta = etaText(q.eta_s);
    return eta ? pos + ' ' + eta : pos;
  }

  function renderIntro() {
    ui.startBtn.disabled = !!S.startFrame;
    ui.startBtn.textContent = S.startFrame ? t('starting') : t('start');
  }

  function renderQueue() {
    ui.queueText.textContent = queueText();
  }

  function renderTyping() {
    ui.typing.textContent = S.adviserTyping ? (S.adviser ? t('typing', { name: S.adviser }) : t('typing_generic')) : '';
  }

  function renderEnded() {
    var e = S.ended || { by: 'system' };
    ui.endedBy.textContent = t(e.by === 'parent' ? 'ended_by_parent' : e.by === 'adviser' ? 'ended_by_adviser' : 'ended_by_system');
    ui.returnBox.hidden = !e.return_code;
    ui.returnCodeText.textContent = e.return_code || '';
    ui.feedbackForm.hidden = S.feedbackDone;
    ui.feedbackThanks.hidden = !S.feedbackDone;
  }

  function renderClosed() {
    var c = S.closed || { next_open: S.status && S.status.next_open, services: [] };
    var when = fmtWhen(c.next_open);
    ui.closedNext.textContent = when ? t('closed_next', { when: when }) : t('closed_no_next');
    ui.closedList.replaceChildren();
    (c.services || []).forEach(function (svc) {
      var li = el('li');
      li.appendChild(serviceCard(svc));
      ui.closedList.appendChild(li);
    });
    ui.closedServicesHeading.hidden = !(c.services && c.services.length);
  }

  function renderLauncher() {
    ui.launcher.hidden = S.open;
    ui.launcher.textContent = S.unread ? t('launcher_unread', { n: S.unread }) : t('launcher');
  }

  /* ---------------------------------------------------------- messages */

  function renderLog() {
    ui.log.replaceChildren();
    S.messages.forEach(function (m) { appendMessage(m); });
  }

  function appendMessage(m, before) {
    if (!ui.log) return;
    m.node = m.service ? serviceItem(m) : messageItem(m);
    var ref = before && before.node && before.node.parentNode === ui.log ? before.node : null;
    ui.log.insertBefore(m.node, ref);
    if (!ref) scrollToEnd();
  }

  function updateMessage(m) {
    if (!m.node || m.service) return;
    var fresh = messageItem(m);
    m.node.replaceWith(fresh);
    m.node = fresh;
  }

  /* One message.  Text goes in with textContent only: never as markup. */
  function messageItem(m) {
    var li = el('li', { class: 'msg msg-' + m.from + (m.status !== 'sent' ? ' msg-' + m.status : '') });
    li.appendChild(el('span', { class: 'who', text: fromName(m.from) }));
    li.appendChild(el('p', { class: 'text', text: m.text }));
    var meta = el('span', { class: 'meta' });
    if (m.status === 'pending') meta.textContent = t('msg_sending');
    else if (m.status === 'failed') meta.textContent = t(m.reason || 'msg_failed');
    else meta.textContent = m.from === 'parent' ? t('msg_sent', { time: fmtTime(m.ts) }) : fmtTime(m.ts);
    li.appendChild(meta);
    if (m.status === 'failed' && isChatState()) {
      var retry = el('button', { type: 'button', class: 'link-btn', text: t('retry') });
      retry.addEventListener('click', function () { retryMessage(m); });
      li.appendChild(retry);
    }
    return li;
  }

  function serviceItem(m) {
    var li = el('li', { class: 'msg msg-service' });
    li.appendChild(serviceCard(m.service));
    return li;
  }

  /* A service card from a `signpost` frame or the closed list. */
  function serviceCard(svc) {
    var card = el('article', { class: 'card' });
    card.setAttribute('aria-label', t('service_label', { name: svc.name || '' }));
    card.appendChild(el('h3', { class: 'card-name', text: String(svc.name || '') }));
    if (svc.description) card.appendChild(el('p', { text: String(svc.description) }));
    var hours = Array.isArray(svc.hours) ? svc.hours.join('; ') : (typeof svc.hours === 'string' ? svc.hours : '');
    if (hours) card.appendChild(el('p', { class: 'card-hours', text: t('service_hours', { hours: hours }) }));
    var actions = el('p', { class: 'card-actions' });
    var tel = svc.phone ? String(svc.phone).replace(/[^0-9+]/g, '') : '';
    if (tel) {
      actions.appendChild(el('a', { class: 'btn btn-secondary', href: 'tel:' + tel, text: t('service_call', { phone: svc.phone }) }));
    }
    var url = safeUrl(svc.url);
    if (url) {
      var a = el('a', { class: 'btn btn-secondary', href: url, target: '_blank', rel: 'noopener noreferrer', text: t('service_web') });
      a.setAttribute('aria-label', t('service_web_label', { name: svc.name || '' }));
      actions.appendChild(a);
    }
    if (actions.childNodes.length) card.appendChild(actions);
    return card;
  }

  function scrollToEnd() {
    var sc = ui.scroll;
    if (sc) sc.scrollTop = sc.scrollHeight;
  }

  /* Polite live region for incoming messages and state changes.  Own
   * messages are not announced (the parent just typed them). */
  function announce(text) {
    if (!text || !ui.live) return;
    // A fresh node per announcement: screen readers read additions.
    var p = el('p', { text: text });
    ui.live.appendChild(p);
    while (ui.live.childNodes.length > 3) ui.live.removeChild(ui.live.firstChild);
  }

  /* -------------------------------------------------------- quick exit */

  var exiting = false;

  /* Hide the page at once, end the chat (best effort), forget everything,
   * and replace this history entry with the neutral site. */
  function quickExit() {
    if (exiting) return;
    exiting = true;
    coverPage();
    conn.stopped = true;
    try {
      if (conn.ws && conn.ws.readyState === 1) conn.ws.send(JSON.stringify({ type: 'end', reason: 'exit' }));
    } catch (e) { /* best effort */ }
    store.clearAll();
    S.messages = [];
    S.pending = [];
    if (host && host.parentNode) host.parentNode.removeChild(host);
    location.replace(cfg.exitUrl);
  }

  /* An opaque plain overlay over everything, set through element.style
   * (allowed by the CSP, unlike a style attribute). */
  function coverPage() {
    var cover = document.createElement('div');
    var s = cover.style;
    s.position = 'fixed';
    s.top = s.left = s.right = s.bottom = '0';
    s.zIndex = '2147483647';
    s.background = '#ffffff';
    s.margin = '0';
    document.documentElement.appendChild(cover);
    if (host) host.style.display = 'none';
    if (document.body) document.body.style.visibility = 'hidden';
    try { document.title = ' '; } catch (e) { /* ignore */ }
  }

  /* Shift three times, all within 5 s of the first; any other key resets. */
  var shift = { count: 0, first: 0, timer: null };

  function onKeyDown(e) {
    if (exiting) return;
    if (e.key !== 'Shift') { resetShift(); return; }
    if (e.repeat) return; // held down, not pressed again
    var now = Date.now();
    if (!shift.count || now - shift.first > SHIFT_WINDOW_MS) { shift.count = 0; shift.first = now; }
    shift.count++;
    if (shift.count >= 3) {
      say(ui.exitLive, t('shift_exiting'));
      quickExit();
      return;
    }
    say(ui.exitLive, t('shift_progress', { n: 3 - shift.count }));
    clearTimeout(shift.timer);
    shift.timer = setTimeout(resetShift, SHIFT_WINDOW_MS - (now - shift.first));
  }

  function resetShift() {
    if (!shift.count) return;
    shift.count = 0;
    clearTimeout(shift.timer);
    say(ui.exitLive, '');
  }

  function say(region, text) { if (region) region.textContent = text; }

  /* ------------------------------------------------------------- build */

  var host = null;
  var ui = {};

  function el(tag, props) {
    var e = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') e.textContent = v;
        else if (k === 'class') e.className = v;
        else if (k === 'hidden') e.hidden = true;
        else e.setAttribute(k, v === true ? '' : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  var uid = 0;
  function nextId(p) { uid++; return 'cw-' + p + '-' + uid; }

  /* A labelled field: label, optional hint, control, error slot. */
  function field(labelText, control, hintText) {
    var id = nextId('f');
    control.id = id;
    var wrap = el('div', { class: 'field' });
    wrap.appendChild(el('label', { for: id, text: labelText }));
    if (hintText) {
      var hid = nextId('h');
      wrap.appendChild(el('p', { class: 'hint', id: hid, text: hintText }));
      control.setAttribute('aria-describedby', hid);
    }
    wrap.appendChild(control);
    return wrap;
  }

  function showFieldError(control, slot, text) {
    slot.textContent = text;
    slot.hidden = !text;
    if (text) {
      control.setAttribute('aria-invalid', 'true');
      var d = (control.getAttribute('aria-describedby') || '').split(' ').filter(function (x) { return x && x !== slot.id; });
      d.push(slot.id);
      control.setAttribute('aria-describedby', d.join(' '));
      control.focus();
    } else {
      control.removeAttribute('aria-invalid');
    }
  }

  function buildLauncher() {
    ui.launcher = el('button', { type: 'button', class: 'launcher', 'aria-haspopup': 'dialog' });
    ui.launcher.addEventListener('click', function () { api.open(); });
    return ui.launcher;
  }

  function buildTopbar() {
    var other = S.lang === 'en' ? 'cy' : 'en';
    var langBtn = el('button', { type: 'button', class: 'lang', lang: other, text: t('lang_switch'), 'aria-label': t('lang_switch_label') });
    langBtn.addEventListener('click', function () { setLanguage(other); });
    var exitBtn = el('button', { type: 'button', class: 'exit', text: t('exit'), 'aria-label': t('exit_label') });
    exitBtn.addEventListener('click', quickExit);
    ui.exitBtn = exitBtn;
    var closeBtn = el('button', { type: 'button', class: 'close', 'aria-label': t('close_label') },
      el('span', { 'aria-hidden': 'true', text: '\u00d7' }), el('span', { class: 'close-text', text: t('close') }));
    closeBtn.addEventListener('click', function () { api.close(); });
    return el('div', { class: 'topbar' }, langBtn, el('span', { class: 'spacer' }), exitBtn, closeBtn);
  }

  function buildIntro() {
    var form = el('form', { class: 'intro', novalidate: true });
    form.appendChild(el('p', { class: 'lead', text: t('intro_lead') }));

    var privacy = el('section', { class: 'note', 'aria-labelledby': nextId('ph') });
    privacy.appendChild(el('h3', { id: privacy.getAttribute('aria-labelledby'), text: t('privacy_heading') }));
    privacy.appendChild(el('p', { text: t('privacy_kept', { n: cfg.retentionDays }) + ' ' + t('privacy_device') }));
    privacy.appendChild(el('p', { text: t('privacy_safety') }));
    form.appendChild(privacy);

    var exitNote = el('section', { class: 'note note-exit', 'aria-labelledby': nextId('eh') });
    exitNote.appendChild(el('h3', { id: exitNote.getAttribute('aria-labelledby'), text: t('exit_note_heading') }));
    exitNote.appendChild(el('p', { text: t('exit_note') }));
    form.appendChild(exitNote);

    ui.topic = el('select', { name: 'topic' });
    ui.topic.appendChild(el('option', { value: '', text: t('topic_none') }));
    TOPICS.forEach(function (id) { ui.topic.appendChild(el('option', { value: id, text: t('topic_' + id) })); });
    form.appendChild(field(t('topic_label'), ui.topic));

    ui.area = el('input', { type: 'text', name: 'area', maxlength: '4', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', class: 'short' });
    var areaField = field(t('area_label'), ui.area, t('area_hint'));
    ui.areaError = el('p', { class: 'error', id: nextId('ae'), hidden: true });
    areaField.appendChild(ui.areaError);
    form.appendChild(areaField);

    ui.returnInput = el('input', { type: 'text', name: 'return_code', maxlength: '64', autocomplete: 'off', spellcheck: 'false' });
    form.appendChild(field(t('return_label'), ui.returnInput, t('return_hint')));

    ui.opening = el('textarea', { name: 'text', rows: '3', maxlength: '4000' });
    form.appendChild(field(t('opening_label'), ui.opening, t('opening_hint')));

    ui.remember = el('input', { type: 'checkbox', name: 'remember' });
    var rid = nextId('r');
    ui.remember.id = rid;
    form.appendChild(el('div', { class: 'check' }, ui.remember, el('label', { for: rid, text: t('remember_label') })));

    ui.startBtn = el('button', { type: 'submit', class: 'btn btn-primary', text: t('start') });
    form.appendChild(ui.startBtn);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (S.startFrame) return;
      startChat({
        topic: ui.topic.value, area: ui.area.value, returnCode: ui.returnInput.value,
        text: ui.opening.value, remember: ui.remember.checked
      });
      if (S.state === 'waiting') ui.opening.value = '';
    });
    return form;
  }

  function buildQueueBox() {
    ui.queueText = el('p', { class: 'queue-pos' });
    return el('div', { class: 'queue' }, ui.queueText, el('p', { class: 'hint', text: t('queue_note') }));
  }

  function buildComposer() {
    var form = el('form', { class: 'composer', novalidate: true });
    ui.input = el('textarea', { rows: '2', maxlength: '4000', 'aria-label': t('composer_label'), placeholder: t('composer_label') });
    var send = el('button', { type: 'submit', class: 'btn btn-primary send', text: t('send') });
    form.appendChild(ui.input);
    form.appendChild(send);
    ui.input.addEventListener('keydown', function (e) {
      // Enter sends; Shift+Enter is a new line; never during IME composition.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event('submit', { cancelable: true }));
      }
    });
    ui.input.addEventListener('input', typed);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (sendMessage(ui.input.value)) ui.input.value = '';
      ui.input.focus();
    });
    return form;
  }

  function buildEndRow() {
    ui.endBtn = el('button', { type: 'button', class: 'btn btn-quiet' });
    ui.endBtn.addEventListener('click', function () {
      S.confirmEnd = true;
      render();
      ui.endYes.focus();
    });
    ui.endYes = el('button', { type: 'button', class: 'btn btn-primary', text: t('end_yes') });
    ui.endYes.addEventListener('click', endChat);
    var no = el('button', { type: 'button', class: 'btn btn-quiet', text: t('end_no') });
    no.addEventListener('click', function () { S.confirmEnd = false; render(); ui.endBtn.focus(); });
    ui.endConfirm = el('div', { class: 'end-confirm', role: 'group', 'aria-label': t('end_confirm') },
      el('span', { text: t('end_confirm') }), ui.endYes, no);
    ui.endRow = el('div', { class: 'end-row' }, ui.endBtn, ui.endConfirm);
    return ui.endRow;
  }

  function buildEnded() {
    var box = el('div', { class: 'ended' });
    ui.endedBy = el('p');
    box.appendChild(ui.endedBy);

    var rc = el('section', { class: 'note return-code' });
    rc.appendChild(el('h3', { text: t('return_code_heading') }));
    ui.returnCodeText = el('p', { class: 'code' });
    rc.appendChild(ui.returnCodeText);
    rc.appendChild(el('p', { text: t('return_code_note') }));
    ui.returnBox = rc;
    box.appendChild(rc);

    var form = el('form', { class: 'feedback', novalidate: true });
    var fs = el('fieldset', { class: 'rating' }, el('legend', { text: t('rating_legend') }));
    var name = nextId('rating');
    for (var i = 1; i <= 5; i++) {
      var id = nextId('rt');
      fs.appendChild(el('span', { class: 'rate' },
        el('input', { type: 'radio', name: name, value: String(i), id: id }),
        el('label', { for: id, text: t('rating_' + i) })));
    }
    ui.ratingError = el('p', { class: 'error', role: 'alert', hidden: true });
    fs.appendChild(ui.ratingError);
    form.appendChild(fs);
    var text = el('textarea', { rows: '2', maxlength: '4000' });
    form.appendChild(field(t('feedback_label'), text));
    form.appendChild(el('button', { type: 'submit', class: 'btn btn-secondary', text: t('feedback_send') }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var checked = form.querySelector('input[type=radio]:checked');
      var ok = sendFeedback(checked ? parseInt(checked.value, 10) : 0, text.value);
      ui.ratingError.textContent = ok ? '' : t('feedback_need_rating');
      ui.ratingError.hidden = ok;
      if (!ok) form.querySelector('input[type=radio]').focus();
    });
    ui.feedbackForm = form;
    box.appendChild(form);
    ui.feedbackThanks = el('p', { class: 'thanks', role: 'status', text: t('feedback_thanks'), hidden: true });
    box.appendChild(ui.feedbackThanks);

    var again = el('button', { type: 'button', class: 'btn btn-primary', text: t('new_chat') });
    again.addEventListener('click', newChat);
    box.appendChild(again);
    return box;
  }

  function buildClosed() {
    var box = el('div', { class: 'closed' });
    ui.closedNext = el('p');
    box.appendChild(ui.closedNext);
    box.appendChild(el('p', { class: 'danger', text: t('closed_danger') }));
    ui.closedServicesHeading = el('h3', { text: t('closed_services') });
    box.appendChild(ui.closedServicesHeading);
    ui.closedList = el('ul', { class: 'cards' });
    box.appendChild(ui.closedList);
    var again = el('button', { type: 'button', class: 'btn btn-secondary', text: t('check_again') });
    again.addEventListener('click', function () { S.closed = null; setState('intro'); fetchStatus(); });
    box.appendChild(again);
    return box;
  }

  /* The whole panel in the current language. */
  function buildPanel() {
    var headingId = nextId('title');
    ui.panel = el('section', { class: 'panel', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': headingId, hidden: true, lang: S.lang });
    ui.panel.appendChild(buildTopbar());
    ui.heading = el('h2', { id: headingId, tabindex: '-1' });
    ui.sub = el('p', { class: 'sub' });
    ui.panel.appendChild(el('div', { class: 'head' },
      el('p', { class: 'brand', text: t('title') }), ui.heading, ui.sub));
    ui.banner = el('p', { class: 'banner', role: 'status', hidden: true });
    ui.panel.appendChild(ui.banner);

    ui.scroll = el('div', { class: 'scroll' });
    ui.intro = buildIntro();
    ui.closedBox = buildClosed();
    ui.queueBox = buildQueueBox();
    ui.log = el('ol', { class: 'log', 'aria-label': t('log_label') });
    ui.typing = el('p', { class: 'typing' });
    ui.endedBox = buildEnded();
    ui.scroll.append(ui.intro, ui.closedBox, ui.queueBox, ui.log, ui.typing, ui.endedBox);
    ui.panel.appendChild(ui.scroll);
    ui.composer = buildComposer();
    ui.panel.appendChild(buildEndRow());
    ui.panel.appendChild(ui.composer);

    ui.panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { e.stopPropagation(); api.close(); }
      else trapTab(e);
    });
    return ui.panel;
  }

  function buildAll() {
    ui.wrap.replaceChildren(buildLauncher(), buildPanel());
    ui.live.lang = ui.exitLive.lang = S.lang;
    S.shownView = null;
    renderLog();
    ui.panel.hidden = !S.open;
    render();
  }

  function setLanguage(lang) {
    if (LANGS.indexOf(lang) < 0 || lang === S.lang) return;
    loadLang(lang).then(function () {
      var draft = ui.input ? ui.input.value : '';
      var intro = snapshotIntro();
      S.lang = lang;
      store.set(KEY_LANG, lang);
      buildAll();
      ui.input.value = draft;
      restoreIntro(intro);
      var btn = ui.panel.querySelector('.lang');
      if (S.open && btn) btn.focus();
    });
  }

  function snapshotIntro() {
    if (!ui.topic) return null;
    return { topic: ui.topic.value, area: ui.area.value, ret: ui.returnInput ? ui.returnInput.value : '', text: ui.opening.value, remember: ui.remember.checked };
  }

  function restoreIntro(v) {
    if (!v) return;
    ui.topic.value = v.topic; ui.area.value = v.area; ui.opening.value = v.text; ui.remember.checked = v.remember;
    if (ui.returnInput) ui.returnInput.value = v.ret;
  }

  /* --------------------------------------------------------------- API */

  var api = {
    open: function () {
      if (!ui.panel || exiting) return;
      S.open = true;
      S.unread = 0;
      ui.panel.hidden = false;
      host.classList.add('is-open');
      if (S.state === 'intro' && Date.now() - S.statusAt > 60000) fetchStatus();
      render();
      // Focus moves into the panel: its heading, so the state is read first.
      ui.heading.focus();
      scrollOnEnter(view());
    },
    close: function () {
      if (!ui.panel) return;
      S.open = false;
      ui.panel.hidden = true;
      host.classList.remove('is-open');
      render();
      ui.launcher.focus();
    },
    exit: quickExit,
    setLanguage: setLanguage,
    /* For tests and host pages: the current state name. */
    get state() { return S.state; }
  };

  /* ------------------------------------------------------------- start */

  function init() {
    var savedLang = store.get(KEY_LANG);
    if (savedLang && LANGS.indexOf(savedLang) >= 0) S.lang = savedLang;

    // Create the host and live regions at once so Shift x3 works early.
    host = document.createElement('div');
    host.className = 'chatd-widget';
    host.setAttribute('data-chatd-widget', '');
    ui.root = host.attachShadow({ mode: 'open' });
    var css = el('link', { rel: 'stylesheet', href: new URL('parent/widget.css', ASSETS).href });
    ui.wrap = el('div', { class: 'wrap' });
    ui.live = el('div', { class: 'sr', 'aria-live': 'polite', 'aria-atomic': 'false' });
    ui.exitLive = el('div', { class: 'sr', 'aria-live': 'polite', 'aria-atomic': 'true' });
    // Hidden until the stylesheet is in, so nothing flashes unstyled.
    ui.wrap.style.visibility = 'hidden';
    css.addEventListener('load', function () { ui.wrap.style.visibility = ''; });
    css.addEventListener('error', function () { ui.wrap.style.visibility = ''; });
    ui.root.append(css, ui.wrap, ui.live, ui.exitLive);
    document.body.appendChild(host);

    if (cfg.shiftExit) window.addEventListener('keydown', onKeyDown, true);
    window.addEventListener('online', function () { render(); conn.kick(); });
    window.addEventListener('offline', render);
    document.addEventListener('visibilitychange', function () { if (!document.hidden) conn.kick(); });

    var langs = [loadLang('en')];
    if (S.lang !== 'en') langs.push(loadLang(S.lang));
    Promise.all(langs).then(function () {
      buildAll();
      resumeSaved();
    });
  }

  /* A session saved in this tab (page reload mid-chat): rejoin it. */
  function resumeSaved() {
    var raw = store.get(KEY_SESSION);
    if (!raw) return;
    try {
      var s = JSON.parse(raw);
      if (!s || typeof s.resume !== 'string') return;
      S.session.resume = s.resume;
      S.session.conversation = s.conversation || null;
      // last_seq is kept too, but the transcript is not: hello asks from 0.
      S.session.lastSeq = typeof s.last_seq === 'number' ? s.last_seq : 0;
      S.replayUpTo = S.session.lastSeq;
      conn.connect();
    } catch (e) {
      store.remove(KEY_SESSION);
    }
  }

  window.ChatdWidget = api;
  if (document.body) init();
  else document.addEventListener('DOMContentLoaded', init);
})();
