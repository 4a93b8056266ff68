"""The web page in a real browser: Playwright drives Debian's Chromium headless against a real
`bentoml serve` on 127.0.0.1 that holds an indexed library. Each view's screenshot is kept in
the run's temporary folder (pytest-of-$USER/pytest-current/page-screenshots/)."""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import re
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Page, expect

from conftest import bentoml_server, rows
from data.synthetic import SAMPLE_RATE, render_clip
from library.ranking import favourite_genre, taste_profile

ANSWER_MS = 180_000  # an analysis on a busy 2-core machine
METAL_COLOUR = re.compile("--c: #b07aa1")  # metal, the 7th of the model's labels, takes the 7th colour
PAGE = 8  # library songs per search page (search_results): the test library spans three pages
CAVEAT = "Note: this model was trained on generated tones"  # the smoke model's (data=synthetic)


@pytest.fixture(scope="module")
def server(packaged, indexed, tmp_path_factory):
    with bentoml_server(packaged, tmp_path_factory.mktemp("page"),
                        f"library:\n  path: {indexed}\n  search_results: {PAGE}\n") as client:
        yield client


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "page-screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def page(browser, server) -> Page:
    """The page at the server's root; afterwards, no script error and nothing asked of another host."""
    origin = str(server.base_url).rstrip("/")
    context = browser.new_context(base_url=origin, viewport={"width": 1000, "height": 900}, accept_downloads=True)
    page = context.new_page()
    script_errors, elsewhere = [], []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.on("request", lambda request: request.url.startswith((origin, "blob:")) or elsewhere.append(request.url))
    page.goto("/")
    yield page
    context.close()
    assert script_errors == [] and elsewhere == []


def transfer(page: Page, *paths: Path, extra: dict[str, bytes] | None = None):
    """A DataTransfer holding these files, as a file manager's drag carries them."""
    files = [(p.name, p.read_bytes()) for p in paths] + list((extra or {}).items())
    return page.evaluate_handle(
        """files => {
            const transfer = new DataTransfer();
            for (const f of files) {
                transfer.items.add(new File([Uint8Array.from(atob(f.data), c => c.charCodeAt(0))], f.name));
            }
            return transfer;
        }""",
        [{"name": name, "data": base64.b64encode(data).decode()} for name, data in files],
    )


def drop(page: Page, input_id: str, dragged) -> None:
    page.dispatch_event(f"label.drop:has(#{input_id})", "drop", {"dataTransfer": dragged})


def view(page: Page, name: str) -> None:
    page.click(f"nav button[data-view={name}]")


def genres_shown(bars) -> list[str]:
    return [row.split("\n")[0] for row in bars.locator("li").all_inner_texts()]


def library_names(indexed: Path) -> dict[str, str]:
    """{file name: the name the page shows}, in the library's order ("artist - title", else file name)."""
    songs = [(f"{artist} - {title}" if artist and title else Path(path).name, Path(path).name, artist, title)
             for path, artist, title in rows(indexed, "SELECT path, artist, title FROM songs")]
    return {file: f"{artist} – {title}" if artist and title else file
            for _, file, artist, title in sorted(songs, key=lambda song: song[0].casefold())}


def made_by_the_smoke_model(answer) -> None:
    """An answer names its model discreetly and says the smoke model's caveat."""
    expect(answer.locator(".model")).to_contain_text("Model: genre-crnn:")
    expect(answer.locator(".caveat")).to_contain_text(CAVEAT)


def add_from_library(page: Page, file: str, kind: str = "favourites") -> None:
    page.fill("#search", file)
    page.press("#search", "Enter")
    expect(page.locator("#search-count")).to_have_text("1 song matches")
    page.locator("#library-results > li").get_by_role("button", name=re.compile(f"^Add to {kind}: ")).click()


