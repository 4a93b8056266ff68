"""The library's vector index: exact up to `library.exact_up_to` songs, IVF above, rebuilt when
its settings change, and answering like the exact one (real SQLite file, real faiss)."""

import faiss
import numpy as np

from serving.config import load_config
from library.store import Library


def _library(folder, n: int, rng: np.random.Generator) -> Library:
    library = Library(folder)
    p = rng.dirichlet(np.ones(10), size=n).astype(np.float32)
    e = rng.normal(size=(n, 32)).astype(np.float32)
    library.write([{"path": f"/music/{i}.ogg", "content_hash": f"{i:064x}", "size": 1, "mtime_ns": 1, "duration": 240.0,
                    "title": None, "artist": None, "album": None, "genre": "rock", "probabilities": p[i].tobytes(),
                    "embedding": e[i].tobytes(), "tags": b"", "windows": 7, "analysed_at": 0.0} for i in range(n)],
                  [], [], [])
    return library


def test_above_the_exact_size_the_index_is_ivf_and_finds_what_the_exact_one_finds(tmp_path):
    settings = load_config().library
    library = _library(tmp_path / "library", 3000, np.random.default_rng(0))
    exact = library.load_vector_index(0.7, settings.model_copy(update={"exact_up_to": 3000}))
    assert not isinstance(exact, faiss.IndexIVF)
    clusters = round(3000**0.5)
    every_cluster = settings.model_copy(update={"exact_up_to": 2999, "probes": clusters})
    ivf = library.load_vector_index(0.7, every_cluster)  # the stamp says "made for 3000": rebuilt
    assert isinstance(ivf, faiss.IndexIVF) and ivf.nlist == clusters and ivf.nprobe == clusters
    queries = library.vectors(0.7)[1][:50]
    # searching every cluster, IVF is exact: the same songs in the same order
    np.testing.assert_array_equal(ivf.search(queries, 10)[1], exact.search(queries, 10)[1])
    reloaded = library.load_vector_index(0.7, settings.model_copy(update={"exact_up_to": 2999}))
    assert isinstance(reloaded, faiss.IndexIVF) and reloaded.nprobe == settings.probes  # read back, probes applied
    found = reloaded.search(queries, 10)[1]
    truth = exact.search(queries, 10)[1]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]) > 0.5
