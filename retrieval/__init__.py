"""Ingest → clean → sentences → chunks → index → search. Imports `models/` and `config/`, nothing
above; knows nothing of answers or front ends."""
