"""Answer composition, above `retrieval/` and `models/`: extractive answers, figures, grounding, the
optional LLM answerer and its verifier, briefings and evaluation. Knows no front end."""
