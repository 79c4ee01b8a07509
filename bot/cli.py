"""The `newsbot` command line: a thin front end that parses options, calls the core and prints.

Exit codes: 0 ok, 1 failure (no index, corrupt index, nothing indexed, a quote not verbatim),
2 bad usage (bad question, unknown option or command).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from config.errors import SettingsError
from config.settings import Settings, load_settings

app = typer.Typer(
    name="newsbot",
    help="Answers questions over news articles with verbatim, attributed quotes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
err = Console(stderr=True)
logger = logging.getLogger("newsbot.cli")

EXIT_FAILURE = 1
EXIT_USAGE = 2


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "faiss", "sentence_transformers", "transformers", "bm25s", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress and timings to stderr.")] = False,
) -> None:
    setup_logging(verbose)


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    """Print `message` as one line (never wrapped, never read as markup) and return the exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    from retrieval.data_dir import check_data_dir
    from retrieval.errors import DataDirError

    try:
        settings = load_settings()
    except SettingsError as e:  # one line naming each unknown or invalid variable
        raise fail(f"invalid configuration: {e}", EXIT_USAGE) from e
    try:
        check_data_dir(settings.retrieval.data_dir)  # a file where the data folder should be
    except DataDirError as e:
        raise fail(str(e)) from e
    return settings


@contextlib.contextmanager
def data_dir_errors_explained(settings: Settings) -> Iterator[None]:
    """Turn a failure to write the data folder (full disk, read-only, a file in the way) into one line
    and exit 1; anything else propagates unchanged."""
    import sqlite3

    from retrieval.data_dir import storage_error

    try:
        yield
    except (OSError, sqlite3.Error, RuntimeError) as e:
        explained = storage_error(e, settings.retrieval.data_dir)
        if explained is None:
            raise
        raise fail(str(explained)) from e


def read_question(question: str | None) -> str:
    """The question from the argument, or from stdin when it is "-" or missing and stdin is piped.

    Bytes that are not UTF-8 end the command with exit 2 and a message (argv arrives with them as
    surrogates, which `validate_question` refuses; stdin is decoded here).
    """
    if question in (None, "-"):
        if sys.stdin is None or sys.stdin.isatty():
            raise fail("give a question as an argument or on stdin", EXIT_USAGE)
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            return sys.stdin.read()
        try:
            return stream.read().decode("utf-8")
        except UnicodeDecodeError as e:
            raise fail(f"the question on stdin is not valid UTF-8 text (byte {e.start}); send it as UTF-8", EXIT_USAGE) from e
    return question


SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Only articles published since then: a date (2024-10-20) or a duration back from now (24h, 7d, 2w)."),
]
UntilOption = Annotated[str | None, typer.Option("--until", help="Only articles published until then (a date or a duration, as --since).")]


def time_window_or_exit(since: str | None, until: str | None) -> Any:
    """The `TimeWindow` of --since/--until (None when neither is given); a bad value exits 2 with one line."""
    import datetime as dt

    from retrieval.time_window import TimeWindowError, window_from_options

    if since is None and until is None:
        return None
    try:
        return window_from_options(since, until, dt.datetime.now())
    except TimeWindowError as e:
        raise fail(str(e), EXIT_USAGE) from e


def ensure_index_with_progress(settings: Settings) -> None:
    from answers.answer import ensure_index
    from bot.progress import index_progress
    from retrieval.errors import IndexError_

    with index_progress(err) as progress, data_dir_errors_explained(settings):
        try:
            built = ensure_index(settings, progress=progress)
        except IndexError_ as e:
            raise fail(str(e)) from e
    if built:
        err.print(f"[dim]Indexed {settings.retrieval.seeds_dir}/ into {settings.index_dir}[/]")


