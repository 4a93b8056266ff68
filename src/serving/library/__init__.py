"""A music library analysed once: its songs in SQLite, their vectors in a faiss index beside it,
kept up to date incrementally (`index`), answering similar-songs and recommendations (`query`)."""
