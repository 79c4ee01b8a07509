"""What the bot says besides answers, in English and German (Telegram HTML, placeholders escaped by callers)."""

from __future__ import annotations

import re

from telegram import BotCommand, User

from answers.labels import LABELS

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "help": (
            "<b>newsbot</b> answers questions about the indexed news articles with verbatim quotes and their sources.\n\n"
            "Send me a question, for example:\n<i>How many soldiers were reported and by whom?</i>\n\n"
            "In groups, use /ask <i>question</i>, mention me, or reply to one of my messages.\n\n"
            "/briefing [topic] — key figures, most corroborated claims and newest articles; "
            "<code>/briefing --since 2024-10-20 --until 2024-10-25</code> covers the articles published then\n"
            "/subscribe HH:MM [topic] — a daily briefing in this chat ({timezone} time)\n"
            "/unsubscribe — stop the daily briefing\n"
            "/sources — full sources of the last answer\n"
            "/new — start a new conversation (a short follow-up such as <i>and Kursk?</i> is read with your previous question)\n\n"
            "Admins can add an article by sending me a .txt, .md or .html file, or a link (/add <i>URL</i>)."
        ),
        "ask_usage": "Ask like this: /ask How many soldiers were reported?",
        "bad_question": "Sorry, I can't answer that: {reason}.",
        "rate_limited": "You're asking faster than I can answer (at most {limit} per minute). Please try again in {seconds} s.",
        "not_allowed": "Sorry, this bot is private and not available in this chat.",
        "no_answer_yet": "There is no answer in this chat yet; ask a question first.",
        "sources_button": LABELS["en"]["sources"],
        "apology": "Sorry, something went wrong on my side. Please try again in a moment.",
        "nothing_on_topic": "The articles say nothing about “{topic}”.",
        "subscribe_usage": "Use /subscribe HH:MM [topic], for example /subscribe 07:30 Nordkorea.",
        "subscribed": "Subscribed: a daily briefing{about} here at {time} ({timezone}). /unsubscribe stops it.",
        "subscribed_about": " on “{topic}”",
        "subscribe_not_served": "Sorry, daily briefings go only to chats this bot serves, and this chat is not one of them. Ask the bot's admin to add it.",
        "unsubscribed": "The daily briefing in this chat is stopped.",
        "not_subscribed": "This chat has no daily briefing.",
        "upload_refused": "Sorry, only the bot's admins can add articles.",
        "upload_too_large": "Sorry, {name} is {size} bytes; the limit is {limit} bytes.",
        "upload_failed": "I could not index {name}: {reason}. The index is unchanged.",
        "upload_done": "Indexed “{title}” ({date}{outlet}). It can be quoted from now on; {articles} articles in the index.",
        "no_date": "no date found",
        "add_usage": "Send /add with one link, for example /add https://www.tagesschau.de/…",
        "add_refused": "Sorry, only the bot's admins can add articles; a link is not a question. Ask me about the articles instead.",
        "add_failed": "I could not add {url}: {reason}. The index is unchanged.",
        "unknown_command": "I don't know that command. /help lists what I can do.",
        "new_conversation": "New conversation: your next question is read on its own.",
    },
    "de": {
        "help": (
            "<b>newsbot</b> beantwortet Fragen zu den indexierten Nachrichtenartikeln mit wörtlichen Zitaten und Quellen.\n\n"
            "Schick mir eine Frage, zum Beispiel:\n<i>Wie viele Soldaten wurden gemeldet und von wem?</i>\n\n"
            "In Gruppen: /ask <i>Frage</i>, erwähne mich oder antworte auf eine meiner Nachrichten.\n\n"
            "/briefing [Thema] — wichtige Zahlen, am häufigsten berichtete Aussagen, neueste Artikel; "
            "<code>/briefing --since 2024-10-20 --until 2024-10-25</code> umfasst die damals erschienenen Artikel\n"
            "/subscribe HH:MM [Thema] — täglicher Überblick in diesem Chat (Zeitzone {timezone})\n"
            "/unsubscribe — täglichen Überblick beenden\n"
            "/sources — alle Quellen der letzten Antwort\n"
            "/new — neues Gespräch (eine kurze Nachfrage wie <i>und Kursk?</i> wird mit deiner vorigen Frage gelesen)\n\n"
            "Admins können einen Artikel als .txt-, .md- oder .html-Datei oder als Link schicken (/add <i>URL</i>)."
        ),
        "ask_usage": "Frag so: /ask Wie viele Soldaten wurden gemeldet?",
        "bad_question": "Das kann ich leider nicht beantworten: {reason}.",
        "rate_limited": "Du fragst schneller, als ich antworten kann (höchstens {limit} pro Minute). Bitte versuch es in {seconds} s noch einmal.",
        "not_allowed": "Dieser Bot ist privat und in diesem Chat leider nicht verfügbar.",
        "no_answer_yet": "In diesem Chat gibt es noch keine Antwort; stell zuerst eine Frage.",
        "sources_button": LABELS["de"]["sources"],
        "apology": "Entschuldigung, bei mir ist etwas schiefgegangen. Bitte versuch es gleich noch einmal.",
        "nothing_on_topic": "Zu „{topic}“ steht nichts in den Artikeln.",
        "subscribe_usage": "So geht's: /subscribe HH:MM [Thema], zum Beispiel /subscribe 07:30 Nordkorea.",
        "subscribed": "Abonniert: täglicher Überblick{about} hier um {time} ({timezone}). /unsubscribe beendet ihn.",
        "subscribed_about": " zu „{topic}“",
        "subscribe_not_served": "Tägliche Überblicke gehen nur an Chats, die dieser Bot bedient, und dieser gehört leider nicht dazu. Bitte den Admin des Bots, ihn freizugeben.",
        "unsubscribed": "Der tägliche Überblick in diesem Chat ist beendet.",
        "not_subscribed": "Dieser Chat hat keinen täglichen Überblick.",
        "upload_refused": "Artikel hinzufügen dürfen leider nur die Admins des Bots.",
        "upload_too_large": "{name} ist {size} Bytes groß; erlaubt sind {limit} Bytes.",
        "upload_failed": "{name} konnte ich nicht indexieren: {reason}. Der Index ist unverändert.",
        "upload_done": "Indexiert: „{title}“ ({date}{outlet}). Ab jetzt zitierbar; {articles} Artikel im Index.",
        "no_date": "kein Datum gefunden",
        "add_usage": "Schick /add mit einem Link, zum Beispiel /add https://www.tagesschau.de/…",
        "add_refused": "Artikel hinzufügen dürfen leider nur die Admins des Bots; ein Link ist keine Frage. Frag mich stattdessen etwas zu den Artikeln.",
        "add_failed": "{url} konnte ich nicht hinzufügen: {reason}. Der Index ist unverändert.",
        "unknown_command": "Diesen Befehl kenne ich nicht. /help zeigt, was ich kann.",
        "new_conversation": "Neues Gespräch: deine nächste Frage wird für sich gelesen.",
    },
}

