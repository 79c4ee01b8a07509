"""Read article files (.txt, .md, .html/.htm) into cleaned `Article`s, refusing what is not an article.

The cleaned text is the article's own lines joined by newlines; every offset used later indexes it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.clean import clean_lines
from retrieval.errors import IngestError, UnsupportedFileError
from retrieval.language import detect_language
from retrieval.metadata import outlet_from_url, parse_date, read_header, title_from_line
from retrieval.types import Article

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
CLEANER_VERSION = "3"  # part of the content hash: a better cleaner re-indexes unchanged files
MIN_ARTICLE_CHARS = 80


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def iter_article_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under `paths` (folders recursively, sorted); hidden files and folders are left out."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(part.startswith(".") for part in child.relative_to(path).parts):
                    yield child
        else:
            yield path


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(CLEANER_VERSION.encode() + b"\0" + raw).hexdigest()


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:4096]:
        raise IngestError(f"{name}: looks binary (NUL bytes), not a text article")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        # cp1252 decodes almost anything; refuse text that is mostly control characters.
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t")
        if controls > max(3, len(text) // 100):
            raise IngestError(f"{name}: looks binary (control characters), not a text article")
        return text.replace("\r\n", "\n").replace("\r", "\n")
    raise IngestError(f"{name}: cannot be decoded as UTF-8 or Windows-1252 text")


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)]*)\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(\S(?:.*?\S)?)\1")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")


def _markdown_to_lines(text: str) -> tuple[list[str], str | None]:
    """Plain lines of a Markdown article and its first link (the source URL, if any)."""
    first_url = None
    lines = []
    for line in text.split("\n"):
        for m in _MD_LINK.finditer(line):
            if first_url is None and m.group(2).startswith("http"):
                first_url = m.group(2)
        line = _MD_LINK.sub(lambda m: m.group(1), line)
        line = _MD_HEADING.sub("", line)
        line = _MD_EMPHASIS.sub(lambda m: m.group(2), line)
        lines.append(line)
    return lines, first_url


def _html_article(html: str, name: str) -> tuple[list[str], dict[str, str | None]]:
    import trafilatura

    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, include_tables=False)
    if doc is None:
        raise IngestError(f"{name}: no article text found in the HTML")
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    body = data.get("text") or ""
    if not body.strip():
        raise IngestError(f"{name}: no article text found in the HTML")
    meta = {
        "title": data.get("title"),
        "published": data.get("date"),
        "url": data.get("url"),
        "outlet": data.get("sitename"),
    }
    return body.split("\n"), meta


def read_article(path: Path, max_bytes: int = 5_000_000) -> Article:
    """One file as a cleaned `Article` (id = file stem); raises `IngestError` with the reason."""
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(f"{name}: unsupported file type {suffix or '(none)'}; use .txt, .md or .html")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"{name}: {size:,} bytes is larger than the {max_bytes:,} byte limit")
        raw = path.read_bytes()
    except OSError as e:
        raise IngestError(f"{name}: cannot be read ({e.strerror or e})") from e
    if not raw.strip():
        raise IngestError(f"{name}: file is empty")
    return parse_article(raw, doc_id=path.stem, source_path=name, suffix=suffix)


def parse_article(raw: bytes, doc_id: str, source_path: str, suffix: str) -> Article:
    """Turn a file's bytes into an `Article`; split from `read_article` so uploads need no file."""
    text = _decode(raw, source_path)
    meta: dict[str, str | None] = {}
    if suffix in (".html", ".htm"):
        lines, meta = _html_article(text, source_path)
    elif suffix in (".md", ".markdown"):
        lines, url = _markdown_to_lines(text)
        meta["url"] = url
    else:
        lines = text.split("\n")

    header = read_header(lines)
    body_lines = []
    for index, line in enumerate(lines):
        if index in header.metadata_lines:
            continue
        body_lines.append(title_from_line(line) if index == header.title_line else line)
    cleaned = clean_lines(body_lines)
    body = "\n".join(cleaned.kept)
    if len(body) < MIN_ARTICLE_CHARS:
        raise IngestError(f"{source_path}: no article text left after cleaning ({len(body)} characters)")

    url = meta.get("url") or header.url
    published = header.published
    if meta.get("published"):
        published = parse_date(str(meta["published"])) or str(meta["published"])
    title = meta.get("title") or header.title or cleaned.kept[0][:120]
    outlet = meta.get("outlet") or header.outlet or (outlet_from_url(url) if url else None)
    logger.debug("cleaned %s: kept %d lines, dropped %d", source_path, len(cleaned.kept), len(cleaned.dropped))
    return Article(
        doc_id=doc_id,
        title=title,
        text=body,
        content_hash=content_hash(raw),
        source_path=source_path,
        published=published,
        url=url,
        outlet=outlet,
        language=detect_language(body, default="de"),
    )
