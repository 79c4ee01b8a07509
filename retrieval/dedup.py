"""Groups of near-identical sentences across articles (the same wire-agency sentence in several papers).

Each copy stays in the index (each article is a source); the group id lets answers say "reported
by 3 articles" instead of quoting the same sentence three times.
"""

from __future__ import annotations

import re
from collections import defaultdict

from retrieval.numbers import join_digit_groups
from retrieval.types import Sentence

_WORD = re.compile(r"\w+", re.UNICODE)
MIN_TOKENS = 6
JACCARD = 0.7
CONTAINMENT = 0.9
MAX_POSTING = 200  # tokens in more sentences than this are too common to find candidates with


def sentence_tokens(text: str) -> frozenset[str]:
    """Lower-cased words with digit groups joined ("1.500", "1500" and "1 500" match)."""
    text = join_digit_groups(text.lower())
    return frozenset(_WORD.findall(text))


def are_near_duplicates(a: frozenset[str], b: frozenset[str]) -> bool:
    if len(a) < MIN_TOKENS or len(b) < MIN_TOKENS:
        return False
    common = len(a & b)
    return common / len(a | b) >= JACCARD or common / min(len(a), len(b)) >= CONTAINMENT


def near_duplicate_groups(sentences: list[Sentence]) -> list[int | None]:
    """A group id per sentence (None when it has no near-duplicate in another article)."""
    return near_duplicate_groups_of([sentence_tokens(s.text) for s in sentences], [s.doc_id for s in sentences])


def near_duplicate_groups_of(tokens: list[frozenset[str]], doc_ids: list[str]) -> list[int | None]:
    """`near_duplicate_groups` from each sentence's `sentence_tokens` and article id (what an index
    build keeps of its sentences once they are written)."""
    postings: dict[str, list[int]] = defaultdict(list)
    for i, toks in enumerate(tokens):
        for tok in toks:
            postings[tok].append(i)
    parent = list(range(len(tokens)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, toks in enumerate(tokens):
        if len(toks) < MIN_TOKENS:
            continue
        overlap: dict[int, int] = defaultdict(int)
        for tok in toks:
            posting = postings[tok]
            if len(posting) <= MAX_POSTING:
                for j in posting:
                    if j > i:
                        overlap[j] += 1
        for j, count in overlap.items():
            if doc_ids[j] == doc_ids[i]:
                continue
            if count / min(len(toks), len(tokens[j]) or 1) < 0.5:
                continue
            if are_near_duplicates(toks, tokens[j]):
                parent[find(j)] = find(i)

    members: dict[int, set[str]] = defaultdict(set)
    for i, doc_id in enumerate(doc_ids):
        members[find(i)].add(doc_id)
    return [find(i) if len(members[find(i)]) > 1 else None for i in range(len(tokens))]