@app.command()
def index(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files, folders (recursive) or http(s) links to article pages; default: seeds/."),
    ] = None,
    prune: Annotated[bool, typer.Option(help="Drop indexed articles whose files are gone.")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the report as JSON. Article ids (doc_id) are file stems; a file whose stem another "
            "file already holds gets the stem plus a hash of its path (same-1f3c9a2b). A file is known by its path.",
        ),
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Fail at once if another process is writing the index, instead of waiting.")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Ignore the current index and build a new one from PATHS only (last resort).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or progress lines.")] = False,
) -> None:
    """Index article files (.txt, .md, .html) and web pages; unchanged files are not embedded again, damage is repaired.

    A link is fetched (NEWSBOT_FETCH_TIMEOUT_S, NEWSBOT_MAX_FILE_BYTES), its article text extracted and kept
    under data/web/; a link that fails is skipped with its URL and cause in one line.
    Progress goes to stderr: a bar on a terminal, otherwise a line every few seconds."""
    from bot.progress import index_progress
    from models.embedders import load_embedder
    from models.errors import EmbeddingModelError
    from retrieval.backends import index_paths
    from retrieval.errors import IndexError_
    from retrieval.fetch import is_web_url
    from retrieval.web import fetch_articles

    settings = settings_or_exit()
    given = paths or [str(settings.retrieval.seeds_dir)]
    urls = [p for p in given if is_web_url(p)]
    targets = [Path(p) for p in given if not is_web_url(p)]
    looks_like_link = [p for p in targets if "://" in str(p) or str(p).startswith(("http:", "https:", "www."))]
    if looks_like_link:
        raise fail(f"not an http(s) link: {', '.join(map(str, looks_like_link))}; links start with http:// or https://", EXIT_USAGE)
    missing = [p for p in targets if not p.exists()]
    if missing:
        raise fail(f"no such file or folder: {', '.join(map(str, missing))}", EXIT_USAGE)
    fetched, fetch_failures = fetch_articles(urls, settings) if urls else ([], [])
    targets += fetched
    if not targets:
        for skipped in fetch_failures:
            err.print(f"[yellow]skipped[/] {escape(skipped.reason)}", highlight=False)
        raise fail("nothing could be indexed")
    try:
        embedder = load_embedder(settings)
    except EmbeddingModelError as e:
        raise fail(str(e)) from e
    with index_progress(err, quiet=quiet) as progress, data_dir_errors_explained(settings):
        try:
            report = index_paths(
                targets, settings, embedder=embedder, prune=prune, progress=progress, rebuild=rebuild, wait=not no_wait
            )
        except (IndexError_, EmbeddingModelError) as e:  # the model loads lazily, at the first text to embed
            raise fail(str(e)) from e
    report.skipped = fetch_failures + report.skipped
    for problem in report.repaired:
        err.print(f"[yellow]repaired[/] {escape(problem)}", highlight=False)
    for skipped in report.skipped:
        err.print(f"[yellow]skipped[/] {escape(skipped.reason)}", highlight=False)
    if as_json:
        console.print_json(
            data={
                "added": report.added,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "removed": report.removed,
                "repaired": report.repaired,
                "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
                "texts_embedded": report.texts_embedded,
                "chunks_encoded": report.chunks_encoded,
                "precision": report.precision,
                "sentence_vectors": report.sentence_vectors,
                "articles": report.total_articles,
                "chunks": report.total_chunks,
                "sentences": report.total_sentences,
                "seconds": round(report.seconds, 3),
            }
        )
    else:
        console.print(
            f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
            f"removed {len(report.removed)}, skipped {len(report.skipped)} — "
            f"{report.total_articles} articles, {report.total_chunks} chunks; "
            f"embedded {report.texts_embedded} texts in {report.embed_seconds:.1f}s"
            + (f" ({report.precision}, {report.sentence_vectors} sentence vectors)" if report.precision else ""),
            highlight=False,
        )
    if not report.indexed_anything:
        raise fail("nothing could be indexed")
    _prepare_answer_scorer(settings)


def _prepare_answer_scorer(settings: Settings) -> None:
    """The reader's one-time export, while torch is loaded for indexing anyway; a failure here only
    moves that work to the first question, so it is logged, not fatal."""
    from answers.scoring.choice import prepare_scorer
    from models.errors import EmbeddingModelError

    try:
        prepare_scorer(settings)
    except (EmbeddingModelError, OSError) as e:
        logging.getLogger(__name__).warning("the answer reader is not ready yet (%s); the first question prepares it", e)


