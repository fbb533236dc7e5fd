/* chatd staff console (/console/).
 *
 * Plain JavaScript, no framework, no build step.  Wire protocol:
 * docs/protocol.md, staff endpoint.
 *
 * Layout of this file:
 *   constants   - severities, taxonomy, outcomes, emergency protocol
 *   helpers     - el(), marked text, time
 *   conn        - the staff WebSocket with backoff and an outbox
 *   handlers    - one function per server frame type (extensible: on())
 *   conversations - model + a tab and a panel per conversation
 *   shift       - availability, capacity, queue, lead alerts
 *   session     - login / logout
 *   ChatdConsole - small public object used by console-tools.js (service
 *                  search, canned responses, escalate, transfer) and
 *                  console-lead.js (alerts, cases, observe, whisper, decide)
 */
(function () {
  'use strict';

  /* ------------------------------------------------------- constants */

  var SEVERITIES = ['none', 'low', 'medium', 'high', 'emergency'];
  var SEVERITY_LABEL = { none: 'No concern', low: 'Low', medium: 'Medium', high: 'High', emergency: 'Emergency' };

  /* Taxonomy ids from shared/TAXONOMY.md (the public contract), with labels. */
  var CATEGORIES = [
    ['suicide', 'Suicide'], ['self_harm', 'Self-harm'], ['harm_to_child', 'Harm to child'],
    ['child_abuse', 'Child abuse'], ['child_sexual_exploitation', 'Child sexual exploitation'],
    ['neglect', 'Neglect'], ['domestic_abuse', 'Domestic abuse'], ['medical_emergency', 'Medical emergency'],
    ['missing_child', 'Missing child'], ['crime_exploitation', 'Crime / exploitation'],
    ['substance_misuse', 'Substance misuse'], ['mental_health', 'Mental health'],
    ['radicalisation', 'Radicalisation'], ['bullying', 'Bullying'], ['school', 'School'],
    ['send', 'SEND'], ['behaviour', 'Behaviour'], ['separation', 'Separation / contact'],
    ['finance_housing', 'Finance / housing'], ['young_carer', 'Young carer'], ['bereavement', 'Bereavement']
  ];
  var CATEGORY_LABEL = {};
  CATEGORIES.forEach(function (c) { CATEGORY_LABEL[c[0]] = c[1]; });

  var DECISIONS = [
    ['no_further_action', 'No further action'], ['signposted', 'Signposted'],
    ['referred_childrens_social_care', "Referred to children's social care"],
    ['referred_police', 'Referred to the police'], ['emergency_services', 'Emergency services called']
  ];
  var DECISION_LABEL = {};
  DECISIONS.forEach(function (d) { DECISION_LABEL[d[0]] = d[1]; });

  var OUTCOMES = [
    ['advice', 'Advice given'], ['signposted', 'Signposted'], ['escalated', 'Escalated'],
    ['referred', 'Referred'], ['disconnected', 'Disconnected']
  ];

  /* Shown beside a chat whose severity reaches emergency. */
  var EMERGENCY_STEPS = [
    'Stay in the chat. Keep your replies short and calm.',
    'If anyone is in immediate danger, ask the parent to call 999 now.',
    'Ask where they are (address or nearest landmark) and who is with them.',
    'The safeguarding lead has been alerted. Tell them what you know as soon as you can.',
    'If the parent cannot call and gives a location, call 999 yourself and give it.',
    'Do not end the chat until the lead has recorded a decision.',
    'Write down what you did and when in the wrap-up note.'
  ];

  var TYPING_SEND_MS = 3000;
  var TYPING_SHOW_MS = 5000;
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 30000;
  // chatd replaces a session cookie only on an HTTP request (a WebSocket
  // upgrade cannot carry a new one), so a console open all shift asks
  // /api/me twice per rotation interval (its answer's rotate_s).
  var SESSION_REFRESH_MIN_MS = 1000;
  var refreshTimer = null;
  var BASE_TITLE = document.title;

  /* --------------------------------------------------------- helpers */

  function $(id) { return document.getElementById(id); }

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

  /* Children for append/replaceChildren, which would print null as "null". */
  function kids(list) { return list.filter(function (x) { return x !== null && x !== undefined && x !== false; }); }

  function sevRank(s) { var i = SEVERITIES.indexOf(s); return i < 0 ? 0 : i; }
  function maxSev(a, b) { return sevRank(b) > sevRank(a) ? b : a; }

  function sevBadge(sev) {
    return el('span', { class: 'sev sev-' + sev, text: SEVERITY_LABEL[sev] || sev });
  }

  function newId() {
    var b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
  }

  function fmtTime(ts) {
    var d = new Date(ts || Date.now());
    return ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
  }

  function fmtWait(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + ('0' + (s % 60)).slice(-2) + ' s';
    return Math.floor(m / 60) + ' h ' + ('0' + (m % 60)).slice(-2) + ' min';
  }

  /* Text with the triage `spans` ([start, end) UTF-16 offsets, the units
   * String.slice uses) wrapped in <mark>, built from text nodes only. */
  function markedText(text, spans) {
    var frag = document.createDocumentFragment();
    var ranges = (Array.isArray(spans) ? spans : [])
      .filter(function (s) { return Array.isArray(s) && s.length === 2 && s[0] < s[1]; })
      .map(function (s) { return [Math.max(0, s[0] | 0), Math.min(text.length, s[1] | 0)]; })
      .sort(function (a, b) { return a[0] - b[0]; });
    var at = 0;
    ranges.forEach(function (r) {
      var start = Math.max(r[0], at);
      if (start >= r[1]) return; // overlaps what is already marked
      if (start > at) frag.appendChild(document.createTextNode(text.slice(at, start)));
      frag.appendChild(el('mark', { text: text.slice(start, r[1]) }));
      at = r[1];
    });
    if (at < text.length) frag.appendChild(document.createTextNode(text.slice(at)));
    return frag;
  }

  function announce(text) {
    var p = el('p', { text: text });
    $('announce').appendChild(p);
    while ($('announce').childNodes.length > 3) $('announce').removeChild($('announce').firstChild);
  }

  /* ------------------------------------------------------ connection */

  var conn = {
    ws: null,
    ready: false,
    attempt: 0,
    timer: null,
    wanted: false,     // signed in: keep the socket up

    url: function () {
      return (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws/staff';
    },

    connect: function () {
      if (!this.wanted || this.ws) return;
      clearTimeout(this.timer);
      this.timer = null;
      var ws;
      try { ws = new WebSocket(this.url(), 'helpline.v1'); } catch (e) { this.retry(); return; }
      this.ws = ws;
      ws.onmessage = function (ev) {
        if (conn.ws !== ws) return;
        var f;
        try { f = JSON.parse(ev.data); } catch (e) { return; }
        if (!f || typeof f.type !== 'string') return;
        var h = handlers[f.type];
        if (typeof h === 'function') h(f);
        (extraHandlers[f.type] || []).forEach(function (fn) { fn(f); });
      };
      ws.onclose = function (ev) {
        if (conn.ws !== ws) return;
        conn.ws = null;
        conn.ready = false;
        if (ev.code === 1008) { sessionLost(); return; } // no valid session
        if (!conn.wanted) return;
        setLink('Connection lost. Reconnecting…', true);
        conn.retry();
      };
      ws.onerror = function () { /* onclose follows */ };
    },

    send: function (frame) {
      if (!this.ready || !this.ws || this.ws.readyState !== 1) return false;
      try { this.ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
    },

    retry: function () {
      if (!this.wanted || this.timer) return;
      var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, this.attempt));
      this.attempt++;
      var self = this;
      this.timer = setTimeout(function () { self.timer = null; self.connect(); }, base / 2 + Math.random() * base / 2);
    },

    stop: function () {
      this.wanted = false;
      clearTimeout(this.timer);
      this.timer = null;
      var ws = this.ws;
      this.ws = null;
      this.ready = false;
      if (ws) { try { ws.close(1000); } catch (e) { /* closing */ } }
    }
  };

  function setLink(text, bad) {
    $('link').textContent = text;
    $('link').className = 'link' + (bad ? ' link-bad' : '');
  }

  /* -------------------------------------------------------- handlers */

  var me = { name: '', role: '' };
  var shift = { available: false, capacity: 2, active: 0, everSet: false };
  var convs = {};        // conversation id -> conversation
  var order = [];        // conversation ids in tab order
  var selected = null;   // conversation id shown
  var chatNo = 0;        // "Chat 1", "Chat 2" ... labels for this shift
  var lastWrapup = null; // error frames carry no conversation: see README
  var extraHandlers = {};

  var handlers = {
    welcome: function (f) {
      conn.ready = true;
      conn.attempt = 0;
      me.name = String(f.name || '');
      me.role = String(f.role || '');
      $('whoami').textContent = me.name + ' (' + me.role + ')';
      $('whoami').hidden = false;
      $('lead').hidden = me.role !== 'lead' && me.role !== 'admin';
      showApp();
      setLink('Connected', false);
      // After a drop, say again what the adviser had chosen, and resend
      // unacknowledged messages with their ids (the server drops repeats).
      if (shift.everSet) sendAvailability();
      order.forEach(function (id) {
        convs[id].pending.forEach(function (m) {
          conn.send({ type: 'msg', conversation: id, id: m.id, text: m.text });
        });
      });
    },

    availability: function (f) {
      shift.available = !!f.available;
      if (typeof f.capacity === 'number') shift.capacity = f.capacity;
      if (typeof f.active === 'number') shift.active = f.active;
      renderShift();
    },

    assigned: function (f) {
      if (!f.conversation) return;
      var c = convs[f.conversation];
      var isNew = !c;
      if (isNew) c = addConversation(f);
      c.severity = maxSev(c.severity, f.severity || 'none');
      if (f.topic) c.topic = String(f.topic);
      if (f.area) c.area = String(f.area);
      c.returning = !!f.returning;
      if (f.previous && typeof f.previous === 'object') c.previous = f.previous;
      if (f.transfer && typeof f.transfer === 'object') c.transfer = f.transfer;
      renderContext(c);
      (Array.isArray(f.history) ? f.history : []).forEach(function (m) { addMessage(c, m, true); });
      renderConvHeader(c);
      renderTab(c);
      if (isNew) {
        announce('New chat assigned: ' + c.label + (c.topic ? ', ' + topicLabel(c.topic) : '') + '.');
        notifyTitle(true);
        if (!selected) selectConv(c.id, false);
      }
      hooks.assigned.forEach(function (fn) { fn(c); });
    },

    msg: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      addMessage(c, f, false);
    },

    ack: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      var m = takePending(c, f.id);
      if (!m) return;
      m.status = 'sent';
      if (typeof f.seq === 'number' && !c.bySeq[f.seq]) { m.seq = f.seq; c.bySeq[f.seq] = m; }
      else if (typeof f.seq === 'number' && c.bySeq[f.seq] !== m) { m.node.remove(); return; } // already shown
      updateMessage(c, m);
    },

    typing: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      c.typingEl.textContent = 'Parent is typing…';
      clearTimeout(c.typingTimer);
      c.typingTimer = setTimeout(function () { c.typingEl.textContent = ''; }, TYPING_SHOW_MS);
    },

    ended: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      c.ended = { by: f.by || 'system', reason: f.reason || null };
      c.typingEl.textContent = '';
      c.awayEl.hidden = true;
      renderEnded(c);
      renderTab(c);
      announce(c.label + ' has ended. Wrap-up is due.');
    },

    wrapped: function (f) {
      removeConversation(f.conversation, 'is wrapped up and closed.');
    },

    transferred: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      showNotice(c.label + ' was handed on to a colleague with your note. Its tab is closed.');
      removeConversation(f.conversation, 'was transferred to a colleague and closed.');
    },

    signpost: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      addMessage(c, f, false);
    },

    parent_away: function (f) {
      var c = convs[f.conversation];
      if (!c || c.ended) return;
      c.awayEl.textContent = 'The parent is away: their connection dropped. They may come back; the chat ends if they do not.';
      c.awayEl.hidden = false;
      announce(c.label + ': the parent is away.');
    },

    parent_back: function (f) {
      var c = convs[f.conversation];
      if (!c || c.ended) return;
      c.awayEl.hidden = true;
      announce(c.label + ': the parent is back.');
    },

    whisper: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      var li = el('li', { class: 'msg msg-whisper' },
        el('p', { class: 'msg-head' }, el('span', { class: 'who', text: 'Whisper from ' + String(f.from || 'a lead') }), ' ',
          el('span', { class: 'time', text: fmtTime(f.ts) }), ' ', el('span', { class: 'muted', text: '(the parent does not see this)' })),
        el('p', { class: 'text', text: String(f.text || '') }));
      c.log.appendChild(li);
      c.log.scrollTop = c.log.scrollHeight;
      announce(c.label + ': whisper from ' + String(f.from || 'a lead') + ': ' + String(f.text || ''));
    },

    case_update: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      c.caseStatus = f.status || null;
      c.decision = f.decision || null;
      if (c.caseStatus === 'decided') {
        c.needsReason = false;
        c.reasonField.hidden = true;
        c.wrapError.textContent = '';
        announce(c.label + ': the lead has decided (' + decisionLabel(c.decision) + '). You can wrap up.');
      }
      renderConvHeader(c);
    },

    suggest: function (f) {
      var c = convs[f.conversation];
      if (!c) return;
      c.suggested = Array.isArray(f.services) ? f.services : [];
      renderSuggestions(c);
    },

    queue: function (f) {
      queueState = { waiting: f.waiting | 0, oldest: Number(f.oldest_wait_s) || 0, at: Date.now(), bySev: f.by_severity || {} };
      renderQueue();
    },

    error: function (f) {
      if (f.code === 'no_session') { sessionLost(); return; }
      // A failed message: find it by client id.
      if (f.id) {
        for (var i = 0; i < order.length; i++) {
          var c = convs[order[i]], m = takePending(c, f.id);
          if (m) { m.status = 'failed'; m.reason = f.message || f.code; updateMessage(c, m); return; }
        }
      }
      if (f.ref === 'wrapup' && lastWrapup && convs[lastWrapup]) {
        var wc = convs[lastWrapup];
        if (f.code === 'not_allowed' && !wc.needsReason && wc.caseStatus !== 'decided') {
          // The chat reached high: a lead must decide first, or say why not.
          wc.needsReason = true;
          wc.reasonField.hidden = false;
          showWrapError(wc, 'This chat reached high concern, so a safeguarding lead must record a decision before it can be closed. ' +
            'Wait for the lead, or say below why no decision is needed.');
          wc.reasonInput.focus();
        } else {
          showWrapError(wc, f.code === 'not_allowed' ? 'Not saved: a lead decision or a reason is still needed.' : (f.message || f.code));
        }
        return;
      }
      if (claimedRefs[f.ref]) return; // shown by the tool that sent it
      if (f.ref === 'availability') { $('avail-state').textContent = 'Could not change availability: ' + (f.message || f.code); return; }
      announce('Error: ' + (f.message || f.code));
      setLink('Server said: ' + (f.message || f.code), true);
    }
  };

  function catLabel(id) { return CATEGORY_LABEL[id] || String(id); }
  function decisionLabel(d) { return DECISION_LABEL[d] || String(d || ''); }
  function outcomeLabel(o) { for (var i = 0; i < OUTCOMES.length; i++) if (OUTCOMES[i][0] === o) return OUTCOMES[i][1]; return String(o || ''); }
  function topicLabel(t) { return CATEGORY_LABEL[t] || t; }

  /* --------------------------------------------------- conversations */

  function addConversation(f) {
    chatNo++;
    var c = {
      id: f.conversation,
      label: 'Chat ' + chatNo,
      severity: 'none',
      topic: '', area: '', returning: false, previous: null, transfer: null,
      caseStatus: null, decision: null, needsReason: false,
      messages: [], bySeq: {}, pending: [],
      unread: 0,
      categories: {},      // taxonomy ids seen in triage: pre-ticked in wrap-up
      ended: null,
      suggested: [],
      lastTypingSent: 0
    };
    convs[c.id] = c;
    order.push(c.id);
    buildConversation(c);
    $('no-chats').hidden = true;
    return c;
  }

  function removeConversation(id, why) {
    var c = convs[id];
    if (!c) return;
    var idx = order.indexOf(id);
    c.tab.remove();
    c.panel.remove();
    delete convs[id];
    order.splice(idx, 1);
    if (selected === id) {
      selected = null;
      var next = order[Math.min(idx, order.length - 1)];
      if (next) selectConv(next, true);
      else $('chats').focus();
    }
    $('no-chats').hidden = order.length > 0;
    announce(c.label + ' ' + (why || 'is closed.'));
    updateTitle();
  }

  function buildConversation(c) {
    var tabId = 'tab-' + chatNo, panelId = 'panel-' + chatNo;
    c.tab = el('button', { type: 'button', role: 'tab', id: tabId, 'aria-controls': panelId, 'aria-selected': 'false', tabindex: '-1', class: 'tab' });
    c.tab.addEventListener('click', function () { selectConv(c.id, true); });
    c.tab.addEventListener('keydown', tabKeys);
    $('tabs').appendChild(c.tab);

    c.panel = el('div', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, class: 'conv', hidden: true });
    var main = el('div', { class: 'conv-main' });
    c.headerEl = el('div', { class: 'conv-head' });
    c.contextEl = el('div', { class: 'context', hidden: true });
    c.log = el('ol', { class: 'log', 'aria-label': 'Messages in ' + c.label });
    c.typingEl = el('p', { class: 'typing', 'aria-live': 'polite' });
    c.awayEl = el('p', { class: 'away-note', hidden: true });
    c.endedEl = el('p', { class: 'ended-note', hidden: true });
    main.append(c.headerEl, c.contextEl, c.log, c.typingEl, c.awayEl, c.endedEl, buildComposer(c), buildWrapup(c));

    var side = el('div', { class: 'conv-side' });
    c.emergencyEl = buildEmergency();
    c.suggestEl = el('section', { class: 'box', 'aria-label': 'Suggested services', 'data-ext': 'signpost' },
      el('h3', { text: 'Suggested services' }), el('ul', { class: 'suggest' }),
      el('p', { class: 'muted', text: 'Suggestions from triage appear here.' }));
    // Filled by console-tools.js: service search, canned responses, escalate, transfer.
    c.toolsEl = el('section', { class: 'box tools', 'aria-label': 'Chat tools', 'data-ext': 'tools' });
    side.append(c.emergencyEl, c.suggestEl, c.toolsEl);
    hooks.panel.forEach(function (fn) { fn(c, c.toolsEl); });

    c.panel.append(main, side);
    $('panels').appendChild(c.panel);
    renderConvHeader(c);
    renderTab(c);
  }

  function buildComposer(c) {
    var id = 'reply-' + chatNo;
    var form = el('form', { class: 'composer', novalidate: true });
    c.input = el('textarea', { id: id, rows: '3', maxlength: '4000' });
    var send = el('button', { type: 'submit', class: 'btn btn-primary', text: 'Send' });
    var end = el('button', { type: 'button', class: 'btn btn-danger-quiet', text: 'End chat' });
    form.append(el('label', { for: id, text: 'Reply to the parent (Enter sends, Shift+Enter for a new line)' }), c.input,
      el('div', { class: 'composer-actions' }, send, end));
    c.input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    c.input.addEventListener('input', function () {
      var now = Date.now();
      if (now - c.lastTypingSent >= TYPING_SEND_MS && conn.send({ type: 'typing', conversation: c.id })) c.lastTypingSent = now;
    });
    form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
    end.addEventListener('click', function () {
      if (window.confirm('End ' + c.label + '? The parent will be told the chat is over.')) conn.send({ type: 'end', conversation: c.id });
    });
    function submit() {
      var text = c.input.value.replace(/\s+$/, '');
      if (!text.trim() || c.ended) return;
      sendMessage(c, text);
      c.input.value = '';
    }
    c.composer = form;
    return form;
  }

  function sendMessage(c, text) {
    var m = { id: newId(), from: 'adviser', text: text, ts: Date.now(), status: 'pending' };
    c.pending.push(m);
    c.messages.push(m);
    appendMessage(c, m);
    conn.send({ type: 'msg', conversation: c.id, id: m.id, text: text });
  }

  function takePending(c, id) {
    for (var i = 0; i < c.pending.length; i++) {
      if (c.pending[i].id === id) return c.pending.splice(i, 1)[0];
    }
    return null;
  }

  /* A message from `assigned` history or a `msg` frame; dedupe by seq
   * (history is re-sent after a reconnect). */
  function addMessage(c, f, fromHistory) {
    if (typeof f.seq !== 'number' || c.bySeq[f.seq]) return;
    if (f.from === 'adviser' && f.id) {
      var mine = takePending(c, f.id);
      if (mine) { mine.seq = f.seq; mine.status = 'sent'; c.bySeq[f.seq] = mine; updateMessage(c, mine); return; }
    }
    var m = { seq: f.seq, from: f.from, text: String(f.text || ''), ts: f.ts, status: 'sent', triage: f.triage || null };
    if (f.type === 'signpost' || (f.service && typeof f.service === 'object')) {
      m.from = 'adviser'; m.service = f.service || {}; m.text = '';
    }
    if (m.triage) {
      c.severity = maxSev(c.severity, m.triage.severity || 'none');
      (m.triage.categories || []).forEach(function (k) { c.categories[k] = true; });
    }
    c.bySeq[m.seq] = m;
    c.messages.push(m);
    appendMessage(c, m);
    if (m.from === 'parent') {
      c.typingEl.textContent = '';
      if (!fromHistory && (selected !== c.id || document.hidden)) c.unread++;
      if (!fromHistory) announce(c.label + ': parent: ' + m.text);
    }
    renderConvHeader(c);
    renderTab(c);
    updateTitle();
  }

  function appendMessage(c, m) {
    m.node = messageItem(m);
    // Keep seq order even if frames arrive out of order.
    var after = null;
    if (typeof m.seq === 'number') {
      for (var i = c.log.children.length - 1; i >= 0; i--) {
        var s = Number(c.log.children[i].getAttribute('data-seq'));
        if (!s || s < m.seq) break;
        after = c.log.children[i];
      }
    }
    c.log.insertBefore(m.node, after);
    if (!after) c.log.scrollTop = c.log.scrollHeight;
  }

  function updateMessage(c, m) {
    if (!m.node) return;
    var fresh = messageItem(m);
    m.node.replaceWith(fresh);
    m.node = fresh;
  }

  /* A service card (signpost) in a transcript: text only, links inert. */
  function cardItem(m) {
    var svc = m.service || {};
    var li = el('li', { class: 'msg msg-card' });
    if (typeof m.seq === 'number') li.setAttribute('data-seq', String(m.seq));
    var card = el('article', { class: 'card', 'aria-label': 'Service card: ' + String(svc.name || svc.id || '') },
      el('p', { class: 'msg-head' }, el('span', { class: 'who', text: 'Service card sent' }), ' ', el('span', { class: 'time', text: fmtTime(m.ts) })),
      el('p', { class: 'card-name', text: String(svc.name || svc.id || 'Service') }),
      svc.description ? el('p', { class: 'card-desc', text: String(svc.description) }) : null,
      svc.phone ? el('p', { text: 'Phone: ' + String(svc.phone) }) : null,
      svc.text && svc.text.number ? el('p', { text: 'Text: ' + String(svc.text.number) + (svc.text.keyword ? ' (' + String(svc.text.keyword) + ')' : '') }) : null,
      svc.url ? el('p', { class: 'card-url', text: String(svc.url) }) : null,
      svc.hours ? el('p', { class: 'muted', text: 'Hours: ' + (Array.isArray(svc.hours) ? svc.hours.join('; ') : String(svc.hours)) }) : null);
    li.appendChild(card);
    return li;
  }

  /* One message.  All text through textContent / text nodes. */
  function messageItem(m) {
    if (m.service) return cardItem(m);
    var sev = m.triage && m.triage.severity && m.triage.severity !== 'none' ? m.triage.severity : null;
    var li = el('li', { class: 'msg msg-' + m.from + (sev ? ' flagged sev-border-' + sev : '') + (m.status !== 'sent' ? ' msg-' + m.status : '') });
    if (typeof m.seq === 'number') li.setAttribute('data-seq', String(m.seq));
    var who = m.from === 'parent' ? 'Parent' : m.from === 'adviser' ? (m.id || m.status !== 'sent' ? 'You' : 'Adviser') : 'System';
    var head = el('p', { class: 'msg-head' }, el('span', { class: 'who', text: who }), ' ', el('span', { class: 'time', text: fmtTime(m.ts) }));
    if (sev) {
      head.append(' ', sevBadge(sev));
      var cats = (m.triage.categories || []).map(catLabel).join(', ');
      if (cats) head.append(' ', el('span', { class: 'cats', text: cats }));
    }
    li.appendChild(head);
    var body = el('p', { class: 'text' });
    body.appendChild(sev ? markedText(m.text, m.triage.spans) : document.createTextNode(m.text));
    li.appendChild(body);
    if (m.status === 'pending') li.appendChild(el('p', { class: 'status', text: 'Sending…' }));
    if (m.status === 'failed') li.appendChild(el('p', { class: 'status', text: 'Not sent: ' + (m.reason || 'error') }));
    return li;
  }

  function renderConvHeader(c) {
    var h = c.headerEl;
    h.replaceChildren();
    h.append(el('h3', { text: c.label }), sevBadge(c.severity));
    var facts = [];
    if (c.topic) facts.push('Topic: ' + topicLabel(c.topic));
    if (c.area) facts.push('Area: ' + c.area);
    if (c.returning) h.appendChild(el('span', { class: 'pill pill-returning', text: 'Returning parent' }));
    if (c.transfer) h.appendChild(el('span', { class: 'pill', text: 'Transferred' }));
    if (c.caseStatus) h.appendChild(el('span', { class: 'pill', text: c.caseStatus === 'decided' ? 'Lead decided: ' + decisionLabel(c.decision) : 'Case open' }));
    if (facts.length) h.appendChild(el('p', { class: 'facts', text: facts.join(' · ') }));
    var wasEmergency = !c.emergencyEl.hidden;
    c.emergencyEl.hidden = c.severity !== 'emergency';
    if (!wasEmergency && c.severity === 'emergency') {
      $('alarm').textContent = 'Emergency in ' + c.label + '. Follow the emergency protocol.';
    }
    c.panel.classList.toggle('is-emergency', c.severity === 'emergency');
  }

  /* What came before: the last wrap-up of a returning parent, and a
   * colleague's note when the chat was transferred. */
  function renderContext(c) {
    var box = c.contextEl;
    box.replaceChildren();
    if (c.returning || c.previous) {
      var p = c.previous || {};
      var sec = el('section', { class: 'box context-box', 'aria-label': 'Previous chat' },
        el('h4', { text: 'Returning parent: their last chat' }));
      if (!c.previous) sec.appendChild(el('p', { class: 'muted', text: 'No wrap-up was recorded for their last chat.' }));
      else {
        var dl = el('dl');
        dl.append(el('dt', { text: 'Topics' }), el('dd', { text: (Array.isArray(p.categories) && p.categories.length ? p.categories.map(catLabel).join(', ') : 'none recorded') }));
        dl.append(el('dt', { text: 'Outcome' }), el('dd', { text: p.outcome ? outcomeLabel(p.outcome) : 'none recorded' }));
        if (p.note) dl.append(el('dt', { text: 'Note' }), el('dd', { class: 'pre', text: String(p.note) }));
        sec.appendChild(dl);
      }
      box.appendChild(sec);
    }
    if (c.transfer) {
      box.appendChild(el('section', { class: 'box context-box', 'aria-label': 'Transfer note' },
        el('h4', { text: 'Transferred to you by ' + String(c.transfer.from || 'a colleague') }),
        el('p', { class: 'pre', text: c.transfer.note ? String(c.transfer.note) : 'No note was given.' })));
    }
    box.hidden = !box.childNodes.length;
  }

  function buildEmergency() {
    var ol = el('ol');
    EMERGENCY_STEPS.forEach(function (s) { ol.appendChild(el('li', { text: s })); });
    return el('section', { class: 'box emergency', 'aria-label': 'Emergency protocol', hidden: true },
      el('h3', { text: 'Emergency protocol' }), ol);
  }

  function renderSuggestions(c) {
    var ul = c.suggestEl.querySelector('ul');
    ul.replaceChildren();
    c.suggested.forEach(function (svc) {
      var send = el('button', { type: 'button', class: 'btn btn-small', text: 'Send card' });
      send.setAttribute('aria-label', 'Send the ' + (svc.name || 'service') + ' card to the parent');
      send.addEventListener('click', function () {
        conn.send({ type: 'signpost', conversation: c.id, service: svc.id });
      });
      ul.appendChild(el('li', null, el('strong', { text: String(svc.name || svc.id) }),
        svc.phone ? el('span', { class: 'muted', text: ' ' + svc.phone }) : null, ' ', send));
    });
    c.suggestEl.querySelector('p').hidden = c.suggested.length > 0;
  }

  function renderTab(c) {
    c.tab.replaceChildren.apply(c.tab, kids([
      el('span', { class: 'dot sev-' + c.severity, 'aria-hidden': 'true' }),
      el('span', { text: c.label }),
      c.severity !== 'none' ? el('span', { class: 'tab-sev', text: SEVERITY_LABEL[c.severity] }) : null,
      c.ended ? el('span', { class: 'tab-ended', text: 'ended' }) : null,
      c.unread ? el('span', { class: 'badge', text: String(c.unread) }) : null,
      c.unread ? el('span', { class: 'sr', text: ' unread' }) : null]));
  }

  function selectConv(id, focusTab) {
    if (!convs[id]) return;
    selected = id;
    order.forEach(function (k) {
      var c = convs[k], on = k === id;
      c.tab.setAttribute('aria-selected', on ? 'true' : 'false');
      c.tab.tabIndex = on ? 0 : -1;
      c.panel.hidden = !on;
    });
    var c = convs[id];
    if (!document.hidden) c.unread = 0;
    renderTab(c);
    updateTitle();
    if (focusTab) c.tab.focus();
    c.log.scrollTop = c.log.scrollHeight;
  }

  /* Arrow keys, Home and End move between tabs (ARIA tabs pattern,
   * automatic activation): the index of the tab key moves to among n,
   * from i, or -1 when it is not such a key.  Shared with the lead view. */
  function tabMove(key, i, n) {
    if (key === 'ArrowRight') return (i + 1) % n;
    if (key === 'ArrowLeft') return (i - 1 + n) % n;
    if (key === 'Home') return 0;
    if (key === 'End') return n - 1;
    return -1;
  }

  function tabKeys(e) {
    var j = tabMove(e.key, order.indexOf(selected), order.length);
    if (j < 0) return;
    e.preventDefault();
    selectConv(order[j], true);
  }

  function renderEnded(c) {
    var why = c.ended.reason === 'exit' ? 'The parent left in a hurry (quick exit). Do not try to contact them.'
      : c.ended.reason === 'disconnected' ? 'The parent disconnected and did not come back.'
      : c.ended.reason === 'abandoned' ? 'The parent left before the chat began.'
      : c.ended.by === 'parent' ? 'The parent ended the chat.'
      : c.ended.by === 'adviser' ? 'You ended the chat.' : 'The chat was ended by the system.';
    c.endedEl.textContent = why + ' Please complete the wrap-up.';
    c.endedEl.hidden = false;
    var hadFocus = c.composer.contains(document.activeElement);
    c.composer.hidden = true;
    c.wrapup.hidden = false;
    // Tick what triage saw, and the topic the parent chose.
    c.wrapup.querySelectorAll('input[name=cat]').forEach(function (box) {
      if (c.categories[box.value] || c.topic === box.value) box.checked = true;
    });
    if (c.ended.reason === 'exit' || c.ended.reason === 'disconnected') c.wrapup.querySelector('select').value = 'disconnected';
    if (hadFocus) c.wrapup.querySelector('h3').focus();
  }

  function buildWrapup(c) {
    var n = chatNo;
    var form = el('form', { class: 'wrapup', novalidate: true, hidden: true });
    form.appendChild(el('h3', { tabindex: '-1', text: 'Wrap-up' }));
    var fs = el('fieldset', { class: 'cats-grid' }, el('legend', { text: 'Topics discussed' }));
    CATEGORIES.forEach(function (cat) {
      var id = 'cat-' + n + '-' + cat[0];
      fs.appendChild(el('span', { class: 'check' },
        el('input', { type: 'checkbox', name: 'cat', value: cat[0], id: id }), el('label', { for: id, text: cat[1] })));
    });
    form.appendChild(fs);
    var outId = 'outcome-' + n, noteId = 'note-' + n;
    var sel = el('select', { id: outId, required: true });
    sel.appendChild(el('option', { value: '', text: 'Choose an outcome' }));
    OUTCOMES.forEach(function (o) { sel.appendChild(el('option', { value: o[0], text: o[1] })); });
    form.append(el('div', { class: 'field' }, el('label', { for: outId, text: 'Outcome' }), sel));
    var note = el('textarea', { id: noteId, rows: '3', maxlength: '4000' });
    form.append(el('div', { class: 'field' }, el('label', { for: noteId, text: 'Note (optional, not shown to the parent)' }), note));
    var reasonId = 'reason-' + n;
    c.reasonInput = el('input', { type: 'text', id: reasonId, maxlength: '1000', autocomplete: 'off', 'aria-describedby': 'reason-help-' + n });
    c.reasonField = el('div', { class: 'field', hidden: true },
      el('label', { for: reasonId, text: 'Why no lead decision is needed' }),
      el('p', { id: 'reason-help-' + n, class: 'muted', text: 'Only if a lead decision is not needed (for example, triage misread the words). This is recorded in the audit log.' }),
      c.reasonInput);
    form.append(c.reasonField);
    c.wrapError = el('p', { class: 'error', role: 'alert' });
    form.append(c.wrapError, el('button', { type: 'submit', class: 'btn btn-primary', text: 'Save wrap-up and close' }));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var cats = Array.prototype.map.call(form.querySelectorAll('input[name=cat]:checked'), function (b) { return b.value; });
      if (!sel.value) { showWrapError(c, 'Choose an outcome.'); sel.focus(); return; }
      var f = { type: 'wrapup', conversation: c.id, categories: cats, outcome: sel.value };
      if (note.value.trim()) f.note = note.value.trim();
      if (c.needsReason && c.caseStatus !== 'decided') {
        if (!c.reasonInput.value.trim()) {
          showWrapError(c, 'A lead has not decided yet. Wait for the decision, or say why no decision is needed.');
          c.reasonInput.focus();
          return;
        }
        f.no_decision_reason = c.reasonInput.value.trim();
      }
      lastWrapup = c.id;
      if (!conn.send(f)) showWrapError(c, 'Not connected. Try again when the console has reconnected.');
      else c.wrapError.textContent = '';
    });
    c.wrapup = form;
    return form;
  }

  function showWrapError(c, text) { c.wrapError.textContent = text; }

  /* -------------------------------------------------- title, notices */

  var newChatNotice = '';

  /* A title notice (no sound) while the console is not looked at. */
  function notifyTitle(on, text) {
    newChatNotice = on && (document.hidden || !document.hasFocus()) ? (text || '\u2605 New chat') : '';
    updateTitle();
  }

  /* A visible notice above the chats (e.g. a transferred chat's tab closed). */
  function showNotice(text) {
    $('notice').textContent = text;
    $('notice').hidden = false;
    announce(text);
  }

  function updateTitle() {
    var unread = order.reduce(function (n, id) { return n + convs[id].unread; }, 0);
    var t = BASE_TITLE;
    if (unread) t = '(' + unread + ') ' + t;
    if (newChatNotice) t = newChatNotice + ' \u2014 ' + t;
    document.title = t;
  }

  function backInView() {
    if (document.hidden) return;
    newChatNotice = '';
    if (selected && convs[selected]) { convs[selected].unread = 0; renderTab(convs[selected]); }
    updateTitle();
  }

  /* ------------------------------------------------------------ shift */

  var queueState = null;

  function sendAvailability() {
    conn.send({ type: 'availability', available: $('available').checked, capacity: parseInt($('capacity').value, 10) });
  }

  function renderShift() {
    $('available').checked = shift.available;
    if (shift.capacity >= 1 && shift.capacity <= 4) $('capacity').value = String(shift.capacity);
    $('avail-state').textContent = (shift.available ? 'Available' : 'Unavailable') +
      ' · ' + shift.active + ' of ' + shift.capacity + ' chats';
  }

  function renderQueue() {
    var q = queueState;
    if (!q) return;
    var oldest = q.waiting ? q.oldest + (Date.now() - q.at) / 1000 : 0;
    $('queue-summary').replaceChildren.apply($('queue-summary'), kids([
      el('strong', { text: q.waiting + ' waiting' }),
      q.waiting ? document.createTextNode(' · longest wait ' + fmtWait(oldest)) : null]));
    var ul = $('queue-sev');
    ul.replaceChildren();
    SEVERITIES.slice().reverse().forEach(function (s) {
      var n = q.bySev[s] | 0;
      if (!n && s !== 'emergency' && s !== 'high') return;
      ul.appendChild(el('li', { class: n ? '' : 'zero' }, sevBadge(s), el('span', { text: ' ' + n })));
    });
  }

  /* ---------------------------------------------------------- session */

  function showLogin(message) {
    $('app').hidden = true;
    $('skip').hidden = true; // its target, the chats, is not on this page
    $('login').hidden = false;
    $('logout').hidden = true;
    $('whoami').hidden = true;
    $('login-error').textContent = message || '';
    setLink('', false);
    $('login-name').focus();
  }

  function showApp() {
    var first = $('app').hidden;
    $('login').hidden = true;
    $('app').hidden = false;
    $('skip').hidden = false;
    $('logout').hidden = false;
    if (first) $('available').focus();
  }

  function startSession() {
    conn.wanted = true;
    conn.attempt = 0;
    setLink('Connecting…', false);
    conn.connect();
    refreshSession(); // learns rotate_s and keeps the cookie fresh
  }

  /* Lets chatd rotate the cookie; an ended session is noticed by the
   * socket, which chatd closes, so the answer needs no handling here. */
  function refreshSession() {
    if (!conn.wanted) return;
    fetch('/api/me', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (m) { if (m) refreshEvery(m.rotate_s); })
      .catch(function () {});
  }

  function refreshEvery(rotateS) {
    var ms = Math.max(SESSION_REFRESH_MIN_MS, (rotateS | 0) * 1000 / 2);
    if (refreshTimer && refreshTimer.ms === ms) return;
    if (refreshTimer) clearInterval(refreshTimer.id);
    refreshTimer = { ms: ms, id: setInterval(refreshSession, ms) };
  }

  function sessionLost() {
    conn.stop();
    resetAll();
    showLogin('Your session has ended. Please sign in again.');
  }

  function resetAll() {
    order.slice().forEach(function (id) { convs[id].tab.remove(); convs[id].panel.remove(); delete convs[id]; });
    order = [];
    selected = null;
    chatNo = 0;
    shift.everSet = false;
    $('no-chats').hidden = false;
    $('notice').hidden = true;
    hooks.reset.forEach(function (fn) { fn(); });
    document.title = BASE_TITLE;
  }

  function login(e) {
    e.preventDefault();
    var name = $('login-name').value.trim(), password = $('login-password').value;
    if (!name || !password) { $('login-error').textContent = 'Enter your name and password.'; return; }
    $('login-error').textContent = '';
    fetch('/api/login', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: name, password: password })
    }).then(function (r) {
      if (r.ok) {
        $('login-password').value = '';
        startSession();
      } else if (r.status === 401) {
        $('login-error').textContent = 'Wrong name or password.';
      } else if (r.status === 429) {
        $('login-error').textContent = 'Too many attempts. Wait a minute and try again.';
      } else {
        $('login-error').textContent = 'Sign-in failed (' + r.status + '). Try again.';
      }
    }).catch(function () {
      $('login-error').textContent = 'Cannot reach the server. Check your connection.';
    });
  }

  function logout() {
    conn.stop();
    fetch('/api/logout', { method: 'POST', credentials: 'same-origin' }).catch(function () { });
    resetAll();
    showLogin('You have signed out.');
  }

  /* ------------------------------------------------------- public API */

  /* Used by console-tools.js and console-lead.js: handlers for frame
   * types, tools in each conversation's side panel, shared helpers. */
  var hooks = { panel: [], assigned: [], reset: [] };
  var claimedRefs = {};
  window.ChatdConsole = {
    on: function (type, fn) { (extraHandlers[type] = extraHandlers[type] || []).push(fn); },
    send: function (frame) { return conn.send(frame); },
    addPanelTool: function (fn) { hooks.panel.push(fn); order.forEach(function (id) { fn(convs[id], convs[id].toolsEl); }); },
    onAssigned: function (fn) { hooks.assigned.push(fn); },
    onReset: function (fn) { hooks.reset.push(fn); },
    /* Errors with this `ref` are shown by the module that sent the frame. */
    claimErrors: function (ref) { claimedRefs[ref] = true; },
    conversations: function () { return order.map(function (id) { return convs[id]; }); },
    conversation: function (id) { return convs[id] || null; },
    me: function () { return { name: me.name, role: me.role }; },
    util: {
      el: el, kids: kids, sevBadge: sevBadge, fmtTime: fmtTime, announce: announce, catLabel: catLabel,
      decisionLabel: decisionLabel, messageItem: messageItem, notifyTitle: notifyTitle, showNotice: showNotice,
      tabMove: tabMove,
      SEVERITY_LABEL: SEVERITY_LABEL, CATEGORIES: CATEGORIES, DECISIONS: DECISIONS
    }
  };

  /* ------------------------------------------------------------ start */

  function init() {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    $('available').addEventListener('change', function () { shift.everSet = true; sendAvailability(); });
    $('capacity').addEventListener('change', function () { shift.everSet = true; sendAvailability(); });
    document.addEventListener('visibilitychange', backInView);
    window.addEventListener('focus', backInView);
    setInterval(renderQueue, 1000); // the longest wait keeps growing between pushes

    fetch('/api/me', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { if (r.ok) startSession(); else showLogin(''); })
      .catch(function () { showLogin('Cannot reach the server.'); });
  }

  // console-tools.js and console-lead.js (deferred, after this file) add
  // their hooks before the socket opens.
  if (document.readyState === 'complete') init();
  else document.addEventListener('DOMContentLoaded', init);
})();
