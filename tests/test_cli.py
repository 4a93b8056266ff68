"""`python -m serving` with list files, on the packaged smoke model."""

import json

from conftest import run_module, shared_path
from data.synthetic import generate


def test_recommend_from_list_files_as_json_with_plots(packaged, tmp_path):
    generate(tmp_path / "songs", clips_per_genre=2, seed=321)
    (tmp_path / "list_example.txt").write_text(
        "# songs I like\nsongs/genres_original/metal/metal.00000.wav\n\nsongs/genres_original/metal/metal.00001.wav\nmissing.wav\n"
    )
    (tmp_path / "list_recommendation.txt").write_text(
        "\n".join(f"songs/genres_original/{g}/{g}.00001.wav" for g in ("classical", "metal", "hiphop")) + "\n"
    )
    plots = tmp_path / "plots"
    done = run_module(
        "serving", "recommend", "--favorites", str(tmp_path / "list_example.txt"),
        "--candidates", str(tmp_path / "list_recommendation.txt"), "--json", "--plots", str(plots),
        cwd=tmp_path, env=packaged,
    )
    result = json.loads(done.stdout)
    assert result["favorite_genre"] == "metal"
    assert [r["file"] for r in result["recommendations"]][0] == "metal.00001.wav"
    # the list's relative paths were read from the list file's folder
    assert {r["file"] for r in result["recommendations"]} == {"classical.00001.wav", "metal.00001.wav", "hiphop.00001.wav"}
    assert result["errors"][0]["file"].endswith("missing.wav") and "not found" in result["errors"][0]["error"]
    assert "missing.wav" in done.stderr
    pngs = sorted(p.name for p in plots.glob("*.png"))
    assert pngs == ["classical.00001.png", "hiphop.00001.png", "metal.00000.png", "metal.00001.png"]
    assert all((plots / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_classify_prints_a_table_and_reports_bad_files(packaged, tmp_path):
    ogg = shared_path("audio", "sad.ogg")
    (tmp_path / "bad.mp3").write_text("no music here")
    done = run_module("serving", "classify", str(ogg), str(tmp_path / "bad.mp3"), cwd=tmp_path, env=packaged)
    assert "sad.ogg" in done.stdout and "44.4" in done.stdout
    assert "bad.mp3" in done.stderr and "not a readable audio file" in done.stderr
    assert "answered by genre-crnn:" in done.stdout and "trained on generated tones" in done.stdout  # says who, and its caveat
    as_json = json.loads(run_module("serving", "classify", str(ogg), "--json", cwd=tmp_path, env=packaged).stdout)
    assert as_json["songs"][0]["file"] == "sad.ogg" and len(as_json["songs"][0]["probabilities"]) == 10
    assert as_json["model"].startswith("genre-crnn:") and as_json["songs"][0]["model"] == as_json["model"]
    assert "mean nothing for real songs" in as_json["caveat"]


def test_unknown_model_tag_says_what_to_do(packaged, tmp_path):
    done = run_module("serving", "--model", "nope:latest", "classify", "x.wav", cwd=tmp_path, env=packaged, check=False)
    assert done.returncode != 0 and done.stderr.startswith("error: no model nope:latest in the BentoML store")
    assert "python -m training.package" in done.stderr and "Traceback" not in done.stderr


def test_a_playlist_keeps_each_candidates_own_file_when_two_share_a_name(packaged, tmp_path):
    generate(tmp_path / "songs", clips_per_genre=2, seed=321)
    source = tmp_path / "songs" / "genres_original"
    for folder, genre in (("a", "jazz"), ("b", "metal")):  # two different songs, both called song.wav
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "song.wav").write_bytes((source / genre / f"{genre}.00001.wav").read_bytes())
    (tmp_path / "favourites.txt").write_text("songs/genres_original/jazz/jazz.00000.wav\n")
    (tmp_path / "candidates.txt").write_text("a/song.wav\nb/song.wav\n")
    run_module("serving", "recommend", "--favorites", str(tmp_path / "favourites.txt"), "--candidates",
               str(tmp_path / "candidates.txt"), "--playlist", str(tmp_path / "out.m3u8"), cwd=tmp_path, env=packaged)
    entries = (tmp_path / "out.m3u8").read_text().splitlines()[2::2]
    assert sorted(entries) == [str(tmp_path / "a" / "song.wav"), str(tmp_path / "b" / "song.wav")]
    assert entries[0] == str(tmp_path / "a" / "song.wav")  # the jazz one matches the jazz favourite