def test_the_page_is_served_at_the_root_small_and_beside_the_api(server, capsys):
    page = server.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="web/app.js"' in page.text and 'href="web/style.css"' in page.text
    weight = len(page.content) + sum(len(server.get(f"/web/{name}").content) for name in ("app.js", "style.css"))
    with capsys.disabled():
        print(f"\npage weight: {weight} bytes (index.html + app.js + style.css, uncompressed)")
    assert weight < 32_000
    assert server.get("/docs.json").json()["paths"]["/classify"]  # the service's own routes still answer
    assert server.get("/web/missing.js").status_code == 404


def test_dropped_songs_get_their_bars_and_a_broken_file_its_reason(page, unseen, shots):
    songs = [unseen / "jazz" / "jazz.00000.wav", unseen / "metal" / "metal.00000.wav"]
    drop(page, "classify-files", transfer(page, *songs, extra={"notes.mp3": b"this is a text file\n" * 40}))
    cards = page.locator("#classify-results > li")
    expect(cards).to_have_count(3)
    expect(page.locator("#classify-results > li[aria-busy]")).to_have_count(0, timeout=ANSWER_MS)
    for card, song in zip(cards.all(), songs):
        genre = song.parent.name
        expect(card.locator("h3")).to_have_text(song.name)
        bars = card.locator(".bars")
        assert genres_shown(bars)[0] == genre and len(genres_shown(bars)) == 10
        shares = [float(text.rstrip("%")) for text in bars.locator(".pct").all_inner_texts()]
        assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(100, abs=0.6)
        assert card.locator(".strip span").count() >= 10  # 3 s windows over 30 s
        expect(card.locator(".timeline figcaption")).to_contain_text("windows over 0:30: 0:00–")
        made_by_the_smoke_model(card)
    broken = cards.nth(2)
    expect(broken).to_have_class(re.compile("failed"))
    expect(broken.locator(".state")).to_contain_text("notes.mp3: not a readable audio file")
    assert broken.locator(".bars").count() == 0
    page.screenshot(path=shots / "classify.png", full_page=True)