@app.command()
def watch(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Watch config (TOML); default NEWSBOT_WATCH_CONFIG.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Poll every source once, index what is new, and exit.")] = False,
) -> None:
    """Follow feeds, sitemaps and folders (README, 'Following feeds'); index new articles in batches as they appear.

    Runs until Ctrl-C. A source that is down, malformed or slow is logged in one line and tried again later."""
    import threading

    from models.embedders import load_embedder
    from models.errors import EmbeddingModelError
    from retrieval.errors import IndexError_
    from retrieval.watch import Watcher
    from retrieval.watch_config import WatchConfigError, load_watch_config

    settings = settings_or_exit()
    path = config or settings.retrieval.watch_config
    if path is None:
        raise fail("no watch config: pass --config FILE or set NEWSBOT_WATCH_CONFIG (README, 'Following feeds')", EXIT_USAGE)
    try:
        watch_config = load_watch_config(path)
    except WatchConfigError as e:
        raise fail(str(e), EXIT_USAGE) from e
    try:
        embedder = load_embedder(settings)
    except EmbeddingModelError as e:
        raise fail(str(e)) from e
    # Failures are logged as warnings (one line each); with INFO, one summary line per poll that did something.
    logging.getLogger("retrieval.watch").setLevel(logging.INFO)
    watcher = Watcher(watch_config, settings, embedder=embedder)
    if once:
        try:
            report = watcher.poll_once(force=True)
        except IndexError_ as e:
            raise fail(str(e)) from e
        finally:
            watcher.close()
        console.print(
            f"fetched {report.fetched}, indexed {report.articles_new}, duplicates {len(report.duplicates)}, "
            f"failed pages {len(report.failed_pages)}, failed sources {len(report.failed_sources)}",
            highlight=False,
        )
        return
    stop = threading.Event()
    err.print(f"[dim]Watching {len(watcher.sources)} sources from {path}; Ctrl-C stops.[/]", highlight=False)
    try:
        watcher.run(stop)
    except KeyboardInterrupt:
        stop.set()
        watcher.close()


@app.command()
def migrate() -> None:
    """Copy the embedded index (in NEWSBOT_DATA_DIR) into the PostgreSQL database in NEWSBOT_DATABASE_URL,
    vectors included: nothing is embedded again. Articles already there unchanged are skipped."""
    from retrieval.errors import IndexError_
    from retrieval.stores.postgres.index import migrate_embedded

    settings = settings_or_exit()
    if settings.retrieval.database_url is None:
        raise fail("set NEWSBOT_DATABASE_URL=postgresql://... to the database to copy into", EXIT_USAGE)
    try:
        report = migrate_embedded(settings)
    except IndexError_ as e:
        raise fail(str(e)) from e
    console.print(
        f"copied {len(report.added)} new and {len(report.updated)} changed articles, {len(report.unchanged)} "
        f"already there — {report.total_articles} articles, {report.total_chunks} chunks in {report.seconds:.1f}s",
        highlight=False,
    )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="Number of passages.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as a JSON list.")] = False,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Show the passages that best match QUERY (hybrid BM25 + dense retrieval)."""
    from answers.answer import get_retriever, validate_question
    from answers.errors import QuestionError
    from retrieval.errors import IndexError_

    if mode not in ("hybrid", "dense", "lexical"):
        raise fail(f"unknown mode {mode!r}; use hybrid, dense or lexical", EXIT_USAGE)
    settings = settings_or_exit()
    window = time_window_or_exit(since, until)
    try:
        query = validate_question(query, settings.models.max_question_chars)
    except QuestionError as e:
        raise fail(str(e), EXIT_USAGE) from e
    ensure_index_with_progress(settings)
    try:
        result = get_retriever(settings).search(query, k=k, mode=mode, window=window)  # type: ignore[arg-type]
    except IndexError_ as e:
        raise fail(str(e)) from e
    if as_json:
        payload = [
            {
                "doc_id": hit.article.doc_id,
                "title": hit.article.title,
                "published": hit.article.published,
                "date_source": hit.article.date_source,  # "fetched"/"indexed": no publication date, `fallback_date` instead
                "fallback_date": hit.article.fallback_date,
                "url": hit.article.url,
                "text": hit.chunk.text,
                "start": hit.chunk.start,
                "end": hit.chunk.end,
                "scores": {"lexical": hit.lexical, "dense": hit.dense, "fused": hit.fused},
            }
            for hit in result.hits
        ]
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    from bot.render_terminal import render_hits

    render_hits(console, result.hits)


def answer_or_exit(question: str, settings: Settings, k: int | None = None, window: Any = None) -> Any:
    from answers.answer import answer
    from answers.errors import QuestionError, ScorerFileError
    from retrieval.errors import IndexError_

    try:
        return answer(question, settings, k=k, window=window)
    except QuestionError as e:
        raise fail(str(e), EXIT_USAGE) from e
    except (IndexError_, ScorerFileError) as e:
        raise fail(str(e)) from e


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question; '-' or none reads stdin.")] = None,
    k: Annotated[int | None, typer.Option("--k", "-k", min=1, max=100, help="Passages to read.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    since: SinceOption = None,
    until: UntilOption = None,
) -> None:
    """Answer QUESTION with verbatim quotes and their sources (builds the index on first use).

    A question that names a day ("on 24 October", "gestern") is answered from that day's articles."""
    from answers.scoring.preload import start_loading_scorer

    settings = settings_or_exit()
    start_loading_scorer(settings)  # the reader loads while the rest imports and the index loads
    from answers.answer import validate_question
    from answers.errors import QuestionError

    window = time_window_or_exit(since, until)
    text = read_question(question)
    try:
        validate_question(text, settings.models.max_question_chars)
    except QuestionError as e:
        raise fail(str(e), EXIT_USAGE) from e
    ensure_index_with_progress(settings)
    result = answer_or_exit(text, settings, k, window)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    from bot.render_terminal import render_answer

    render_answer(console, result)


