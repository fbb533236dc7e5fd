/* chatd staff console: the lead view (welcome.role "lead" or "admin").
 *
 * Loaded after console.js (index.html); uses window.ChatdConsole only.
 *   - live alerts (`alert`), newest first: severity colour, categories,
 *     who escalated, an Observe button; a title notice (no sound)
 *   - a "Cases" tab: `cases` on open and after every alert / decided;
 *     each case with Observe, Read (`case`) and Decide
 *   - one read-only tab per observed chat (`observe` -> `observing`, then
 *     both sides' `msg`s): whisper box (`whisper`), Decide, Hold, Stop
 *     observing (`observe` {stop: true} -> `unobserved`)
 *   - the Decide dialog (`decide` -> `decided`), Hold toggle (`hold`)
 * Everything is built with textContent; no innerHTML.
 */
(function () {
  'use strict';

  var C = window.ChatdConsole;
  if (!C) return;
  var u = C.util, el = u.el;

  function $(id) { return document.getElementById(id); }
  function isLead() { var r = C.me().role; return r === 'lead' || r === 'admin'; }
  function shortId(id) { return String(id || '').slice(0, 8); }

  var cases = [];          // last `cases` list
  var caseDetail = {};     // conversation -> full case from `case`
  var obs = {};            // conversation -> observed chat
  var obsOrder = [];
  var obsNo = 0;
  var current = 'cases';   // selected lead tab: 'cases' or a conversation id
  var casesTab, casesPanel, casesList, casesNote;
  var built = false;
  var lastRef = {};        // ref -> conversation, for errors
  var readFocus = null;    // a Read pressed: its button keeps focus

  ['observe', 'whisper', 'decide', 'hold', 'cases', 'case'].forEach(function (r) { C.claimErrors(r); });

  /* ---------------------------------------------------- tabs */

  function build() {
    if (built) return;
    built = true;
    casesTab = el('button', { type: 'button', role: 'tab', id: 'lead-tab-cases', 'aria-controls': 'lead-panel-cases', 'aria-selected': 'true', class: 'tab', text: 'Cases' });
    casesTab.addEventListener('click', function () { select('cases', true); });
    casesTab.addEventListener('keydown', tabKeys);
    $('lead-tabs').appendChild(casesTab);
    var refresh = el('button', { type: 'button', class: 'btn btn-small', text: 'Refresh cases' });
    refresh.addEventListener('click', requestCases);
    casesNote = el('p', { class: 'muted', role: 'status' });
    casesList = el('ul', { class: 'cases', 'aria-label': 'Cases, open first' });
    casesPanel = el('div', { role: 'tabpanel', id: 'lead-panel-cases', 'aria-labelledby': 'lead-tab-cases', class: 'lead-panel' },
      el('div', { class: 'cases-head' }, el('h3', { text: 'Cases' }), refresh), casesNote, casesList);
    $('lead-panels').appendChild(casesPanel);
  }

  function tabIds() { return ['cases'].concat(obsOrder); }
  function tabOf(id) { return id === 'cases' ? casesTab : obs[id] && obs[id].tab; }

  function select(id, focus) {
    if (id !== 'cases' && !obs[id]) id = 'cases';
    current = id;
    tabIds().forEach(function (k) {
      var on = k === id, t = tabOf(k);
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      (k === 'cases' ? casesPanel : obs[k].panel).hidden = !on;
    });
    if (focus) tabOf(id).focus();
    if (id === 'cases') requestCases();
    else obs[id].log.scrollTop = obs[id].log.scrollHeight;
  }

  function tabKeys(e) {
    var ids = tabIds(), j = u.tabMove(e.key, ids.indexOf(current), ids.length);
    if (j < 0) return;
    e.preventDefault();
    select(ids[j], true);
  }

  /* ---------------------------------------------------- cases */

  function requestCases() {
    if (!built) return;
    if (C.send({ type: 'cases' })) casesNote.textContent = 'Loading cases…';
  }

  /* Re-rendering replaces the buttons: keep focus on the same one. */
  function renderCases() {
    var a = document.activeElement, keep = null;
    if (a && casesList.contains(a) && a.getAttribute('data-act')) {
      keep = [a.closest('li').getAttribute('data-conversation'), a.getAttribute('data-act')];
    }
    casesList.replaceChildren();
    cases.forEach(function (k) { casesList.appendChild(caseItem(k)); });
    var open = cases.filter(function (k) { return k.status === 'open'; }).length;
    casesNote.textContent = cases.length ? cases.length + ' cases, ' + open + ' open.' : 'No cases.';
    if (keep) focusIn(keep[0], keep[1]);
  }

  function caseItem(k) {
    var conv = String(k.conversation || '');
    var sev = k.severity || 'high';
    var li = el('li', { class: 'case sev-border-' + sev + (k.status === 'open' ? ' is-open' : '') });
    var head = el('p', { class: 'case-head' }, u.sevBadge(sev), ' ',
      el('strong', { text: 'Chat ' + shortId(conv) }), ' ',
      el('span', { class: 'pill', text: k.status === 'decided' ? 'Decided: ' + u.decisionLabel(k.decision) : 'Open' }));
    li.appendChild(head);
    var facts = [];
    if (Array.isArray(k.categories) && k.categories.length) facts.push(k.categories.map(u.catLabel).join(', '));
    if (k.adviser) facts.push('Adviser: ' + k.adviser);
    if (k.opened_by) facts.push(k.opened_by === 'triage' ? 'Opened by triage' : 'Escalated by ' + k.opened_by);
    if (k.opened_at) facts.push('Opened ' + fmtWhen(k.opened_at));
    if (k.state) facts.push('Chat: ' + k.state);
    li.appendChild(el('p', { class: 'muted', text: facts.join(' · ') }));
    if (k.note) li.appendChild(el('p', { class: 'pre', text: 'Note: ' + k.note }));
    var observeBtn = el('button', { type: 'button', class: 'btn btn-small', text: obs[conv] ? 'Go to observed chat' : 'Observe', 'aria-label': 'Observe chat ' + shortId(conv) });
    observeBtn.addEventListener('click', function () { observe(conv); });
    var readBtn = el('button', { type: 'button', class: 'btn btn-small', text: 'Read', 'aria-expanded': caseDetail[conv] ? 'true' : 'false', 'aria-label': 'Read case ' + shortId(conv) });
    readBtn.addEventListener('click', function () {
      if (caseDetail[conv]) { delete caseDetail[conv]; renderCases(); focusIn(conv, 'read'); return; }
      lastRef['case'] = conv;
      readFocus = conv;
      C.send({ type: 'case', conversation: conv });
    });
    var decideBtn = el('button', { type: 'button', class: 'btn btn-small', text: 'Decide…', 'aria-label': 'Decide on case ' + shortId(conv) });
    decideBtn.addEventListener('click', function () { decide.open(conv, decideBtn); });
    observeBtn.setAttribute('data-act', 'observe');
    readBtn.setAttribute('data-act', 'read');
    decideBtn.setAttribute('data-act', 'decide');
    li.setAttribute('data-conversation', conv);
    li.appendChild(el('p', { class: 'case-actions' }, observeBtn, ' ', readBtn, ' ', decideBtn));
    if (caseDetail[conv]) li.appendChild(caseDetails(caseDetail[conv]));
    return li;
  }

  function focusIn(conv, act) {
    var li = casesList.querySelector('li[data-conversation="' + CSS.escape(conv) + '"]');
    var b = li && li.querySelector('[data-act=' + act + ']');
    if (b) b.focus();
  }

  function fmtWhen(v) {
    var d = new Date(typeof v === 'number' ? v : String(v));
    if (isNaN(d)) return String(v);
    return d.toLocaleString('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  }

  function caseDetails(k) {
    var dl = el('dl', { class: 'case-detail' });
    function row(label, value) { if (value !== undefined && value !== null && value !== '') dl.append(el('dt', { text: label }), el('dd', { class: 'pre', text: String(value) })); }
    row('Status', k.status);
    row('Severity', u.SEVERITY_LABEL[k.severity] || k.severity);
    row('Categories', Array.isArray(k.categories) ? k.categories.map(u.catLabel).join(', ') : '');
    row('Adviser', k.adviser);
    row('Opened', k.opened_at ? fmtWhen(k.opened_at) + ' by ' + (k.opened_by || '?') : '');
    row('Escalation note', k.note);
    row('Decision', k.decision ? u.decisionLabel(k.decision) : '');
    row('Decision note', k.decision_note);
    row('Reference', k.reference);
    row('Decided', k.decided_at ? fmtWhen(k.decided_at) + ' by ' + (k.decided_by || '?') : '');
    row('Chat state', k.state);
    var box = el('div', { class: 'case-detail-box' }, dl, holdToggle(String(k.conversation), 'case'));
    return box;
  }

  /* ---------------------------------------------------- hold */

  var held = {}; // conversation -> bool (what the server last said)

  function holdToggle(conv, where) {
    var id = 'hold-' + where + '-' + conv.replace(/[^A-Za-z0-9_-]/g, '');
    var box = el('input', { type: 'checkbox', id: id, 'data-hold': conv });
    box.checked = !!held[conv];
    box.addEventListener('change', function () {
      lastRef.hold = conv;
      if (!C.send({ type: 'hold', conversation: conv, hold: box.checked })) box.checked = !box.checked;
    });
    return el('div', { class: 'check hold' }, box, el('label', { for: id, text: 'Hold: keep this transcript beyond the retention period' }));
  }

  /* ---------------------------------------------------- decide dialog */

  var decide = (function () {
    var dlg, form, sel, note, ref, err, title, conv = null, opener = null;
    function make() {
      dlg = el('dialog', { class: 'dialog', 'aria-labelledby': 'decide-title' });
      form = el('form', { method: 'dialog', novalidate: true });
      title = el('h3', { id: 'decide-title', text: 'Decide' });
      sel = el('select', { id: 'decide-decision', required: true });
      sel.appendChild(el('option', { value: '', text: 'Choose a decision' }));
      u.DECISIONS.forEach(function (d) { sel.appendChild(el('option', { value: d[0], text: d[1] })); });
      note = el('textarea', { id: 'decide-note', rows: '3', maxlength: '2000' });
      ref = el('input', { type: 'text', id: 'decide-ref', maxlength: '64', autocomplete: 'off' });
      err = el('p', { class: 'error', role: 'alert' });
      var ok = el('button', { type: 'submit', class: 'btn btn-primary', text: 'Record decision' });
      var cancel = el('button', { type: 'button', class: 'btn btn-quiet', text: 'Cancel' });
      form.append(title,
        el('p', { class: 'muted', text: 'Recorded on the case and in the audit log. The adviser is told.' }),
        el('div', { class: 'field' }, el('label', { for: 'decide-decision', text: 'Decision' }), sel),
        el('div', { class: 'field' }, el('label', { for: 'decide-note', text: 'Note (optional)' }), note),
        el('div', { class: 'field' }, el('label', { for: 'decide-ref', text: 'Reference (optional, e.g. a referral or CAD number)' }), ref),
        err, el('div', { class: 'dialog-actions' }, ok, cancel));
      dlg.appendChild(form);
      document.body.appendChild(dlg);
      cancel.addEventListener('click', function () { dlg.close(); });
      dlg.addEventListener('close', function () { if (opener && opener.isConnected) opener.focus(); });
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        if (!sel.value) { err.textContent = 'Choose a decision.'; sel.focus(); return; }
        var f = { type: 'decide', conversation: conv, decision: sel.value };
        if (note.value.trim()) f.note = note.value.trim();
        if (ref.value.trim()) f.reference = ref.value.trim();
        lastRef.decide = conv;
        if (!C.send(f)) { err.textContent = 'Not connected. Try again when the console has reconnected.'; return; }
        dlg.close();
      });
    }
    return {
      open: function (c, from) {
        if (!dlg) make();
        conv = c;
        opener = from;
        title.textContent = 'Decide on chat ' + shortId(c);
        sel.value = '';
        note.value = '';
        ref.value = '';
        err.textContent = '';
        dlg.showModal();
        sel.focus();
      }
    };
  })();

  /* ---------------------------------------------------- observing */

  function observe(conv) {
    if (!conv) return;
    if (obs[conv]) { select(conv, true); return; }
    lastRef.observe = conv;
    C.send({ type: 'observe', conversation: conv });
  }

  function addObserved(f) {
    var conv = String(f.conversation);
    obsNo++;
    var o = { id: conv, n: obsNo, bySeq: {}, severity: f.severity || 'none', adviser: String(f.adviser || ''), ended: false };
    var tabId = 'lead-tab-' + obsNo, panelId = 'lead-panel-' + obsNo;
    o.tab = el('button', { type: 'button', role: 'tab', id: tabId, 'aria-controls': panelId, 'aria-selected': 'false', tabindex: '-1', class: 'tab' });
    o.tab.addEventListener('click', function () { select(conv, true); });
    o.tab.addEventListener('keydown', tabKeys);
    $('lead-tabs').appendChild(o.tab);
    o.head = el('div', { class: 'conv-head' });
    o.log = el('ol', { class: 'log log-observe', 'aria-label': 'Messages in observed chat ' + shortId(conv) });
    o.endedEl = el('p', { class: 'ended-note', hidden: true });
    var wId = 'whisper-' + obsNo;
    o.whisperInput = el('textarea', { id: wId, rows: '2', maxlength: '4000' });
    var wSend = el('button', { type: 'submit', class: 'btn btn-primary', text: 'Whisper' });
    o.whisperForm = el('form', { class: 'composer whisper-form', novalidate: true },
      el('label', { for: wId, text: 'Whisper to the adviser (the parent never sees this)' }), o.whisperInput,
      el('div', { class: 'composer-actions' }, wSend));
    o.whisperForm.addEventListener('submit', function (e) {
      e.preventDefault();
      var text = o.whisperInput.value.trim();
      if (!text) return;
      lastRef.whisper = conv;
      if (C.send({ type: 'whisper', conversation: conv, text: text })) o.whisperInput.value = '';
    });
    o.whisperInput.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); o.whisperForm.requestSubmit(); }
    });
    var decideBtn = el('button', { type: 'button', class: 'btn btn-small', text: 'Decide…' });
    decideBtn.addEventListener('click', function () { decide.open(conv, decideBtn); });
    var stop = el('button', { type: 'button', class: 'btn btn-danger-quiet', text: 'Stop observing' });
    stop.addEventListener('click', function () { C.send({ type: 'observe', conversation: conv, stop: true }); });
    o.panel = el('div', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, class: 'lead-panel observe', hidden: true },
      el('div', { class: 'conv-main' }, o.head,
        el('p', { class: 'muted', text: 'Read-only: you see both sides as they write. Only the adviser sees your whispers.' }),
        o.log, o.endedEl, o.whisperForm,
        el('div', { class: 'observe-actions' }, decideBtn, ' ', stop, holdToggle(conv, 'obs'))));
    $('lead-panels').appendChild(o.panel);
    obs[conv] = o;
    obsOrder.push(conv);
    return o;
  }

  function renderObserved(o) {
    o.head.replaceChildren(el('h3', { text: 'Observing chat ' + shortId(o.id) }), u.sevBadge(o.severity),
      el('p', { class: 'facts', text: 'Adviser: ' + (o.adviser || 'none yet') }));
    o.tab.replaceChildren.apply(o.tab, u.kids([
      el('span', { class: 'dot sev-' + o.severity, 'aria-hidden': 'true' }),
      el('span', { text: 'Observing ' + shortId(o.id) }),
      o.ended ? el('span', { class: 'tab-ended', text: 'ended' }) : null]));
  }

  function addObservedMsg(o, f) {
    if (typeof f.seq !== 'number' || o.bySeq[f.seq]) return;
    var m = { seq: f.seq, from: f.from, text: String(f.text || ''), ts: f.ts, status: 'sent', triage: f.triage || null };
    if (f.type === 'signpost' || (f.service && typeof f.service === 'object')) { m.from = 'adviser'; m.service = f.service || {}; m.text = ''; }
    if (m.triage && m.triage.severity) o.severity = maxSev(o.severity, m.triage.severity);
    o.bySeq[f.seq] = m;
    var node = u.messageItem(m);
    // Keep seq order.
    var after = null;
    for (var i = o.log.children.length - 1; i >= 0; i--) {
      var s = Number(o.log.children[i].getAttribute('data-seq'));
      if (!s || s < m.seq) break;
      after = o.log.children[i];
    }
    o.log.insertBefore(node, after);
    if (!after) o.log.scrollTop = o.log.scrollHeight;
  }

  var SEV = ['none', 'low', 'medium', 'high', 'emergency'];
  function maxSev(a, b) { return SEV.indexOf(b) > SEV.indexOf(a) ? b : a; }

  function removeObserved(conv) {
    var o = obs[conv];
    if (!o) return;
    o.tab.remove();
    o.panel.remove();
    delete obs[conv];
    obsOrder.splice(obsOrder.indexOf(conv), 1);
    if (current === conv) select('cases', true);
  }

  /* ---------------------------------------------------- alerts */

  function addAlert(f) {
    var conv = String(f.conversation || '');
    var sev = f.severity || 'high';
    var mine = C.conversation(conv);
    var observeBtn = el('button', { type: 'button', class: 'btn btn-small', text: 'Observe', 'aria-label': 'Observe chat ' + shortId(conv) });
    observeBtn.addEventListener('click', function () { observe(conv); });
    var li = el('li', { class: 'alert sev-border-' + sev, 'data-conversation': conv },
      u.sevBadge(sev), ' ',
      el('span', { text: (mine ? mine.label : 'Chat ' + shortId(conv)) + ' · ' + u.fmtTime() }),
      el('span', { class: 'cats', text: (Array.isArray(f.categories) ? f.categories : []).map(u.catLabel).join(', ') || 'No categories' }),
      f.escalated_by ? el('span', { class: 'cats', text: 'Escalated by ' + f.escalated_by }) : el('span', { class: 'cats', text: 'Raised by triage' }),
      mine ? null : observeBtn);
    $('alerts').prepend(li);
    $('alerts-empty').hidden = true;
    $('alarm').textContent = 'Safeguarding alert: ' + (u.SEVERITY_LABEL[sev] || sev) + ', ' +
      ((f.categories || []).map(u.catLabel).join(', ') || 'no categories') + '.';
    u.notifyTitle(true, '\u26a0 Safeguarding alert');
  }

  /* ---------------------------------------------------- frames */

  C.on('welcome', function () {
    var lead = isLead();
    $('lead').hidden = !lead;
    $('leadview').hidden = !lead;
    if (!lead) return;
    build();
    requestCases();
    // After a reconnect: observe again what was observed.
    obsOrder.forEach(function (conv) { C.send({ type: 'observe', conversation: conv }); });
  });

  C.on('alert', function (f) {
    if (!isLead()) return;
    addAlert(f);
    requestCases();
  });

  C.on('cases', function (f) {
    if (!built) return;
    cases = Array.isArray(f.cases) ? f.cases : [];
    renderCases();
  });

  C.on('case', function (f) {
    if (!built || !f.case) return;
    var k = f.case, conv = String(k.conversation || lastRef['case'] || '');
    caseDetail[conv] = k;
    var found = false;
    cases = cases.map(function (x) { if (x.conversation === conv) { found = true; return k; } return x; });
    if (!found) cases.push(k);
    renderCases();
    if (readFocus === conv) { readFocus = null; focusIn(conv, 'read'); }
  });

  C.on('observing', function (f) {
    if (!built || !f.conversation) return;
    var o = obs[f.conversation], isNew = !o;
    if (isNew) o = addObserved(f);
    o.severity = maxSev(o.severity, f.severity || 'none');
    if (f.adviser) o.adviser = String(f.adviser);
    (Array.isArray(f.history) ? f.history : []).forEach(function (m) { addObservedMsg(o, m); });
    renderObserved(o);
    if (isNew) {
      select(f.conversation, true);
      u.announce('Observing chat ' + shortId(f.conversation) + '.');
    }
    renderCases();
  });

  C.on('msg', function (f) {
    var o = obs[f.conversation];
    if (!o) return;
    addObservedMsg(o, f);
    renderObserved(o);
    if (f.from === 'parent' || f.from === 'adviser') {
      if (current !== o.id) u.announce('Observed chat ' + shortId(o.id) + ': ' + f.from + ': ' + String(f.text || ''));
    }
  });

  C.on('signpost', function (f) {
    var o = obs[f.conversation];
    if (o) addObservedMsg(o, f);
  });

  C.on('whisper', function (f) {
    var o = obs[f.conversation];
    if (!o) return;
    var li = el('li', { class: 'msg msg-whisper' },
      el('p', { class: 'msg-head' }, el('span', { class: 'who', text: 'Whisper from ' + String(f.from || 'a lead') }), ' ',
        el('span', { class: 'time', text: u.fmtTime(f.ts) })),
      el('p', { class: 'text', text: String(f.text || '') }));
    o.log.appendChild(li);
    o.log.scrollTop = o.log.scrollHeight;
  });

  C.on('ended', function (f) {
    var o = obs[f.conversation];
    if (!o) return;
    o.ended = true;
    o.endedEl.textContent = f.reason === 'exit' ? 'The chat has ended: the parent left in a hurry (quick exit).'
      : f.reason === 'disconnected' ? 'The chat has ended: the parent disconnected.'
      : 'The chat has ended (by ' + (f.by || 'system') + ').';
    o.endedEl.hidden = false;
    renderObserved(o);
    u.announce('Observed chat ' + shortId(o.id) + ' has ended.');
  });

  C.on('parent_away', function (f) { var o = obs[f.conversation]; if (o) { o.endedEl.textContent = 'The parent is away (connection dropped).'; o.endedEl.hidden = false; } });
  C.on('parent_back', function (f) { var o = obs[f.conversation]; if (o && !o.ended) o.endedEl.hidden = true; });

  C.on('unobserved', function (f) {
    removeObserved(f.conversation);
    u.announce('Stopped observing chat ' + shortId(f.conversation) + '.');
    renderCases();
  });

  C.on('decided', function (f) {
    u.announce('Decision recorded for chat ' + shortId(f.conversation) + '.');
    if (built) casesNote.textContent = 'Decision recorded for chat ' + shortId(f.conversation) + '.';
    if (caseDetail[f.conversation]) C.send({ type: 'case', conversation: f.conversation });
    requestCases();
  });

  C.on('case_update', function (f) {
    var o = obs[f.conversation];
    if (o && f.status === 'decided') u.announce('Chat ' + shortId(o.id) + ': decision recorded (' + u.decisionLabel(f.decision) + ').');
  });

  C.on('held', function (f) {
    held[f.conversation] = !!f.hold;
    document.querySelectorAll('input[data-hold]').forEach(function (b) {
      if (b.getAttribute('data-hold') === f.conversation) b.checked = !!f.hold;
    });
    u.announce(f.hold ? 'Transcript held beyond retention.' : 'Hold released.');
  });

  C.on('error', function (f) {
    var known = { observe: 'Observe', whisper: 'Whisper', decide: 'Decision', hold: 'Hold', cases: 'Cases', 'case': 'Case' };
    if (!known[f.ref]) return;
    var text = known[f.ref] + ' failed: ' + (f.message || f.code);
    if (built) casesNote.textContent = text;
    var o = obs[lastRef[f.ref]];
    if (o && (f.ref === 'whisper' || f.ref === 'hold' || f.ref === 'decide')) { o.endedEl.textContent = text; o.endedEl.hidden = false; }
    u.announce(text);
  });

  C.onReset(function () {
    $('alerts').replaceChildren();
    $('alerts-empty').hidden = false;
    obsOrder.slice().forEach(function (k) { obs[k].tab.remove(); obs[k].panel.remove(); delete obs[k]; });
    obsOrder = [];
    cases = [];
    caseDetail = {};
    current = 'cases';
    if (built) { casesList.replaceChildren(); casesNote.textContent = ''; select('cases', false); }
    $('leadview').hidden = true;
  });
})();
