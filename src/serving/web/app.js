// The web page over the service's own API: POST classify, recommend, similar, path; GET library/...
// Plain DOM, no framework, no network beyond this server. Text from the server is only ever set as
// text (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const percent = (p) => `${(100 * p).toFixed(1)}%`;
const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
const sorted = (probabilities) => Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
// "1 song", "2 songs"; the words may carry their verb: plural(n, "song matches", "songs match").
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
// A song as people know it: "Artist – Title" from a library song's tags, else its file name.
const songName = (song) => (song.artist && song.title ? `${song.artist} – ${song.title}` : song.file);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// One request; `onUpload(fraction)` while the body uploads, `onUpload(null)` once the server has it.
// Resolves (never rejects) with {ok, status, data}; data.error or data.detail holds the reason.
function send(method, url, body = null, onUpload = null) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    if (onUpload) {
      xhr.upload.onprogress = (e) => e.lengthComputable && onUpload(e.loaded / e.total);
      xhr.upload.onload = () => onUpload(null);
    }
    xhr.onload = () => {
      let data;
      try { data = JSON.parse(xhr.responseText); } catch { data = { error: xhr.responseText }; }
      resolve({ ok: xhr.status < 300, status: xhr.status, data });
    };
    xhr.onerror = () => resolve({ ok: false, status: 0, data: { error: "the server did not answer" } });
    xhr.send(body);
  });
}
// The APIs answer {"error": reason}, the library routes {"detail": reason} (serving.errors).
function reason(answer) {
  const text = answer.data && (answer.data.error || answer.data.detail);
  return typeof text === "string" ? text : `HTTP ${answer.status}`;
}

// What to know about the model behind an answer, as a warning; nothing when there is nothing to say.
const caveat = (answer) => (answer.caveat ? el("p", { class: "caveat" }, `Note: this model was ${answer.caveat}.`) : "");
// Which model made an answer (said discreetly), and its caveat.
const madeBy = (answer) => el("div", {}, caveat(answer), el("p", { class: "model" }, `Model: ${answer.model}`));

// A <progress> that follows an upload, then spins while the server analyses.
function uploadProgress(progress, state) {
  progress.value = 0;
  state.textContent = "uploading";
  return (done) => {
    if (done !== null) progress.value = done;
    else { progress.removeAttribute("value"); state.textContent = "analysing"; }
  };
}

// Views
const views = document.querySelectorAll("nav button");
function show(view) {
  for (const button of views) {
    button.setAttribute("aria-pressed", String(button.dataset.view === view));
    $(button.dataset.view).hidden = button.dataset.view !== view;
  }
  if (view === "library") loadLibrary();
}
for (const button of views) button.addEventListener("click", () => show(button.dataset.view));

// A drop zone is a <label class="drop"> around a file input: drop on it, or pick with the input.
function dropZone(input, onFiles) {
  const zone = input.closest(".drop");
  input.addEventListener("change", () => { onFiles([...input.files]); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles([...e.dataTransfer.files]);
  });
}

// Charts. Each label gets a colour the first time a distribution names it, in the model's label
// order (every distribution lists every label), so any label names work, spaces included.
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#d4b016", "#b07aa1", "#ff9da7", "#9c755f", "#6f6a68"];
const colours = new Map();
function learn(probabilities) {
  for (const genre of Object.keys(probabilities)) {
    if (!colours.has(genre)) colours.set(genre, PALETTE[colours.size % PALETTE.length]);
  }
}
const tint = (genre) => `--c: ${colours.get(genre) || "#999"}`;

// A model with tags (MSD-musicnn) answers a song's top tags; in the library each one searches.
function tagLine(tags, label = "Tags") {
  const entries = Object.entries(tags || {});
  if (entries.length === 0) return "";
  const searchable = !$("search-tag-label").hidden;
  return el("p", { class: "tags", "aria-label": label }, `${label}: `, ...entries.map(([tag, p]) => searchable
    ? el("button", { type: "button", title: `library songs tagged ${tag}`, onclick: () => searchTag(tag) }, `${tag} ${percent(p)}`)
    : el("span", {}, `${tag} ${percent(p)}; `)));
}

function bars(probabilities, label) {
  learn(probabilities);
  return el("ol", { class: "bars", "aria-label": label }, ...sorted(probabilities).map(([genre, p]) =>
    el("li", { style: tint(genre) }, el("span", {}, genre),
      el("span", { class: "bar", "aria-hidden": "true" }, el("span", { style: `width:${100 * p}%` })),
      el("span", { class: "pct" }, percent(p)))));
}