@app.command()
def briefing(
    topic: Annotated[str | None, typer.Argument(help="Only what is about TOPIC; none: the whole collection.")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="What is new: articles ADDED to the collection since then, whenever they were published; a "
            "duration (24h, 3d, 90m) or a date (2026-12-06, 2026-12-06T07:30). For publication dates use "
            "--published-since."
        ),
    ] = None,
    published_since: Annotated[
        str | None,
        typer.Option(
            help="Only articles PUBLISHED since then, as `ask --since` takes it: a date (2024-10-20) or a duration "
            "back from now (24h, 7d, 2w). An article without a publication date counts by the day it was fetched "
            "or indexed. With a publication window and no --since, the briefing covers every article in it."
        ),
    ] = None,
    published_until: Annotated[
        str | None, typer.Option(help="Only articles PUBLISHED until then (a date or a duration, as --published-since).")
    ] = None,
    language: Annotated[str, typer.Option(help="Language of the labels: de or en.")] = "de",
    as_json: Annotated[bool, typer.Option("--json", help="Print the briefing as JSON.")] = False,
) -> None:
    """What is new in the collection (or on TOPIC) since --since (default: the last 24 hours, TELEGRAM_BRIEFING_WINDOW_HOURS),
    or every article published between --published-since and --published-until."""
    import dataclasses
    import time
    from zoneinfo import ZoneInfo

    from answers.answer import get_retriever, validate_question
    from answers.briefing import build_briefing
    from answers.errors import QuestionError
    from bot.briefing_terminal import SinceError, parse_since, render_briefing_text
    from retrieval.errors import IndexError_

    settings = settings_or_exit()
    timezone = ZoneInfo(settings.telegram.timezone)
    now = time.time()
    window = time_window_or_exit(published_since, published_until)
    try:
        if since:
            start: float | None = parse_since(since, now, timezone)
        else:  # a publication window alone asks for all of it, not for what arrived in the last hours
            start = None if window is not None else now - settings.telegram.briefing_window_hours * 3600
        topic = validate_question(topic, settings.models.max_question_chars) if topic else None
    except (SinceError, QuestionError) as e:
        raise fail(str(e), EXIT_USAGE) from e
    ensure_index_with_progress(settings)
    try:
        result = build_briefing(settings, get_retriever(settings), topic, start, window)
    except IndexError_ as e:
        raise fail(str(e)) from e
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(result), ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(render_briefing_text(result, language, timezone))


