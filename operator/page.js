
'use strict';
// The operator page: a snapshot, then patches, over Server-Sent Events. The server decides every
// word shown; this only lays rows out, keeps them in place (so a row changes, it is not
// replaced), and counts the seconds between messages.
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { calls: new Map(), legs: new Map(), agents: new Map(), recent: [], recentMax: 20, counters: null,
    voicemails: [], recordings: [] };
  let offset = 0; // the server's clock minus ours, in ms

  const now = () => Date.now() + offset;
  const pad = (n) => String(n).padStart(2, '0');
  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + ':' + pad(m) : String(m)) + ':' + pad(s % 60);
  }
  function clock(ms) {
    const d = new Date(ms - offset);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  // setCell writes a cell only when it changes; a cell with since counts up every second.
  function setCell(cell, v) {
    if (v === null || v === undefined) v = '';
    if (typeof v !== 'object') v = { text: String(v) };
    if (v.since) {
      if (cell.dataset.since !== String(v.since)) cell.dataset.since = String(v.since);
      v.text = duration(now() - v.since);
    } else if (cell.dataset.since) {
      delete cell.dataset.since;
    }
    if (v.href) {
      let a = cell.firstElementChild;
      if (!a || a.tagName !== 'A') {
        cell.textContent = '';
        a = cell.appendChild(document.createElement('a'));
        a.rel = 'noreferrer';
      }
      if (a.getAttribute('href') !== v.href) a.setAttribute('href', v.href);
      if (a.textContent !== v.text) a.textContent = v.text;
    } else if (cell.textContent !== v.text) {
      cell.textContent = v.text;
    }
    if (v.cls && cell.className !== v.cls) cell.className = v.cls;
  }

  // render lays the rows out in order, reusing each key's row; the first cell is the row header.
  function render(id, rows, cells, attrs) {
    const tbody = $(id).tBodies[0];
    const have = new Map();
    for (const tr of tbody.rows) have.set(tr.dataset.key, tr);
    let prev = null;
    for (const row of rows) {
      let tr = have.get(row.key);
      const values = cells(row);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.key = row.key;
        values.forEach((_, i) => {
          const cell = document.createElement(i === 0 ? 'th' : 'td');
          if (i === 0) cell.scope = 'row';
          tr.appendChild(cell);
        });
      }
      have.delete(row.key);
      const a = attrs ? attrs(row) : {};
      for (const [k, v] of Object.entries(a)) {
        if (tr.dataset[k] !== v) tr.dataset[k] = v;
      }
      values.forEach((v, i) => setCell(tr.cells[i], v));
      const next = prev ? prev.nextSibling : tbody.firstChild;
      if (next !== tr) tbody.insertBefore(tr, next);
      prev = tr;
    }
    for (const tr of have.values()) tr.remove();
    const empty = $(id).parentElement.querySelector('.empty');
    if (empty) empty.hidden = rows.length > 0;
    return rows.length;
  }

  const dash = (s) => (s ? s : '—');
  const tries = (list) => (list && list.length ? list.join('; ') : '—');

  function renderCalls() {
    const rows = [...state.calls.values()].sort((a, b) => a.since - b.since);
    const n = render('calls', rows, (c) => [c.caller, dash(c.queue), { since: c.since }, { text: c.label, cls: 'st' }, tries(c.tries)],
      (c) => ({ status: c.status }));
    $('n-calls').textContent = n ? '(' + n + ')' : '';
  }
  function renderLegs() {
    const ended = (l) => (l.status === 'ended' ? 1 : 0);
    const rows = [...state.legs.values()].sort((a, b) => ended(a) - ended(b) || (ended(a) ? b.since - a.since : a.started - b.started));
    const live = rows.filter((l) => !ended(l)).length;
    render('legs', rows, (l) => [l.agent, l.number, dash(l.caller), { text: l.label, cls: 'st' }, dash(l.verdict), dash(l.outcome),
      ended(l) ? 'ended ' + clock(l.since) : { since: l.since }], (l) => ({ status: l.status }));
    $('n-legs').textContent = live ? '(' + live + ' live)' : '';
  }
  function renderAgents() {
    const rows = [...state.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
    render('agents', rows, (a) => [a.name, dash(a.activity), a.since ? { since: a.since } : '—', dash(a.leg),
      a.missed === null || a.missed === undefined ? '—' : String(a.missed)]);
  }
  function renderRecent() {
    render('recent', state.recent, (o) => [clock(o.at), o.caller, dash(o.queue), { text: o.label, cls: 'st' }, duration(o.waited), tries(o.tries)],
      (o) => ({ result: o.result }));
  }
  // A recording's link: only http(s) URLs (Twilio's), named by the end of the recording SID.
  const recording = (r) => (/^https?:\/\//.test(r.url) ? { text: 'listen (…' + r.key.slice(-6) + ')', href: r.url } : '—');
  const seconds = (n) => duration(n * 1000);
  function renderVoicemails() {
    render('voicemails', state.voicemails, (v) => [clock(v.at), v.caller, dash(v.department), seconds(v.seconds), dash(v.transcription), recording(v)]);
  }
  function renderRecordings() {
    render('recordings', state.recordings, (r) => [clock(r.at), dash(r.caller), dash(r.agent), seconds(r.seconds), String(r.channels), recording(r)]);
  }
  // newestFirst merges changed rows (newest last) into a newest-first list of at most max.
  function newestFirst(list, rows, max) {
    for (const r of rows) {
      const i = list.findIndex((x) => x.key === r.key);
      if (i >= 0) list[i] = r; else list.unshift(r);
    }
    return list.slice(0, max);
  }
  function renderCounters() {
    const c = state.counters;
    if (!c) return;
    $('day').textContent = '(' + c.day + ')';
    $('c-bridged').textContent = c.bridged;
    $('c-voicemail').textContent = c.voicemail;
    $('c-abandoned').textContent = c.abandoned;
    render('verdicts', c.verdicts.map((v) => ({ key: v.verdict, verdict: v.verdict, count: v.count })), (v) => [v.verdict, String(v.count)]);
  }

  function resetClock(serverNow) { offset = serverNow - Date.now(); }

  function onSnapshot(s) {
    resetClock(s.now);
    state.calls = new Map(s.calls.map((c) => [c.key, c]));
    state.legs = new Map(s.legs.map((l) => [l.key, l]));
    state.agents = new Map(s.agents.map((a) => [a.key, a]));
    state.recent = s.recent;
    state.recentMax = s.recentMax;
    state.counters = s.counters;
    state.voicemails = s.voicemails || [];
    state.recordings = s.recordings || [];
    renderCalls(); renderLegs(); renderAgents(); renderRecent(); renderCounters(); renderVoicemails(); renderRecordings();
  }

  function onPatch(p) {
    resetClock(p.now);
    const upsert = (map, rows, gone) => {
      for (const k of gone || []) map.delete(k);
      for (const r of rows || []) map.set(r.key, r);
      return (rows && rows.length) || (gone && gone.length);
    };
    if (upsert(state.calls, p.calls, p.callsGone)) renderCalls();
    if (upsert(state.legs, p.legs, p.legsGone)) renderLegs();
    if (upsert(state.agents, p.agents)) renderAgents();
    if (p.outcomes && p.outcomes.length) {
      for (const o of p.outcomes) state.recent.unshift(o);
      state.recent = state.recent.slice(0, state.recentMax);
      renderRecent();
      const o = p.outcomes[p.outcomes.length - 1];
      $('announce').textContent = 'Caller ' + o.caller + ': ' + o.label;
    }
    if (p.counters) { state.counters = p.counters; renderCounters(); }
    if (p.voicemails && p.voicemails.length) {
      state.voicemails = newestFirst(state.voicemails, p.voicemails, state.recentMax);
      renderVoicemails();
    }
    if (p.recordings && p.recordings.length) {
      state.recordings = newestFirst(state.recordings, p.recordings, state.recentMax);
      renderRecordings();
    }
  }

  function connection(kind, text) {
    const el = $('conn');
    el.dataset.state = kind;
    el.textContent = text;
  }

  const events = new EventSource('operator/events');
  events.addEventListener('snapshot', (e) => { onSnapshot(JSON.parse(e.data)); connection('live', 'Live'); });
  events.addEventListener('patch', (e) => onPatch(JSON.parse(e.data)));
  events.addEventListener('error', () => {
    if (events.readyState === EventSource.CLOSED) {
      connection('closed', 'Disconnected: reload the page (log in again if asked)');
    } else {
      connection('reconnecting', 'Reconnecting…');
    }
  });

  setInterval(() => {
    for (const cell of document.querySelectorAll('[data-since]')) {
      const text = duration(now() - Number(cell.dataset.since));
      if (cell.textContent !== text) cell.textContent = text;
    }
  }, 1000);
})();