// Each window placed at its own time, coloured by its top genre; runs of one genre said in words.
function timeline(windows, duration) {
  const tops = windows.map((w) => sorted(w.probabilities)[0]);
  const runs = [];
  windows.forEach((w, i) => {
    const last = runs.at(-1);
    if (last && last.genre === tops[i][0]) last.end = w.end;
    else runs.push({ genre: tops[i][0], start: w.start, end: w.end });
  });
  const said = runs.map((r) => `${clock(r.start)}–${clock(r.end)} ${r.genre}`).join(", ");
  return el("figure", { class: "timeline" },
    el("figcaption", {}, `${plural(windows.length, "window")} over ${clock(duration)}: ${said}`),
    el("div", { class: "strip", "aria-hidden": "true" }, ...windows.map((w, i) => el("span", {
      title: `${clock(w.start)}–${clock(w.end)} ${tops[i][0]} ${percent(tops[i][1])}`,
      style: `${tint(tops[i][0])};left:${(100 * w.start) / duration}%;width:${(100 * (w.end - w.start)) / duration}%`,
    }))));
}

// Classify: every file its own request, two at a time; each card answers or says why not.
function limited(parallel) {
  const waiting = [];
  let active = 0;
  const next = () => {
    while (active < parallel && waiting.length) {
      active += 1;
      waiting.shift()().finally(() => { active -= 1; next(); });
    }
  };
  return (job) => { waiting.push(job); next(); };
}
const classifyQueue = limited(2);

function classify(file) {
  const state = el("span", { class: "state" }, "waiting");
  const progress = el("progress", { max: "1", "aria-label": `${file.name}: progress` });
  const card = el("li", { class: "song", "aria-busy": "true" }, el("h3", {}, file.name), state, progress);
  $("classify-results").append(card);
  classifyQueue(async () => {
    const form = new FormData();
    form.append("audio", file);
    const answer = await send("POST", "classify", form, uploadProgress(progress, state));
    progress.remove();
    card.removeAttribute("aria-busy");
    if (!answer.ok) {
      card.classList.add("failed");
      state.textContent = reason(answer);
      return;
    }
    const song = answer.data;
    state.textContent = `${song.genre}, ${clock(song.duration)}`;
    card.append(madeBy(song), tagLine(song.tags), bars(song.probabilities, `${file.name}: genres`),
      timeline(song.windows, song.duration));
    card.setAttribute("style", tint(song.genre));
  });
}
dropZone($("classify-files"), (files) => files.forEach(classify));

// Recommend: favourites and candidates are files or library songs ({file} or {id, name}).
const picks = { favorite: [], candidate: [] };
function pick(kind, item) {
  picks[kind].push(item);
  const name = item.file ? item.file.name : `${item.name} (library)`;
  const entry = el("li", {}, name, " ", el("button", {
    type: "button", "aria-label": `Remove ${name}`,
    onclick: () => { picks[kind].splice(picks[kind].indexOf(item), 1); entry.remove(); candidatesHint(); },
  }, "Remove"));
  $(`${kind}-list`).append(entry);
  candidatesHint();
}
// What gets ranked follows the candidates chosen: these, or without any the library's songs.
function candidatesHint() {
  const chosen = picks.candidate.length;
  $("candidate-hint").textContent = chosen === 0 ? "None chosen: the library's songs are ranked."
    : `${plural(chosen, "chosen candidate is", "chosen candidates are")} ranked, not the library's songs.`;
}
dropZone($("favorite-files"), (files) => files.forEach((file) => pick("favorite", { file })));
dropZone($("candidate-files"), (files) => files.forEach((file) => pick("candidate", { file })));

$("recommend-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData();
  for (const kind of ["favorite", "candidate"]) {
    const files = picks[kind].filter((item) => item.file);
    const ids = picks[kind].filter((item) => !item.file).map((item) => item.id);
    files.forEach((item) => form.append(`${kind}s`, item.file));
    // BentoML keeps one value of a repeated text field: several ids travel as one JSON list.
    if (ids.length) form.append(`${kind}_ids`, JSON.stringify(ids));
  }
  form.append("top_k", $("top-k").value);
  const progress = $("recommend-progress");
  progress.hidden = false;
  const answer = await send("POST", "recommend", form, uploadProgress(progress, $("recommend-status")));
  progress.hidden = true;
  $("recommend-status").textContent = answer.ok ? "" : reason(answer);
  $("recommend-result").replaceChildren(answer.ok ? recommendations(answer.data) : "");
});

