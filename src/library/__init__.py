"""The music library: songs analysed once and asked many times.

Persistent state and an offline pipeline, between `model` (below) and `serving` (above, which
only reads it or asks it to index): settings (`library.settings`), the song-vector maths that
ranking, the library and training-free tools share (`library.ranking`), the store with its
schema versions (`library.store`: SQLite + a faiss vector index), scanning and planning
(`library.scan`), the indexer and its engines (`library.indexer`, `library.ray_engine`), and
queries returning plain results (`library.queries`, `library.search`). One library is analysed
by one model, and answers only in that model's terms.

Answering from stored vectors needs no torch: the modules a query imports (settings, ranking,
store, queries, search) load numpy, SQLite and faiss only; analysing audio (the indexer, a song
outside the library) loads the network.
"""