COMMANDS: dict[str, list[BotCommand]] = {
    "en": [
        BotCommand("ask", "Ask a question about the articles"),
        BotCommand("briefing", "Digest of all articles or of a topic"),
        BotCommand("subscribe", "Daily briefing here: /subscribe HH:MM [topic]"),
        BotCommand("unsubscribe", "Stop the daily briefing"),
        BotCommand("sources", "Full sources of the last answer"),
        BotCommand("new", "Start a new conversation"),
        BotCommand("help", "How to use this bot"),
    ],
    "de": [
        BotCommand("ask", "Eine Frage zu den Artikeln stellen"),
        BotCommand("briefing", "Überblick über alle Artikel oder ein Thema"),
        BotCommand("subscribe", "Täglicher Überblick: /subscribe HH:MM [Thema]"),
        BotCommand("unsubscribe", "Täglichen Überblick beenden"),
        BotCommand("sources", "Alle Quellen der letzten Antwort"),
        BotCommand("new", "Neues Gespräch beginnen"),
        BotCommand("help", "So funktioniert der Bot"),
    ],
}


# Why an upload was not indexed, in German: the indexer's reasons are English sentences (its log and
# the CLI speak English), so a German chat would read a German sentence around an English reason.
# Each known reason has its German wording here; one that is not known gets a German line that says
# the file could not be read as an article, never the English text.
_GERMAN_UPLOAD_REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"unsupported file type ([^;\s]+)"), "Dateityp {0} wird nicht unterstützt; schick .txt, .md oder .html"),
    (re.compile(r"file is empty"), "die Datei ist leer"),
    (re.compile(r"looks binary"), "die Datei ist binär, kein Textartikel"),
    (re.compile(r"cannot be decoded"), "die Datei ist weder UTF-8- noch Windows-1252-Text"),
    (re.compile(r"no article text found in the HTML"), "im HTML steht kein Artikeltext"),
    (
        re.compile(r"no article text left after cleaning \((\d+) characters; an article needs at least (\d+)"),
        "nach dem Bereinigen bleiben {0} Zeichen Artikeltext; ein Artikel braucht mindestens {1}",
    ),
    (re.compile(r"([\d,]+) bytes is larger than the ([\d,]+) byte limit"), "{0} Bytes sind mehr als die erlaubten {1} Bytes"),
]
_GERMAN_UPLOAD_UNKNOWN = "die Datei ließ sich nicht als Artikel lesen"


def number(language: str, value: int) -> str:
    """A whole number with the language's thousands separator ("12,000" in English, "12.000" in German)."""
    grouped = f"{value:,}"
    return grouped.replace(",", ".") if language == "de" else grouped


def upload_failure_reason(language: str, reason: str) -> str:
    """The indexer's one-line `reason` for a refused upload, in the chat's language."""
    if language != "de":
        return reason
    for pattern, german in _GERMAN_UPLOAD_REASONS:
        match = pattern.search(reason)
        if match:
            return german.format(*(g.replace(",", ".") for g in match.groups()))
    return _GERMAN_UPLOAD_UNKNOWN


def language_of(user: User | None) -> str:
    """"de" for users whose Telegram app is German, otherwise "en"."""
    code = (user.language_code or "") if user else ""
    return "de" if code.lower().startswith("de") else "en"


def say(language: str, key: str, **values: object) -> str:
    return TEXTS["de" if language == "de" else "en"][key].format(**values)
