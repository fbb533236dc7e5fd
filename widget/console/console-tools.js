/* chatd staff console: the adviser's tools beside each chat.
 *
 * Loaded after console.js (index.html); uses window.ChatdConsole only.
 *   - service search: GET /api/services?q=&category=&area= (the chat's
 *     area from `assigned`), each result with one-click "Send card"
 *     (`signpost`); triage suggestions stay above, in "Suggested services"
 *   - canned responses from /console/canned.json, inserted into the reply
 *   - Escalate (dialog: severity, note) -> `escalate`
 *   - Transfer (dialog: note) -> `transfer`; `transferred` closes the tab
 * Everything is built with textContent; no innerHTML.
 */
(function () {
  'use strict';

  var C = window.ChatdConsole;
  if (!C) return;
  var u = C.util, el = u.el;

  /* Errors carry `ref` but not the conversation: the last one we sent. */
  var last = { escalate: null, transfer: null, signpost: null };
  ['escalate', 'transfer', 'signpost'].forEach(function (r) { C.claimErrors(r); });

  var canned = null;          // [{title, text}] once loaded
  var cannedWaiters = [];

  function loadCanned() {
    fetch('/console/canned.json', { credentials: 'same-origin', cache: 'no-cache' })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) {
        canned = (Array.isArray(list) ? list : (list && Array.isArray(list.responses) ? list.responses : []))
          .filter(function (x) { return x && typeof x.text === 'string' && x.text; })
          .map(function (x) { return { title: String(x.title || x.text.slice(0, 40)), text: x.text }; });
      })
      .catch(function () { canned = []; })
      .then(function () { cannedWaiters.splice(0).forEach(function (fn) { fn(); }); });
  }

  function status(c, text) {
    c.toolStatus.textContent = text;
  }

  /* ---------------------------------------------------- dialogs */

  /* A modal <dialog>: focus goes to its first field, Escape or Cancel
   * closes it, and focus returns to the button that opened it. */
  function makeDialog(c, title, build, onSubmit) {
    var n = c.tab.id.replace('tab-', '');
    var titleId = 'dlg-' + title.toLowerCase().replace(/\W+/g, '-') + '-' + n;
    var dlg = el('dialog', { class: 'dialog', 'aria-labelledby': titleId });
    var form = el('form', { method: 'dialog', novalidate: true });
    var err = el('p', { class: 'error', role: 'alert' });
    var ok = el('button', { type: 'submit', class: 'btn btn-primary', text: title });
    var cancel = el('button', { type: 'button', class: 'btn btn-quiet', text: 'Cancel' });
    form.append(el('h3', { id: titleId, text: title + ' ' + c.label }));
    build(form, n);
    form.append(err, el('div', { class: 'dialog-actions' }, ok, cancel));
    dlg.appendChild(form);
    var opener = null;
    cancel.addEventListener('click', function () { dlg.close(); });
    dlg.addEventListener('close', function () { if (opener && opener.isConnected) opener.focus(); });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var msg = onSubmit();
      if (msg) { err.textContent = msg; return; }
      err.textContent = '';
      dlg.close();
    });
    document.body.appendChild(dlg);
    c.dialogs = (c.dialogs || []).concat(dlg);
    return {
      open: function (from) {
        opener = from;
        err.textContent = '';
        dlg.showModal();
        var first = form.querySelector('select, textarea, input');
        if (first) first.focus();
      }
    };
  }

  /* ---------------------------------------------------- the tools */

  C.addPanelTool(function (c, box) {
    var n = c.tab.id.replace('tab-', '');
    box.appendChild(el('h3', { text: 'Chat tools' }));

    // Actions on the chat: escalate, transfer.
    var escBtn = el('button', { type: 'button', class: 'btn btn-small', text: 'Escalate…' });
    var trBtn = el('button', { type: 'button', class: 'btn btn-small', text: 'Transfer…' });
    c.toolStatus = el('p', { class: 'muted tool-status', role: 'status' });
    box.append(el('div', { class: 'tool-actions' }, escBtn, trBtn), c.toolStatus);

    var sev, escNote;
    var esc = makeDialog(c, 'Escalate', function (form, n2) {
      sev = el('select', { id: 'esc-sev-' + n2 });
      [['medium', 'Medium'], ['high', 'High (alerts the lead)'], ['emergency', 'Emergency (alerts the lead)']].forEach(function (o) {
        sev.appendChild(el('option', { value: o[0], text: o[1] }));
      });
      sev.value = 'high';
      escNote = el('textarea', { id: 'esc-note-' + n2, rows: '3', maxlength: '1000' });
      form.append(el('p', { class: 'muted', text: 'Opens (or raises) this chat\'s safeguarding case and alerts every lead on shift.' }),
        el('div', { class: 'field' }, el('label', { for: 'esc-sev-' + n2, text: 'Severity' }), sev),
        el('div', { class: 'field' }, el('label', { for: 'esc-note-' + n2, text: 'Note for the lead (optional)' }), escNote));
    }, function () {
      var f = { type: 'escalate', conversation: c.id, severity: sev.value };
      if (escNote.value.trim()) f.note = escNote.value.trim();
      last.escalate = c.id;
      if (!C.send(f)) return 'Not connected. Try again when the console has reconnected.';
      status(c, 'Escalating…');
      escNote.value = '';
      return null;
    });
    escBtn.addEventListener('click', function () { esc.open(escBtn); });

    var trNote;
    var tr = makeDialog(c, 'Transfer', function (form, n2) {
      trNote = el('textarea', { id: 'tr-note-' + n2, rows: '3', maxlength: '1000' });
      form.append(el('p', { class: 'muted', text: 'The parent goes back to the front of the queue and is told why. The next adviser (not you) sees your note.' }),
        el('div', { class: 'field' }, el('label', { for: 'tr-note-' + n2, text: 'Note for your colleague' }), trNote));
    }, function () {
      var f = { type: 'transfer', conversation: c.id };
      if (trNote.value.trim()) f.note = trNote.value.trim();
      last.transfer = c.id;
      if (!C.send(f)) return 'Not connected. Try again when the console has reconnected.';
      status(c, 'Transferring…');
      return null;
    });
    trBtn.addEventListener('click', function () { tr.open(trBtn); });

    // Canned responses.
    var cannedSel = el('select', { id: 'canned-' + n });
    var insert = el('button', { type: 'button', class: 'btn btn-small', text: 'Insert into reply' });
    var cannedBox = el('div', { class: 'field tool' }, el('label', { for: 'canned-' + n, text: 'Canned response' }), cannedSel, ' ', insert);
    box.appendChild(cannedBox);
    function fillCanned() {
      cannedSel.replaceChildren(el('option', { value: '', text: canned.length ? 'Choose a response' : 'None configured' }));
      canned.forEach(function (r, i) { cannedSel.appendChild(el('option', { value: String(i), text: r.title })); });
    }
    if (canned) fillCanned(); else cannedWaiters.push(fillCanned);
    insert.addEventListener('click', function () {
      var r = canned && canned[parseInt(cannedSel.value, 10)];
      if (!r) { cannedSel.focus(); return; }
      var inp = c.input, s = inp.selectionStart, e = inp.selectionEnd, v = inp.value;
      if (typeof s !== 'number') { s = e = v.length; }
      inp.value = v.slice(0, s) + r.text + v.slice(e);
      inp.focus();
      inp.selectionStart = inp.selectionEnd = s + r.text.length;
    });

    // Service search.
    var q = el('input', { type: 'search', id: 'svc-q-' + n, autocomplete: 'off' });
    var cat = el('select', { id: 'svc-cat-' + n });
    cat.appendChild(el('option', { value: '', text: 'Any topic' }));
    u.CATEGORIES.forEach(function (k) { cat.appendChild(el('option', { value: k[0], text: k[1] })); });
    var area = el('input', { type: 'text', id: 'svc-area-' + n, autocomplete: 'off', size: '6', value: c.area || '' });
    var results = el('ul', { class: 'suggest svc-results', 'aria-label': 'Search results' });
    var resultNote = el('p', { class: 'muted', role: 'status' });
    var form = el('form', { class: 'svc-search', role: 'search', 'aria-label': 'Service search' },
      el('h4', { text: 'Find a service' }),
      el('div', { class: 'field' }, el('label', { for: 'svc-q-' + n, text: 'Words' }), q),
      el('div', { class: 'field' }, el('label', { for: 'svc-cat-' + n, text: 'Topic' }), cat),
      el('div', { class: 'field' }, el('label', { for: 'svc-area-' + n, text: 'Area (postcode district)' }), area),
      el('button', { type: 'submit', class: 'btn btn-small', text: 'Search' }), resultNote, results);
    box.appendChild(form);
    c.searchArea = area;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var p = new URLSearchParams();
      if (q.value.trim()) p.set('q', q.value.trim());
      if (cat.value) p.set('category', cat.value);
      if (area.value.trim()) p.set('area', area.value.trim().toUpperCase());
      resultNote.textContent = 'Searching…';
      fetch('/api/services?' + p.toString(), { credentials: 'same-origin' })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (body) {
          var list = body && Array.isArray(body.services) ? body.services : [];
          results.replaceChildren();
          list.slice(0, 20).forEach(function (svc) { results.appendChild(serviceRow(c, svc)); });
          resultNote.textContent = list.length ? list.length + ' found' + (list.length > 20 ? ', first 20 shown' : '') + '.' : 'No services found.';
        })
        .catch(function (err) { resultNote.textContent = 'Search failed (' + err.message + ').'; });
    });
  });

  /* A directory record with a one-click "Send card". */
  function serviceRow(c, svc) {
    var name = String(svc.name || svc.id || 'Service');
    var send = el('button', { type: 'button', class: 'btn btn-small', text: 'Send card', 'aria-label': 'Send the ' + name + ' card to the parent' });
    send.addEventListener('click', function () { sendCard(c, svc, send); });
    var open = svc.open_now === true ? 'Open now' : svc.open_now === false ? 'Closed now' : '';
    return el('li', null, el('strong', { text: name }),
      svc.phone ? el('span', { class: 'muted', text: ' ' + String(svc.phone) }) : null,
      open ? el('span', { class: 'open-now' + (svc.open_now ? '' : ' is-closed'), text: ' ' + open }) : null,
      ' ', send);
  }

  function sendCard(c, svc, btn) {
    if (c.ended) { status(c, 'The chat has ended; the card was not sent.'); return; }
    last.signpost = c.id;
    if (!C.send({ type: 'signpost', conversation: c.id, service: svc.id })) { status(c, 'Not connected; the card was not sent.'); return; }
    btn.textContent = 'Sent';
    btn.disabled = true;
    status(c, 'Sending the ' + String(svc.name || svc.id) + ' card…');
  }

  /* The suggestions box (console.js) is built before this file loads;
   * its buttons send directly. Mark them sent as they are used. */
  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('[data-ext=signpost] button');
    if (!b) return;
    var panel = b.closest('.conv');
    var c = C.conversations().filter(function (x) { return x.panel === panel; })[0];
    if (!c) return;
    last.signpost = c.id;
    b.textContent = 'Sent';
    b.disabled = true;
    status(c, 'Card sent.');
  });

  /* ---------------------------------------------------- frames */

  C.onAssigned(function (c) {
    if (c.searchArea && !c.searchArea.value && c.area) c.searchArea.value = c.area;
  });

  C.on('signposted', function (f) {
    var c = C.conversation(f.conversation);
    if (c) status(c, 'Card sent.');
  });

  C.on('escalated', function (f) {
    var c = C.conversation(f.conversation);
    if (!c) return;
    c.caseStatus = f.status || 'open';
    status(c, 'Escalated: the lead has been alerted.');
    u.announce(c.label + ' escalated. The lead has been alerted.');
  });

  C.on('error', function (f) {
    var id = last[f.ref];
    var c = id && C.conversation(id);
    if (!c) return;
    var what = f.ref === 'escalate' ? 'Escalation' : f.ref === 'transfer' ? 'Transfer' : 'Card';
    status(c, what + ' failed: ' + (f.message || f.code));
    u.announce(what + ' failed: ' + (f.message || f.code));
  });

  C.on('wrapped', removeDialogs);
  C.on('transferred', removeDialogs);
  function removeDialogs() {
    // The tab is gone: drop its dialogs too.
    document.querySelectorAll('body > dialog.dialog').forEach(function (d) {
      var id = d.getAttribute('aria-labelledby').replace(/^dlg-[a-z-]+-/, '');
      if (!document.getElementById('tab-' + id)) d.remove();
    });
  }

  C.onReset(function () { document.querySelectorAll('body > dialog.dialog').forEach(function (d) { d.remove(); }); });

  loadCanned();
})();