@app.command()
def chat() -> None:
    """Ask questions interactively; a short follow-up is read with the previous question (:new starts afresh)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    from answers.answer import answer, follow_index, warm_up_in_background
    from answers.errors import QuestionError, ScorerFileError
    from answers.followup import Conversation
    from bot.render_terminal import render_answer, render_sources
    from retrieval.errors import IndexError_

    settings = settings_or_exit()
    ensure_index_with_progress(settings)
    interactive = sys.stdin.isatty()
    try:
        follow_index(settings, warm=interactive)  # answers come from the newest index, whoever writes it
    except IndexError_ as e:
        raise fail(str(e)) from e
    if interactive:
        warm_up_in_background(settings)  # stories and lemmas load while the user types the first question
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if not interactive and reconfigure is not None:
        reconfigure(errors="surrogateescape")  # a line that is not UTF-8 is refused, and the session goes on
    history_file = settings.retrieval.data_dir / "chat_history"
    session: PromptSession[str] | None = None
    if interactive:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        session = PromptSession(history=FileHistory(str(history_file)) if history_file.parent.is_dir() else InMemoryHistory())
    console.print(
        "[dim]Ask about the articles. :sources shows the last answer's sources, :new starts a new conversation, "
        ":help lists commands, :quit ends.[/]"
    )
    last = None
    conversation = Conversation()
    while True:
        try:
            line = session.prompt("newsbot> ") if session else input()
        except (EOFError, KeyboardInterrupt):
            break
        command = line.strip()
        if not command:
            continue
        if any("\ud800" <= ch <= "\udfff" for ch in command):
            console.print("[red]That line is not valid UTF-8 text; type it again as UTF-8.[/]")
            continue
        if command in (":quit", ":q", ":exit"):
            break
        if command == ":help":
            console.print(
                ":sources  full sources of the last answer\n"
                ":new      new conversation (the next question is read on its own)\n:quit     leave"
            )
            continue
        if command == ":new":
            conversation.reset()
            console.print("[dim]New conversation.[/]")
            continue
        if command == ":sources":
            if last is None:
                console.print("[yellow]No answer yet.[/]")
            else:
                render_sources(console, last)
            continue
        if command.startswith(":"):
            console.print(f"[yellow]Unknown command {command}; try :help[/]")
            continue
        try:
            last = answer(command, settings, previous=conversation.anchor)
        except QuestionError as e:
            console.print(f"[red]{e}[/]")
            continue
        except (IndexError_, ScorerFileError) as e:  # e.g. the database is still away: say so, keep the session
            console.print(f"[red]{escape(str(e))}[/]", highlight=False)
            continue
        conversation.remember(conversation.read(command))
        render_answer(console, last)


@app.command(name="eval")
def evaluate_command(
    file: Annotated[Path, typer.Argument(help="Question set (JSONL, the format of shared/eval).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Score answers against expected facts; exits 1 if any quote is not verbatim."""
    from rich.table import Table

    from answers.answer import get_retriever
    from answers.evaluation import EvalFileError, evaluate, load_questions

    settings = settings_or_exit()
    try:
        questions = load_questions(file)
    except EvalFileError as e:
        raise fail(str(e), EXIT_USAGE) from e
    ensure_index_with_progress(settings)
    retriever = get_retriever(settings)
    report = evaluate(questions, lambda q: answer_or_exit(q, settings), retriever.data.articles)
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        table = Table("id", "result", "facts", "sources", "abstention", "verbatim", "question")
        mark = {True: "[green]✓[/]", False: "[red]✗[/]"}
        for r in report.results:
            table.add_row(
                r.id, "PASS" if r.passed else "[red]FAIL[/]", mark[r.facts_found], mark[r.sources_right],
                mark[r.abstention_right], mark[r.quotes_verbatim], r.question[:60],
            )  # fmt: skip
        console.print(table)
        summary = report.to_json()
        console.print(
            f"{report.passed}/{len(report.results)} passed — facts {summary['facts_found']:.0%}, "
            f"sources {summary['sources_right']:.0%}, abstention {summary['abstention_right']:.0%}, "
            f"verbatim quotes {summary['quotes_verbatim']:.0%}",
            highlight=False,
        )
    if not report.all_verbatim:
        raise typer.Exit(EXIT_FAILURE)