function recommendations(data) {
  return el("div", { class: "result" }, madeBy(data),
    el("p", { class: "favourite" }, "Favourite genre: ", el("strong", {}, data.favorite_genre)),
    favouriteVersusProfile(data), tagLine(data.taste_tags, "Favourite tags"),
    el("h3", {}, "Taste profile"), bars(data.taste_profile, "Taste profile"),
    el("h3", {}, "Recommendations, best first"), ranked(data.recommendations), unused(data.errors));
}

// The favourite genre counts top genres, the profile averages whole distributions: where they
// disagree, say why.
function favouriteVersusProfile({ favorite_genre: genre, taste_profile: profile, favorites }) {
  const leading = sorted(profile)[0][0];
  if (leading === genre) return "";
  const votes = favorites.filter((song) => song.genre === genre).length;
  return el("p", { class: "explain" }, `It is the top genre of ${votes} of your ${plural(favorites.length, "favourite")}, `
    + `more than any other genre. The taste profile below is their average genre distribution: ${leading} leads it, `
    + `as the favourites together hold more ${leading} than ${genre}.`);
}

function ranked(list, playlist = "recommendations.m3u8") {
  const entry = (r) => {
    learn(r.probabilities);
    return el("li", { style: tint(r.genre) }, el("strong", {}, songName(r)), ` ${r.genre}, score ${r.score.toFixed(3)}`,
      r.reason ? el("p", { class: "reason" }, r.reason) : "", tagLine(r.tags), r.id === null ? "" : actions({ id: r.id, name: songName(r) }));
  };
  return el("div", {}, el("ol", { class: "ranked" }, ...list.map(entry)),
    el("button", { type: "button", onclick: () => download(list, playlist) }, "Download playlist (M3U8)"));
}

function unused(errors) {
  return errors.length === 0 ? "" : el("ul", { class: "errors", "aria-label": "Files not used" },
    ...errors.map((e) => el("li", { class: "failed" }, e.error)));
}

// An M3U8 of the ranked songs: library songs by their audio address here, uploads by file name.
function download(list, name) {
  const lines = ["#EXTM3U"];
  for (const r of list) {
    lines.push(`#EXTINF:-1,${songName(r)}`, r.id === null ? r.file : new URL(`library/audio?song_id=${r.id}`, document.baseURI).href);
  }
  const link = el("a", { href: URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "audio/x-mpegurl" })),
    download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// Library: status, search, a song's bars, similar songs, song paths, playing a song by its id.
async function loadLibrary() {
  const answer = await send("GET", "library/");
  const status = $("library-status");
  if (!answer.ok || !answer.data.answering || answer.data.songs === 0) {
    status.textContent = !answer.ok ? reason(answer) : answer.data.problem
      || "No library indexed: run python -m serving index MUSIC_DIR, then come back.";
    return;
  }
  const { songs, model, indexed_at: at, failures, tags } = answer.data;
  $("tag-list").replaceChildren(...tags.map((tag) => el("option", { value: tag })));
  $("search-tag-label").hidden = tags.length === 0;
  status.replaceChildren(`${plural(songs, "song")}, analysed with ${model}, indexed ${new Date(at * 1000).toLocaleString()}.`,
    caveat(answer.data), failures.length === 0 ? "" : el("details", {},
      el("summary", {}, `${plural(failures.length, "file")} could not be analysed`),
      el("ul", {}, ...failures.map((f) => el("li", {}, `${f.file}: ${f.reason}`)))));
  if (!$("library-results").hasChildNodes()) search();
}

// A search lists its first page; "Show more" adds the next page of the same search.
let searched = "";
async function search(more = false) {
  const list = $("library-results");
  const tag = $("search-tag").value.trim();
  const query = more ? searched : `q=${encodeURIComponent($("search").value)}${tag ? `&tag=${encodeURIComponent(tag)}` : ""}`;
  const offset = more ? list.children.length : 0;
  $("more").disabled = true;
  const answer = await send("GET", `library/songs?${query}&offset=${offset}`);
  $("more").disabled = false;
  if (!answer.ok) { $("search-count").textContent = reason(answer); return; }
  const { total, songs } = answer.data;
  searched = query;
  if (!more) list.replaceChildren();
  list.append(...songs.map(librarySong));
  const shown = list.children.length;
  $("search-count").textContent = plural(total, "song matches", "songs match") + (shown < total ? `; ${shown} shown` : "");
  $("more").hidden = shown >= total;
  $("more").textContent = `Show more (${total - shown} left)`;
  if (more && songs.length) list.children[offset].querySelector("h3").focus();  // where the new page starts
}
$("search-form").addEventListener("submit", (e) => { e.preventDefault(); search(); });
function searchTag(tag) {
  $("search").value = "";
  $("search-tag").value = tag;
  show("library");
  search();
}
$("more").addEventListener("click", () => search(true));

