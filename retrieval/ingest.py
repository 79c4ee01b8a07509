"""Read article files (.txt, .md, .html/.htm) into cleaned `Article`s, refusing what is not an article.

The cleaned text is the article's own lines joined by newlines; every offset used later indexes it.
Only regular files are read, and never more than the size limit allows (a FIFO or `/dev/zero`
behind a `.txt` name is skipped with its reason). An article's identity is its source path:
`assign_doc_ids` gives it the file stem as id, or the stem plus a hash of the path when another
article already holds that stem, so two files never overwrite each other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from retrieval.clean import clean_lines, strip_control_characters
from retrieval.errors import IngestError, UnsupportedFileError
from retrieval.language import detect_language
from retrieval.metadata import outlet_from_url, parse_date, read_header, title_from_line
from retrieval.types import Article

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
CLEANER_VERSION = "5"  # part of the content hash: a better cleaner re-indexes unchanged files
MIN_ARTICLE_CHARS = 80


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def display_path(path: Path | str) -> str:
    """A path as printable text: bytes that are not UTF-8 (kept by Python as surrogates) shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def iter_article_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Entries under `paths` that are not folders (recursively, sorted); hidden ones are left out.

    Special files (FIFOs, sockets, devices) are yielded too, so `read_article` can say why it skips them.
    """
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if not child.is_dir() and not any(part.startswith(".") for part in child.relative_to(path).parts):
                    yield child
        else:
            yield path


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):  # fmt: skip
        if test(mode):
            return kind
    return "not a regular file"


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, reading at most `max_bytes + 1` (sizes in `stat` can lie: /proc, devices).

    The file is opened non-blocking so a FIFO cannot hang the run, then checked to be a regular file.
    """
    name = display_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket (or a FIFO nobody writes to, on some systems)
            raise IngestError(f"{name}: skipped, not a regular file (a socket)") from e
        raise IngestError(f"{name}: cannot be read ({e.strerror or e})") from e
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise IngestError(f"{name}: skipped, not a regular file ({_file_kind(mode)})")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as e:
        raise IngestError(f"{name}: cannot be read ({e.strerror or e})") from e
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > max_bytes:
        raise IngestError(f"{name}: larger than the {max_bytes:,} byte limit")
    return raw


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
    """One file as a cleaned `Article` (id = file stem until `assign_doc_ids`); raises `IngestError` with the reason."""
    name = display_path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(f"{name}: unsupported file type {display_path(suffix) or '(none)'}; use .txt, .md or .html")
    if name != str(path):
        # The index stores paths as UTF-8 text; a name that is not UTF-8 could not be found again.
        raise IngestError(f"{name}: skipped, the file name is not valid UTF-8; rename the file to index it")
    raw = read_bounded(path, max_bytes)
    if not raw.strip():
        raise IngestError(f"{name}: file is empty")
    return parse_article(raw, doc_id=path.stem, source_path=name, suffix=suffix)


def parse_article(raw: bytes, doc_id: str, source_path: str, suffix: str) -> Article:
    """Turn a file's bytes into an `Article`; split from `read_article` so uploads need no file."""
    text = strip_control_characters(_decode(raw, source_path))
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
        raise IngestError(
            f"{source_path}: no article text left after cleaning ({len(body)} characters; "
            f"an article needs at least {MIN_ARTICLE_CHARS} characters of text)"
        )

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
        # Undated and never fetched (a file, an upload): the indexer dates it by the day it is indexed.
        date_source="published" if published else ("fetched" if header.fetched else None),
        fallback_date=None if published else header.fetched,
    )


def today_utc() -> str:
    """The ISO day an article is fetched or indexed on (UTC, so two machines agree on it)."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def dated_when_indexed(article: Article, today: str, first_indexed: str | None = None) -> Article:
    """`article`, dated by the day it is first indexed when its source gave no date and it was not fetched.

    `first_indexed` is the day the index already dated this article by (an earlier version of the
    same file): an edited file keeps it, so re-indexing never makes an old undated article look new.
    """
    if article.date_source is not None:
        return article
    return dataclasses.replace(article, date_source="indexed", fallback_date=first_indexed or today)


def first_indexed_day(article: Article | None) -> str | None:
    """The day `article` (as the index held it) was dated by being indexed, if it was."""
    return article.fallback_date if article is not None and article.date_source == "indexed" else None


def source_key(source_path: str) -> str:
    """What identifies an article: its source file's absolute path."""
    return os.path.abspath(source_path)


def assign_doc_ids(read: Iterable[Article], indexed: Mapping[str, Article]) -> dict[str, Article]:
    """Give each freshly read article its id, keyed by it; ids never collide.

    A file already in the index keeps its id: matched by source path, or, for a file that moved,
    by its stem and content. A new file gets its stem, or, when another file holds that id, the
    stem plus the first hex digits of a hash of its path (as many as make it unique). So the seeds
    keep ids like `000_aae4de4ea5fe19af`, and `a/same.txt` and `b/same.txt` with different texts
    become `same` and `same-1f3c9a2b`.
    """
    by_source = {source_key(a.source_path): doc_id for doc_id, a in indexed.items()}
    by_content = {(doc_id, a.content_hash): doc_id for doc_id, a in indexed.items()}
    taken = set(indexed)
    seen: set[str] = set()
    assigned: dict[str, Article] = {}
    for article in read:
        key = source_key(article.source_path)
        if key in seen:  # the same file named twice in one run
            continue
        seen.add(key)
        doc_id = by_source.get(key) or by_content.get((article.doc_id, article.content_hash))
        if doc_id is not None and doc_id in assigned:
            if assigned[doc_id].content_hash == article.content_hash:
                continue  # an identical copy of a file this run already read
            doc_id = None
        if doc_id is None:
            doc_id = article.doc_id
            digest = hashlib.sha256(os.fsencode(key)).hexdigest()
            width = 8
            while doc_id in taken:
                doc_id = f"{article.doc_id}-{digest[:width]}" if width <= len(digest) else f"{article.doc_id}-{len(taken)}"
                width += 4
        taken.add(doc_id)
        assigned[doc_id] = dataclasses.replace(article, doc_id=doc_id)
    return assigned
