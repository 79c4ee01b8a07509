"""Sentences and chunks of an article, with offsets into its cleaned text.

A chunk is a window of whole sentences: `chunk_sentences` long, sharing `overlap` sentences with
the previous window, and never longer than `max_chars` unless a single sentence is.
"""

from __future__ import annotations

from retrieval.sentences import split_sentences
from retrieval.types import Article, Chunk, Sentence


def article_sentences(article: Article) -> list[Sentence]:
    return [
        Sentence(doc_id=article.doc_id, position=i, start=s, end=e, text=article.text[s:e])
        for i, (s, e) in enumerate(split_sentences(article.text))
    ]


def chunk_sentences(
    article: Article, sentences: list[Sentence], size: int = 4, overlap: int = 1, max_chars: int = 900
) -> list[Chunk]:
    """Windows of whole sentences; every chunk's text equals `article.text[start:end]`."""
    if overlap >= size:
        raise ValueError(f"chunk overlap ({overlap}) must be smaller than chunk size ({size})")
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        while (
            last + 1 < len(sentences)
            and last + 1 - first < size
            and sentences[last + 1].end - sentences[first].start <= max_chars
        ):
            last += 1
        start, end = sentences[first].start, sentences[last].end
        chunks.append(
            Chunk(
                doc_id=article.doc_id,
                position=len(chunks),
                start=start,
                end=end,
                text=article.text[start:end],
                first_sentence=first,
                last_sentence=last,
            )
        )
        if last == len(sentences) - 1:
            break
        first = max(first + 1, last + 1 - overlap)
    return chunks