function librarySong(song) {
  const name = songName(song);
  const top = sorted(song.probabilities).slice(0, 3).map(([g, p]) => `${g} ${percent(p)}`).join(", ");
  learn(song.probabilities);
  return el("li", { class: "song", style: tint(song.genre) }, el("h3", { tabindex: "-1" }, name),
    el("span", { class: "state" }, `${song.genre}${song.file_genre ? ` (written genre: ${song.file_genre})` : ""}, `
      + `${clock(song.duration)}${name === song.file ? "" : `, ${song.file}`}`),
    tagLine(song.tags), el("details", {}, el("summary", {}, `Genres: ${top}…`), bars(song.probabilities, `${name}: genres`)),
    actions({ id: song.id, name }));
}

// A song's buttons; what "Add" did is said beside the buttons that did it.
function actions(song) {
  const action = (text, run) => el("button", { type: "button", "aria-label": `${text}: ${song.name}`, onclick: run }, text);
  const said = el("span", { class: "said", role: "status" });
  return el("div", { class: "actions" },
    action("Play", () => play(song)),
    action("Similar songs", () => similar(song)),
    action("Add to favourites", () => { pick("favorite", song); said.textContent = "added to the favourites (Recommend)"; }),
    action("Add to candidates", () => { pick("candidate", song); said.textContent = "added to the candidates (Recommend)"; }),
    action("Path from here", () => { pathEnd("from", song); said.textContent = "the path starts here (Library: Song path)"; }),
    action("Path to here", () => { pathEnd("to", song); said.textContent = "the path ends here (Library: Song path)"; }),
    said);
}

function play(song) {
  const player = $("player");
  player.src = `library/audio?song_id=${song.id}`;
  $("player-box").hidden = false;
  $("now-playing").textContent = `Playing ${song.name}`;
  player.play().catch((e) => { $("now-playing").textContent = `Cannot play ${song.name}: ${e.message}`; });
}
$("player").addEventListener("error", (e) => {
  $("now-playing").textContent = `Cannot play this song: ${e.target.error ? e.target.error.message : "unknown error"}`;
});

async function similar(song) {
  show("library");
  const box = $("similar-result");
  box.replaceChildren(el("p", { role: "status" }, `Looking for songs like ${song.name}…`));
  const form = new FormData();
  form.append("song_id", song.id);
  libraryAnswer(box, await send("POST", "similar", form), `Songs like ${song.name}`, (data) => data.recommendations);
}

// A library answer in `box`: a heading (focused), the model and the songs of `songs(data)`; or why there is none.
function libraryAnswer(box, answer, title, songs, playlist) {
  const heading = el("h3", { tabindex: "-1" }, title);
  box.replaceChildren(answer.ok
    ? el("div", { class: "result" }, heading, madeBy(answer.data), ranked(songs(answer.data), playlist))
    : el("p", { class: "failed" }, reason(answer)));
  if (answer.ok) heading.focus();
}

// A song path: its ends are chosen on any song (Path from here, Path to here), then walked.
const pathEnds = { from: null, to: null };
function pathEnd(end, song) {
  pathEnds[end] = song;
  const { from, to } = pathEnds;
  $("path-ends").textContent = `From ${from ? from.name : "…"} to ${to ? to.name : "…"}`;
  $("path-go").disabled = !(from && to);
}
$("path-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const { from, to } = pathEnds;
  const box = $("path-result");
  box.replaceChildren(el("p", { role: "status" }, `Walking from ${from.name} to ${to.name}…`));
  const form = new FormData();
  form.append("from_id", from.id);
  form.append("to_id", to.id);
  form.append("steps", $("path-steps").value);
  libraryAnswer(box, await send("POST", "path", form), `From ${from.name} to ${to.name}`, (data) => data.songs, "path.m3u8");
});