def test_recommendations_rank_the_favourite_genre_first_and_download_as_a_playlist(page, unseen, shots):
    view(page, "recommend")
    drop(page, "favorite-files", transfer(page, unseen / "jazz" / "jazz.00000.wav", unseen / "jazz" / "jazz.00001.wav"))
    candidates = [unseen / g / f"{g}.00002.wav" for g in ("rock", "pop", "jazz", "classical", "blues", "country")]
    hint = page.locator("#candidate-hint")
    expect(hint).to_have_text("None chosen: the library's songs are ranked.")
    drop(page, "candidate-files", transfer(page, *candidates))
    expect(hint).to_have_text("6 chosen candidates are ranked, not the library's songs.")
    page.get_by_role("button", name="Remove country.00002.wav").click()
    expect(page.locator("#candidate-list li")).to_have_count(5)
    expect(hint).to_have_text("5 chosen candidates are ranked, not the library's songs.")  # the hint follows them
    page.fill("#top-k", "3")
    page.click("#recommend-form button[type=submit]")
    ranked = page.locator("#recommend-result .ranked > li")
    expect(ranked).to_have_count(3, timeout=ANSWER_MS)
    expect(page.locator("#recommend-result .favourite strong")).to_have_text("jazz")
    expect(page.locator("#recommend-progress")).to_be_hidden()
    made_by_the_smoke_model(page.locator("#recommend-result"))
    expect(page.locator("#recommend-result .explain")).to_have_count(0)  # jazz leads the profile too: nothing to explain
    assert genres_shown(page.locator("#recommend-result .bars"))[0] == "jazz"  # the taste profile
    expect(ranked.first.locator("strong")).to_have_text("jazz.00002.wav")
    expect(ranked.first.locator(".reason")).to_contain_text("jazz")
    expect(ranked.first.locator(".reason")).to_contain_text("your favourite genre")
    scores = [float(re.search(r"score (\d\.\d+)", text).group(1)) for text in ranked.all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    with page.expect_download() as download:
        page.click("#recommend-result button:text('Download playlist (M3U8)')")
    playlist = Path(download.value.path()).read_text().splitlines()
    assert download.value.suggested_filename == "recommendations.m3u8"
    assert playlist[:3] == ["#EXTM3U", "#EXTINF:-1,jazz.00002.wav", "jazz.00002.wav"] and len(playlist) == 7
    page.screenshot(path=shots / "recommend.png", full_page=True)


def test_library_search_similar_songs_and_playing_a_song(page, server, indexed, shots):
    view(page, "library")
    expect(page.locator("#library-status")).to_contain_text(f"{len(rows(indexed, 'SELECT id FROM songs'))} songs, analysed with genre-crnn:")
    expect(page.locator("#library-status .caveat")).to_contain_text(CAVEAT)
    page.fill("#search", "METAL")
    page.press("#search", "Enter")
    expect(page.locator("#search-count")).to_have_text("2 songs match")
    results = page.locator("#library-results > li")
    assert results.locator("h3").all_inner_texts() == ["metal.00000.wav", "metal.00001.wav"]
    song = results.first
    song.locator("summary").click()
    assert genres_shown(song.locator(".bars"))[0] == "metal"

    song.get_by_role("button", name="Similar songs: metal.00000.wav").click()
    similar = page.locator("#similar-result .ranked > li")
    expect(similar.first).to_have_attribute("style", METAL_COLOUR, timeout=ANSWER_MS)
    assert "metal.00000.wav" not in similar.locator("strong").all_inner_texts()  # not the song itself
    made_by_the_smoke_model(page.locator("#similar-result"))

    song.get_by_role("button", name="Play: metal.00000.wav").click()
    page.wait_for_function("() => { const a = document.getElementById('player'); return a.currentTime > 0.3 && !a.paused; }",
                           timeout=30_000)
    assert page.evaluate("document.getElementById('player').error") is None
    expect(page.locator("#now-playing")).to_have_text("Playing metal.00000.wav")
    page.screenshot(path=shots / "library.png", full_page=True)

    # a library song as the favourite, the library as candidates: its genre comes first
    song.get_by_role("button", name="Add to favourites: metal.00000.wav").click()
    expect(song.locator(".said")).to_have_text("added to the favourites (Recommend)")  # said where it was done
    view(page, "recommend")
    expect(page.locator("#favorite-list li")).to_have_text(["metal.00000.wav (library) Remove"])
    page.fill("#top-k", "100")  # every other library song, named as the Library view names it
    page.click("#recommend-form button[type=submit]")
    ranked = page.locator("#recommend-result .ranked > li")
    expect(ranked.first).to_have_attribute("style", METAL_COLOUR, timeout=ANSWER_MS)
    names = library_names(indexed)
    del names["metal.00000.wav"]
    assert sorted(ranked.locator("strong").all_inner_texts()) == sorted(names.values())
    with page.expect_download() as download:
        page.click("#recommend-result button:text('Download playlist (M3U8)')")
    playlist = Path(download.value.path()).read_text().splitlines()
    assert playlist[1] == f"#EXTINF:-1,{ranked.first.locator('strong').inner_text()}"
    address = playlist[2]
    assert re.fullmatch(rf"{re.escape(str(server.base_url).rstrip('/'))}/library/audio\?song_id=\d+", address)
    assert server.get(address).status_code == 200


def test_audio_is_served_only_for_library_songs_by_id(server, indexed):
    song_id, path = rows(indexed, "SELECT id, path FROM songs WHERE path LIKE '%.wav' LIMIT 1")[0]
    answer = server.get("/library/audio", params={"song_id": song_id, "path": "/etc/passwd"})  # `path` is ignored
    assert answer.status_code == 200 and answer.content == Path(path).read_bytes()
    assert answer.headers["content-type"] in {"audio/x-wav", "audio/wav"}
    unknown = max(i for (i,) in rows(indexed, "SELECT id FROM songs")) + 1
    host, port = server.base_url.host, server.base_url.port
    quoted = urllib.parse.quote(path, safe="")
    for target, status in ((f"/library/audio?song_id={unknown}", 404), ("/library/audio?song_id=-1", 404),
                           ("/library/audio?song_id=abc", 422), ("/library/audio", 422),
                           ("/library/audio?song_id=..%2F..%2F..%2Fetc%2Fpasswd", 422), (f"/library/audio?song_id={quoted}", 422),
                           (f"/library/audio/../../../../etc/passwd?song_id={song_id}", 404), (f"/library/audio{path}", 404),
                           ("/web/../service.py", 404), ("/web/..%2Fservice.py", 404), ("/web/../../../../../etc/passwd", 404)):
        connection = http.client.HTTPConnection(host, port, timeout=30)  # sends the path exactly as written
        connection.request("GET", target)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status == status, (target, response.status, body[:200])
        assert b"root:" not in body and b"bentoml" not in body


def test_library_songs_can_be_the_candidates(server, indexed):
    ids = {Path(path).name: song_id for song_id, path in rows(indexed, "SELECT id, path FROM songs")}
    answer = server.post("/recommend", data={  # several ids as one JSON list (one value per text field)
        "favorite_ids": ids["metal.00000.wav"], "candidate_ids": json.dumps([ids["jazz.00000.wav"], ids["metal.00001.wav"]])})
    assert answer.status_code == 200, answer.text
    assert [(r["file"], r["id"]) for r in answer.json()["recommendations"]] == [
        ("metal.00001.wav", ids["metal.00001.wav"]), ("jazz.00000.wav", ids["jazz.00000.wav"])]
    assert server.post("/recommend", data={"favorite_ids": [ids["metal.00000.wav"]], "candidate_ids": [999999]}).status_code == 404


def test_keyboard_labels_and_a_phone_wide_screen(page, unseen, shots):
    page.set_viewport_size({"width": 375, "height": 800})
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, button, audio, progress')]
        .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
                     && !c.getAttribute('aria-labelledby') && !c.textContent.trim())
        .map(c => c.outerHTML)""")
    assert unnamed == []
    page.keyboard.press("Tab")  # the first control: the Classify view's button
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Recommend
    expect(page.locator("#recommend")).to_be_visible()
    expect(page.locator("#classify")).to_be_hidden()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past Library, into the favourites' drop zone
    assert page.evaluate("document.activeElement.id") == "favorite-files"

    view(page, "classify")
    drop(page, "classify-files", transfer(page, unseen / "reggae" / "reggae.00000.wav"))
    expect(page.locator("#classify-results .bars")).to_have_count(1, timeout=ANSWER_MS)
    widths = {}
    for name in ("classify", "recommend", "library"):
        view(page, name)
        expect(page.locator(f"#{name}")).to_be_visible()
        if name == "library":
            expect(page.locator("#library-results > li")).to_have_count(PAGE)
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=shots / f"phone-{name}.png", full_page=True)
    assert widths == {"classify": 375, "recommend": 375, "library": 375}  # nothing wider than the screen


def test_time_from_dropping_a_four_minute_song_to_its_bars(page, server, tmp_path, capsys):
    song = tmp_path / "four-minutes.mp3"
    sf.write(song, render_clip("rock", 240.0, np.random.default_rng(4)), SAMPLE_RATE, format="MP3")
    started = time.perf_counter()
    direct = server.post("/classify", files=[("audio", (song.name, song.read_bytes()))])
    alone = time.perf_counter() - started
    assert direct.status_code == 200, direct.text
    # timed in the page: from the drop event to the frame in which the bars are in the document
    shown_ms = page.evaluate(
        """async ([zone, transfer]) => {
            const started = performance.now();
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
            if (!document.querySelector("#classify-results progress")) throw new Error("no progress shown");
            await new Promise(done => {
                const look = () => document.querySelector("#classify-results .bars") ? done() : requestAnimationFrame(look);
                look();
            });
            return performance.now() - started;
        }""",
        [page.query_selector("label.drop:has(#classify-files)"), transfer(page, song)],
    )
    bars = page.locator("#classify-results .bars")
    assert len(genres_shown(bars)) == 10 and genres_shown(bars)[0] == direct.json()["genre"]
    with capsys.disabled():
        print(f"\nfour-minute mp3 ({song.stat().st_size} bytes): dropped to bars in {shown_ms / 1000:.2f} s; "
              f"the same POST /classify alone {alone:.2f} s")


def test_labels_of_any_name_get_their_own_colours(page):
    """Fine-tuned labels may hold spaces: each still gets a colour of its own, in label order."""
    styles = page.evaluate("""() => [...bars({"lo fi": 0.6, "hard rock": 0.3, "blues": 0.1}, "x").children]
                                      .map((li) => li.getAttribute("style"))""")
    assert len(set(styles)) == 3 and not any("#999" in style for style in styles)


def test_the_library_pages_through_every_song_and_counts_in_words(page, server, indexed, shots):
    names = list(library_names(indexed).values())
    total = len(names)
    assert total > 2 * PAGE
    view(page, "library")
    count, more, listed = page.locator("#search-count"), page.locator("#more"), page.locator("#library-results > li")
    expect(count).to_have_text(f"{total} songs match; {PAGE} shown")
    for shown in range(PAGE, total, PAGE):
        expect(listed).to_have_count(shown)
        expect(more).to_have_text(f"Show more ({total - shown} left)")
        more.click()
        expect(listed.nth(shown).locator("h3")).to_be_focused()  # where the new page starts
    expect(count).to_have_text(f"{total} songs match")
    expect(more).to_be_hidden()
    assert listed.locator("h3").all_inner_texts() == names  # every song once, in the library's order
    page.screenshot(path=shots / "library-all.png", full_page=True)

    page.fill("#search", "metal.00000")
    page.press("#search", "Enter")
    expect(count).to_have_text("1 song matches")
    expect(listed).to_have_count(1)
    expect(more).to_be_hidden()
    caption = page.evaluate("timeline([{start: 0, end: 3, probabilities: {rock: 1}}], 3).textContent")
    assert caption.startswith("1 window over 0:03")

    # the route behind it: one page from `offset` on, with the total; documented
    answer = server.get("/library/songs", params={"offset": 2 * PAGE}).json()
    assert (answer["total"], answer["offset"], len(answer["songs"])) == (total, 2 * PAGE, min(PAGE, total - 2 * PAGE))
    assert [songs["file"] for songs in answer["songs"]] == list(library_names(indexed))[2 * PAGE:3 * PAGE]
    assert server.get("/library/songs", params={"offset": -1}).status_code == 422
    parameters = server.get("/docs.json").json()["paths"]["/library/songs"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {"q", "offset", "tag"}


def favourites_that_disagree(indexed: Path) -> list[str]:
    """Library songs (file names) whose most frequent top genre is not their mean distribution's top."""
    songs = [(Path(path).name, np.frombuffer(probabilities, np.float32))
             for path, probabilities in rows(indexed, "SELECT path, probabilities FROM songs")]
    for size in (3, 4, 5):
        for chosen in itertools.combinations(songs, size):
            probabilities = np.stack([p for _, p in chosen])
            if favourite_genre(probabilities) != taste_profile(probabilities).argmax():
                return [name for name, _ in chosen]
    pytest.fail("no favourites in the test library whose favourite genre differs from the profile's top")


def test_a_favourite_genre_that_does_not_lead_the_profile_is_explained(page, indexed, shots):
    favourites = favourites_that_disagree(indexed)
    view(page, "library")
    for file in favourites:
        add_from_library(page, file)
    view(page, "recommend")
    page.click("#recommend-form button[type=submit]")
    result = page.locator("#recommend-result")
    expect(result.locator(".ranked > li").first).to_be_visible(timeout=ANSWER_MS)
    genre = result.locator(".favourite strong").inner_text()
    leading = genres_shown(result.locator(".bars").first)[0]
    assert genre != leading
    expect(result.locator(".explain")).to_contain_text(re.compile(
        rf"^It is the top genre of \d of your {len(favourites)} favourites, more than any other genre\. "
        rf"The taste profile below is their average genre distribution: {leading} leads it"))
    page.screenshot(path=shots / "recommend-explained.png", full_page=True)
