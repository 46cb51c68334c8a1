// Matchday Live: one EventSource for the chosen match, a scoreboard and a ticker.
// No framework, nothing loaded from outside this server.
(function () {
  "use strict";

  var EVENTS = {
    football: ["score_update", "red_card", "match_end", "announcement"],
    cricket: ["wicket", "boundary", "over_complete", "announcement"]
  };
  var params = new URLSearchParams(location.search);
  var token = params.get("token");

  var state = {
    sport: "football",
    match: null,   // id of the chosen match
    board: null,   // its state, same shape as in /matches
    es: null,
    matches: { football: [], cricket: [] },
    ticks: 0
  };

  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- helpers --------------------------------------------------------------------------
  function sidesOf(id) {
    var at = id.indexOf("-vs-");
    if (at < 0) return [id.toUpperCase(), ""];
    return [id.slice(0, at).toUpperCase(), id.slice(at + 4).toUpperCase()];
  }
  function initials(name) {
    var words = name.split(/\s+/).filter(Boolean);
    if (words.length > 1) return (words[0][0] + words[1][0]).toUpperCase();
    return name.slice(0, 3).toUpperCase();
  }
  function colour(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) % 360;
    return "linear-gradient(135deg, hsl(" + h + ",70%,48%), hsl(" + ((h + 40) % 360) + ",70%,34%))";
  }
  function crest(node, name, small) {
    node.textContent = small ? initials(name).slice(0, 2) : initials(name);
    node.style.background = colour(name);
  }
  function fresh(sport, id) {
    var sides = sidesOf(id);
    var m = { id: id, home: sides[0], away: sides[1], status: "live", recent: [] };
    if (sport === "football") { m.homeScore = 0; m.awayScore = 0; m.minute = 0; m.redCards = 0; }
    else { m.runs = 0; m.wickets = 0; m.overs = 0; m.overRuns = 0; }
    return m;
  }
  function homeName(m) { return m.home || sidesOf(m.id)[0]; }
  function awayName(m) { return m.away || sidesOf(m.id)[1]; }
  function now() {
    var d = new Date();
    return d.toTimeString().slice(0, 8);
  }
  function cricketScore(m) { return (m.runs + m.overRuns) + "/" + m.wickets; }

  // Applies one event to a match state, by the same rules as the server's /matches.
  function apply(sport, m, name, d) {
    if (name === "score_update") {
      m.homeScore = d.homeScore; m.awayScore = d.awayScore; m.minute = d.minute;
      if (m.status === "finished") m.redCards = 0;
      m.status = "live";
    } else if (name === "red_card") {
      m.redCards = (m.redCards || 0) + 1; m.minute = d.minute;
    } else if (name === "match_end") {
      m.status = "finished";
    } else if (name === "wicket") {
      if (d.totalWickets < m.wickets) { m.runs = 0; m.overs = 0; m.overRuns = 0; delete m.batting; }
      m.wickets = d.totalWickets; m.batting = d.team;
    } else if (name === "boundary") {
      m.overRuns += d.runs;
    } else if (name === "over_complete") {
      if (d.oversPlayed < m.overs) { m.runs = 0; m.wickets = 0; delete m.batting; }
      m.overs = d.oversPlayed; m.runs += d.runsInOver; m.overRuns = 0;
    }
  }

  // ---- connection indicator --------------------------------------------------------------
  function setConn(s, label) {
    var c = $("conn-status");
    c.dataset.state = s;
    c.querySelector(".conn-label").textContent = label;
  }
  function toast(msg) {
    var t = $("toast");
    t.textContent = msg;
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 6000);
  }

  // ---- match list ------------------------------------------------------------------------
  function renderList() {
    var list = $("match-list");
    var items = state.matches[state.sport] || [];
    list.textContent = "";
    $("list-title").textContent = state.sport === "football" ? "Football" : "Cricket";
    $("list-count").textContent = items.length ? items.length + " matches" : "";
    $("list-empty").hidden = items.length > 0;
    items.forEach(function (m) {
      var li = el("li", "match" + (m.id === state.match ? " selected" : ""));
      li.dataset.match = m.id;
      li.tabIndex = 0;
      var rows = state.sport === "football"
        ? [[homeName(m), m.homeScore], [awayName(m), m.awayScore]]
        : [[homeName(m), m.batting === awayName(m) ? "" : cricketScore(m)],
           [awayName(m), m.batting === awayName(m) ? cricketScore(m) : ""]];
      rows.forEach(function (r) {
        var row = el("div", "match-row");
        var team = el("div", "match-team");
        var mini = el("span", "mini-crest");
        crest(mini, r[0], true);
        team.appendChild(mini);
        team.appendChild(el("span", "", r[0]));
        row.appendChild(team);
        row.appendChild(el("span", "match-score", String(r[1])));
        li.appendChild(row);
      });
      var meta = el("div", "match-meta");
      var live = m.status !== "finished";
      meta.appendChild(el("span", "badge " + (live ? "live" : "ft"), live ? "LIVE" : "FT"));
      meta.appendChild(el("span", "", state.sport === "football"
        ? (live ? m.minute + "'" : "Full time")
        : m.overs + " ov"));
      // Fans on this match's stream, on every node (GET /matches, refreshed every 5 s).
      if (typeof m.watching === "number")
        meta.appendChild(el("span", "watching", m.watching + " watching"));
      li.appendChild(meta);
      li.addEventListener("click", function () { select(state.sport, m.id); });
      li.addEventListener("keydown", function (e) { if (e.key === "Enter") select(state.sport, m.id); });
      list.appendChild(li);
    });
  }

  function keepInList(m) {
    var list = state.matches[state.sport];
    var i = list.findIndex(function (x) { return x.id === m.id; });
    if (i >= 0) list[i] = m; else list.push(m);
  }

  function loadMatches() {
    return fetch("/matches", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (all) {
        state.matches = { football: all.football || [], cricket: all.cricket || [] };
        // The chosen match's own state comes from its stream; keep it in the list too, with
        // the audience the server counts.
        if (state.board) {
          var fetched = state.matches[state.sport].find(function (x) { return x.id === state.board.id; });
          if (fetched) state.board.watching = fetched.watching;
          keepInList(state.board);
        }
        renderList();
        return all;
      })
      .catch(function () { /* the indicator tells about the stream; the list just waits */ });
  }

  // ---- scoreboard ------------------------------------------------------------------------
  function renderBoard(flash) {
    var m = state.board;
    if (!m) return;
    var sb = $("scoreboard");
    sb.hidden = false;
    sb.dataset.sport = state.sport;
    $("placeholder").hidden = true;
    $("ticker-wrap").hidden = false;
    $("name-home").textContent = homeName(m);
    $("name-away").textContent = awayName(m);
    crest($("crest-home"), homeName(m));
    crest($("crest-away"), awayName(m));
    var live = m.status !== "finished";
    var st = $("sb-status");
    st.className = "sb-status" + (live ? "" : " finished");
    var foot = $("sb-foot");
    foot.textContent = "";
    function chip(label, value) {
      var c = el("span", "chip", label + " ");
      c.appendChild(el("b", "", value));
      foot.appendChild(c);
    }
    var before = [$("score-home").textContent, $("score-away").textContent];
    $("extra-home").textContent = "";
    $("extra-away").textContent = "";
    if (state.sport === "football") {
      $("sb-comp").textContent = "Football \u00b7 " + m.id;
      st.textContent = live ? "Live \u00b7 " + m.minute + "'" : "Full time";
      $("score-home").textContent = m.homeScore;
      $("score-away").textContent = m.awayScore;
      chip("Minute", m.minute + "'");
      chip("Red cards", String(m.redCards || 0));
    } else {
      var battingAway = m.batting && m.batting === awayName(m);
      $("sb-comp").textContent = "Cricket \u00b7 T20 \u00b7 " + m.id;
      st.textContent = live ? "Live" : "Stumps";
      $("score-home").textContent = cricketScore(m);
      $("score-away").textContent = "";
      $(battingAway ? "extra-away" : "extra-home").textContent = "batting";
      var runs = m.runs + m.overRuns;
      chip("Overs", String(m.overs));
      chip("Run rate", m.overs ? (m.runs / m.overs).toFixed(2) : "\u2013");
      chip("This over", String(m.overRuns));
      chip("Total", String(runs));
    }
    if (state.sport === "football" && m.redCards) {
      // Red cards are per match in the feed; show them under the score line.
      foot.lastChild.insertBefore(el("span", "card-red"), foot.lastChild.firstChild);
    }
    if (flash) {
      ["score-home", "score-away"].forEach(function (id, i) {
        var n = $(id);
        if (n.textContent !== before[i]) {
          n.classList.remove("flash");
          void n.offsetWidth;
          n.classList.add("flash");
        }
      });
    }
  }

  // ---- ticker ----------------------------------------------------------------------------
  function describe(sport, m, name, d, prev) {
    switch (name) {
      case "score_update": {
        var goalHome = d.homeScore > prev.homeScore, goalAway = d.awayScore > prev.awayScore;
        if (goalHome || goalAway) {
          var who = goalHome && !goalAway ? homeName(m) : goalAway && !goalHome ? awayName(m) : null;
          return { icon: "goal", badge: "GOAL", when: d.minute + "'",
                   html: [["strong", who ? "Goal for " + who + "! " : "Score update: "],
                          ["", homeName(m) + " " + d.homeScore + "\u2013" + d.awayScore + " " + awayName(m)]] };
        }
        if (d.homeScore < prev.homeScore || d.awayScore < prev.awayScore || d.minute < prev.minute)
          return { icon: "end", badge: "KO", when: d.minute + "'",
                   html: [["strong", "Kick-off. "], ["", homeName(m) + " " + d.homeScore + "\u2013" + d.awayScore + " " + awayName(m)]] };
        return null; // a clock update: the scoreboard shows it
      }
      case "red_card":
        return { icon: "red", badge: "", when: d.minute + "'",
                 html: [["strong", "Red card: "], ["", d.player + " (" + d.team + ") is sent off."]] };
      case "match_end":
        return { icon: "end", badge: "FT", when: "FT",
                 html: [["strong", "Full time. "], ["", homeName(m) + " " + d.finalScore.replace("-", "\u2013") + " " + awayName(m)]] };
      case "wicket":
        return { icon: "wicket", badge: "W", when: m.overs + " ov",
                 html: [["strong", "WICKET! "], ["", d.player + " is out. " + d.team + " " + cricketScore(m)]] };
      case "boundary":
        return { icon: d.runs === 6 ? "six" : "four", badge: String(d.runs), when: m.overs + " ov",
                 html: [["strong", d.runs === 6 ? "SIX! " : "FOUR! "], ["", d.player + " finds the rope."]] };
      case "over_complete":
        return { icon: "over", badge: "OV", when: d.oversPlayed + " ov",
                 html: [["strong", "End of over " + d.oversPlayed + ": "], ["", d.runsInOver + " runs. Score " + cricketScore(m)]] };
      case "announcement":
        return { icon: "news", badge: "i", when: "", news: true, html: [["", d.message]] };
    }
    return null;
  }

  function addTick(item) {
    if (!item) return;
    var ticker = $("ticker");
    var empty = ticker.querySelector(".empty-tick");
    if (empty) empty.remove();
    var li = el("li", "tick" + (item.news ? " news" : ""));
    li.appendChild(el("span", "tick-when", item.when));
    li.appendChild(el("span", "tick-icon " + item.icon, item.badge));
    var text = el("span", "tick-text");
    item.html.forEach(function (p) { text.appendChild(p[0] ? el(p[0], "", p[1]) : document.createTextNode(p[1])); });
    li.appendChild(text);
    li.appendChild(el("span", "tick-time", item.time || now()));
    ticker.insertBefore(li, ticker.firstChild);
    while (ticker.children.length > 40) ticker.removeChild(ticker.lastChild);
    state.ticks++;
    $("ticker-count").textContent = state.ticks + " updates";
  }

  function resetTicker(m) {
    var ticker = $("ticker");
    ticker.textContent = "";
    state.ticks = 0;
    $("ticker-count").textContent = "";
    // Replay the recent events the server kept, oldest first, on a scratch state.
    var scratch = fresh(state.sport, m.id);
    scratch.home = m.home; scratch.away = m.away;
    (m.recent || []).forEach(function (r) {
      var prev = JSON.parse(JSON.stringify(scratch));
      apply(state.sport, scratch, r.event, r.data);
      var item = describe(state.sport, scratch, r.event, r.data, prev);
      if (item) { item.time = "earlier"; addTick(item); }
    });
    if (!ticker.children.length)
      ticker.appendChild(el("li", "tick empty-tick", "Waiting for the next event\u2026"));
  }

  // ---- the stream ------------------------------------------------------------------------
  function onEvent(name, e) {
    var d;
    try { d = JSON.parse(e.data); } catch (err) { return; }
    var m = state.board;
    if (!m) return;
    if (d.match !== undefined && d.match !== m.id) return; // a sport-wide event for another match
    var prev = JSON.parse(JSON.stringify(m));
    apply(state.sport, m, name, d);
    addTick(describe(state.sport, m, name, d, prev));
    renderBoard(true);
    keepInList(m);
    renderList();
  }

  function connect() {
    if (state.es) state.es.close();
    var url = "/stream/" + state.sport + "/" + encodeURIComponent(state.match) +
      (token ? "?token=" + encodeURIComponent(token) : "");
    var es = new EventSource(url);
    state.es = es;
    setConn("connecting", "Connecting\u2026");
    var opened = false;
    // Loads the match's full state from the server (first open, and when told to reset).
    function refetch() {
      var sport = state.sport, id = state.match;
      fetch("/matches", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (all) {
        if (es !== state.es) return;
        var found = (all[sport] || []).find(function (m) { return m.id === id; });
        if (found && state.board && found.updated > (state.board.updated || 0)) {
          state.board = found;
          renderBoard(true);
        }
      }).catch(function () {});
    }
    es.onopen = function () {
      if (es !== state.es) return;
      setConn("connected", "Live");
      // On a reconnect the browser sends Last-Event-ID and the server replays what we
      // missed, so the board stays exact without refetching (which could count twice).
      if (!opened) refetch();
      opened = true;
    };
    // The server could not replay the gap (too old, or a new server): refetch everything.
    es.addEventListener("reset", function () {
      if (es !== state.es) return;
      refetch();
    });
    es.onerror = function () {
      if (es !== state.es) return;
      if (es.readyState === EventSource.CLOSED) {
        setConn("offline", "Offline");
        toast(token ? "The server refused the stream (is the token right?)."
                    : "The server refused the stream. If it needs a token, open this page with ?token=\u2026");
      } else {
        setConn("reconnecting", "Reconnecting\u2026");
      }
    };
    EVENTS[state.sport].forEach(function (name) {
      es.addEventListener(name, function (e) { if (es === state.es) onEvent(name, e); });
    });
  }

  function select(sport, id) {
    if (sport !== state.sport) switchSport(sport, true);
    state.match = id;
    var known = (state.matches[sport] || []).find(function (m) { return m.id === id; });
    state.board = known ? JSON.parse(JSON.stringify(known)) : fresh(sport, id);
    history.replaceState(null, "", location.pathname + location.search + "#" + sport + "/" + encodeURIComponent(id));
    resetTicker(state.board);
    $("score-home").textContent = "";
    $("score-away").textContent = "";
    renderBoard(false);
    renderList();
    connect();
  }

  function switchSport(sport, keepStream) {
    state.sport = sport;
    document.querySelectorAll(".tab").forEach(function (t) {
      var on = t.dataset.sport === sport;
      t.classList.toggle("active", on);
      t.setAttribute("aria-selected", on ? "true" : "false");
    });
    if (!keepStream) {
      if (state.es) state.es.close();
      state.es = null;
      state.match = null;
      state.board = null;
      $("scoreboard").hidden = true;
      $("ticker-wrap").hidden = true;
      $("placeholder").hidden = false;
      setConn("idle", "Pick a match");
    }
    renderList();
  }

  document.querySelectorAll(".tab").forEach(function (t) {
    t.addEventListener("click", function () { if (t.dataset.sport !== state.sport) switchSport(t.dataset.sport, false); });
  });

  // Start: the sport and match from the address (#football/ars-vs-che), else the first match.
  var hash = decodeURIComponent(location.hash.slice(1)).split("/");
  switchSport(hash[0] === "cricket" ? "cricket" : "football", false);
  loadMatches().then(function () {
    if (hash.length === 2 && EVENTS[hash[0]]) select(hash[0], hash[1]);
  });
  setInterval(loadMatches, 5000);
})();
