"""The two stores behind `retrieval/store_protocol.py`: `embedded/` (a generation folder in the
data dir: SQLite, numpy, FAISS, BM25; no server) and `postgres/` (pgvector and full-text search in
a PostgreSQL database). `retrieval/backends.py` picks one from the settings."""
