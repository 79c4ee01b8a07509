"""The PostgreSQL store: articles, sentences and chunks in tables, searched inside the database."""