@app.command(name="bot")
def telegram_bot() -> None:
    """Run the Telegram bot: long polling, or a webhook when TELEGRAM_WEBHOOK_URL is set (Ctrl-C stops it)."""
    from bot.app import BotConfigError, check_config, run_bot

    settings = settings_or_exit()
    try:
        check_config(settings)  # a missing or malformed token fails here, before anything loads
    except BotConfigError as e:
        raise fail(str(e), EXIT_USAGE) from None
    ensure_index_with_progress(settings)
    err.print("[dim]Starting the Telegram bot; Ctrl-C stops it.[/]")
    try:
        run_bot(settings)
    except BotConfigError as e:
        raise fail(str(e)) from None


@app.command()
def bench(
    suite: Annotated[
        str,
        typer.Option(
            help="retrieval, answers, latency, ingest, scale, pg (PostgreSQL beside the embedded store), lines "
            "(single-line articles of 100 KB to 5 MB), stories (adding an article and a figure question's story "
            "look-up at 1k/20k/100k articles), all, or gpu (indexing end to end on --device)."
        ),
    ] = "all",
    quick: Annotated[bool, typer.Option("--quick", help="Small inputs; about two minutes in all.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as one JSON object.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for results.json, results.md and the plot.")] = Path(
        "bench-results"
    ),
    xquad: Annotated[Path, typer.Option(help="Folder with xquad.de.json and xquad.en.json.")] = Path(
        "../shared/bench/xquad"
    ),
    dev_questions: Annotated[Path, typer.Option(help="Dev questions (JSONL) for the latency suite.")] = Path(
        "../shared/eval/seed_questions.jsonl"
    ),
    squad: Annotated[Path, typer.Option(help="Folder with SQuAD's dev-v2.0.json (the answers suite's held-out titles).")] = Path(
        "../shared/datasets/squad"
    ),
    answers_questions: Annotated[
        int | None, typer.Option(min=1, help="Answers suite: the first N test questions per language (and N+N SQuAD).")
    ] = None,
    answers_scorers: Annotated[
        str | None, typer.Option(help="Answers suite: comma list of scorers (reader, reader-alone, fitted, fitted-features, legacy).")
    ] = None,
    answers_small: Annotated[bool, typer.Option(help="Answers suite: also the small two-title collections.")] = True,
    gnad: Annotated[Path, typer.Option(help="Folder of distractor news articles (10kGNAD) for the answers suite.")] = Path(
        "../shared/corpora/10kgnad"
    ),
    device: Annotated[str, typer.Option(help="cpu, or cuda to add indexing end to end on the GPU.")] = "cpu",
    corpus: Annotated[
        Path, typer.Option(help="Articles for the `newsbot index` runs (ingest) and the gpu suite.")
    ] = Path("../shared/corpora/10kgnad"),
    index_repeats: Annotated[int, typer.Option(min=1, max=20, help="`newsbot index` runs per variant (median).")] = 3,
    index_articles: Annotated[
        int | None,
        typer.Option(min=1, help="Run every `newsbot index` variant on the first N files of --corpus (the default also on all)."),
    ] = None,
    index_only: Annotated[
        bool, typer.Option("--index-only", help="ingest: only the `newsbot index` runs (skip in-process builds and profiles).")
    ] = False,
    gpu_chunks: Annotated[int, typer.Option(min=1, help="Repeat the corpus to at least this many chunks (gpu).")] = 100_000,
    gpu_batch: Annotated[int, typer.Option(min=1, max=8192, help="Chunks per GPU batch (gpu).")] = 512,
    hnsw_1m: Annotated[
        bool, typer.Option("--hnsw-1m", help="Also build float32 HNSW at 1M vectors (>1 GiB, many minutes).")
    ] = False,
) -> None:
    """Measure retrieval quality, answer latency, indexing throughput and vector search at scale."""
    import io

    from rich.console import Console as RichConsole

    from bench.report import write_results
    from bench.runner import GPU_SUITE, SUITES, BenchOptions, run_benchmarks
    from bench.squad_data import BenchDataError
    from bot.render_terminal import render_answer
    from models.errors import EmbeddingModelError
    from retrieval.errors import IndexError_

    suites = SUITES if suite == "all" else tuple(s.strip() for s in suite.split(","))
    if not suites or any(s not in (*SUITES, GPU_SUITE) for s in suites):
        raise fail(f"unknown suite {suite!r}; use {', '.join((*SUITES, GPU_SUITE))} or all", EXIT_USAGE)
    if GPU_SUITE in suites and not corpus.is_dir():
        raise fail(f"no corpus folder {corpus}; pass --corpus PATH", EXIT_USAGE)
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise fail(f"unknown device {device!r}; use cpu or cuda", EXIT_USAGE)
    settings = settings_or_exit()
    seeds = settings.retrieval.seeds_dir
    if {"retrieval", "answers", "pg"} & set(suites) and not (xquad / "xquad.de.json").is_file():
        raise fail(f"no XQuAD data in {xquad}; pass --xquad PATH", EXIT_USAGE)
    if {"latency", "ingest"} & set(suites) and not Path(seeds).is_dir():
        raise fail(f"no seeds folder {seeds}; set NEWSBOT_SEEDS_DIR", EXIT_USAGE)
    if {"latency", "answers"} & set(suites) and not dev_questions.is_file():
        raise fail(f"no dev questions file {dev_questions}; pass --dev-questions PATH", EXIT_USAGE)

    def render_to_text(result: Any) -> str:
        buffer = io.StringIO()
        render_answer(RichConsole(file=buffer, width=100, force_terminal=False), result)
        return buffer.getvalue()

    options = BenchOptions(
        suites=suites,
        quick=quick,
        out_dir=out,
        xquad_dir=xquad,
        squad_dir=squad if (squad / "dev-v2.0.json").is_file() else None,
        answers_max_questions=answers_questions,
        answers_scorers=[x.strip() for x in answers_scorers.split(",") if x.strip()] if answers_scorers else None,
        answers_small=answers_small,
        seeds_dir=Path(seeds),
        dev_questions=dev_questions,
        gnad_dir=gnad if gnad.is_dir() else None,
        device=device,
        corpus=corpus,
        index_repeats=index_repeats,
        index_articles=index_articles,
        index_only=index_only,
        gpu_chunks=gpu_chunks,
        gpu_batch_size=gpu_batch,
        command=" ".join(["newsbot", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else "newsbot bench",
        hnsw_max_size=None if hnsw_1m else 100_000,
        formatter=render_to_text,
        progress=lambda message: err.print(f"[dim]{message}[/]", highlight=False),
    )
    try:
        results = run_benchmarks(settings, options)
    except (BenchDataError, EmbeddingModelError, IndexError_) as e:
        raise fail(str(e)) from e
    paths = write_results(results, out)
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        typer.echo((out / "results.md").read_text(encoding="utf-8"))
    err.print(f"[dim]Wrote {', '.join(str(p) for p in paths.values())}[/]", highlight=False)


def main() -> None:
    """Console-script entry point: typer's usage errors exit 2, ours as documented above.

    A command that ends (done, or failed with its exit code) leaves without the interpreter's teardown
    (`exit_without_teardown`); an unexpected exception still ends the usual way, with its traceback."""
    try:
        app()
    except SystemExit as e:
        exit_without_teardown(e.code)
    exit_without_teardown(0)


def exit_without_teardown(code: object) -> NoReturn:
    """Exit as `sys.exit(code)` would, less the interpreter's teardown of its ~800 modules and their
    objects: 0.16-0.2 s of a one-shot `newsbot ask` that answers in ~1.1-1.5 s on a 2-core Zen 3
    (BENCHMARKS.md, session 13), after the answer is already printed.

    Why it loses nothing: what a normal exit runs before that teardown is run here too, in the same
    order: waiting for non-daemon threads (and executors' workers), then the `atexit` handlers
    (logging's flush, temporary folders, multiprocessing's children); then both streams are flushed.
    Files are written and renamed by the commands themselves before they return.
    """
    import atexit
    import os
    import threading

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    threading._shutdown()  # type: ignore[attr-defined]  # CPython's own first exit step
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to lose
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
