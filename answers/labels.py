"""Every word an answer or briefing is labelled with, per language, in one table.

The answerers pick their lead from it and every front end (terminal, Telegram, plain text, JSON)
takes its headings from it, so a label is changed in one place for all of them.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "de"]

LABELS: dict[Language, dict[str, str]] = {
    "en": {
        # leads: the one-line headline of an answer
        "lead_quotes": "According to the articles:",
        "lead_figures": "Figures reported in the articles:",
        # time windows (--since/--until, or a day the question names; answers/dated.py)
        "window_only": "Only articles published {when} were searched.",
        "window_empty": "No article in the collection was published {when}.",
        "window_day": "on {day}",
        "window_since": "since {day}",
        "window_until": "until {day}",
        "window_between": "from {since} to {until}",
        "window_fallback": "An article without a publication date counts by the day it was fetched or indexed, marked as such.",
        # an article without a publication date is dated by when newsbot fetched or indexed it, said so
        "date_fetched": "fetched {day}",
        "date_indexed": "indexed {day}",
        "newest_figure": "newest",
        "figure_dates": "Published",
        "declined": "The articles don't say.",
        "nearest": "Nearest passages (they do not answer the question):",
        # figures
        "figure": "Figure",
        "counts": "Counts",
        "attributed_to": "Attributed to",
        "unattributed": "no source named in the sentence",
        # sources
        "sources": "Sources",
        "full_sources": "Sources of the last answer",
        "also": "a near-identical sentence also appears in",
        "characters": "characters",
        # answers worded by a model
        "model_worded": "Worded by a language model from the quotes below; each sentence was checked against the quotes it cites.",
        "model_unverified": "The model's answer could not be verified; showing the quotes instead.",
        "model_wrong_language": "The model answered in German, not in English; showing the quotes instead.",
        # briefings
        "briefing_all": "Briefing on all articles",
        "briefing_topic": "Briefing: {topic}",
        "drawn_from": "from {n} articles",
        "key_figures": "Key figures and who reported them",
        "claims": "Most corroborated",
        "reported_by": "carried by {n} articles",
        "newest": "Newest articles",
        "undated": "undated",
        "nothing_new_since": "Nothing new since {when}.",
        "new_since": "New since {when}: {n} articles",
        "new_in_story": "new",
        "new_outlet": "first report from this outlet",
        "adds": "adds",
        # follow-ups, chat answers and stories
        "read_as": "Read as",
        "more_quotes": "{n} more quotes under Sources",
        "one_more_quote": "1 more quote under Sources",
        "top_stories": "Top stories",
        "story_size": "{articles} articles",
        "one_article": "1 article",
        "outlets": "{n} outlets",
    },
    "de": {
        "lead_quotes": "Laut den Artikeln:",
        "lead_figures": "In den Artikeln genannte Zahlen:",
        "window_only": "Durchsucht wurden nur Artikel, die {when} erschienen sind.",
        "window_empty": "Kein Artikel der Sammlung ist {when} erschienen.",
        "window_day": "am {day}",
        "window_since": "seit {day}",
        "window_until": "bis {day}",
        "window_between": "vom {since} bis {until}",
        "window_fallback": "Ein Artikel ohne Erscheinungsdatum zählt nach dem Tag, an dem er abgerufen oder indexiert wurde, und ist so gekennzeichnet.",
        "date_fetched": "abgerufen am {day}",
        "date_indexed": "indexiert am {day}",
        "newest_figure": "neueste",
        "figure_dates": "Erschienen",
        "declined": "Dazu steht nichts in den Artikeln.",
        "nearest": "Nächstliegende Stellen (sie beantworten die Frage nicht):",
        "figure": "Zahl",
        "counts": "Zählt",
        "attributed_to": "Quelle laut Text",
        "unattributed": "keine Quelle im Satz genannt",
        "sources": "Quellen",
        "full_sources": "Quellen der letzten Antwort",
        "also": "ein fast gleicher Satz steht auch in",
        "characters": "Zeichen",
        "model_worded": "Von einem Sprachmodell aus den Zitaten unten formuliert; jeder Satz wurde an seinen Zitaten geprüft.",
        "model_unverified": "Die Antwort des Modells ließ sich nicht überprüfen; hier stattdessen die Zitate.",
        "model_wrong_language": "Das Modell antwortete auf Englisch statt auf Deutsch; hier stattdessen die Zitate.",
        "briefing_all": "Überblick über alle Artikel",
        "briefing_topic": "Überblick: {topic}",
        "drawn_from": "aus {n} Artikeln",
        "key_figures": "Wichtige Zahlen und wer sie nennt",
        "claims": "Am häufigsten berichtet",
        "reported_by": "in {n} Artikeln",
        "newest": "Neueste Artikel",
        "undated": "ohne Datum",
        "nothing_new_since": "Nichts Neues seit {when}.",
        "new_since": "Neu seit {when}: {n} Artikel",
        "new_in_story": "neu",
        "new_outlet": "erster Bericht dieses Mediums",
        "adds": "neu darin",
        "read_as": "Gelesen als",
        "more_quotes": "{n} weitere Zitate unter Quellen",
        "one_more_quote": "1 weiteres Zitat unter Quellen",
        "top_stories": "Die wichtigsten Themen",
        "story_size": "{articles} Artikel",
        "one_article": "1 Artikel",
        "outlets": "{n} Medien",
    },
}


def language_key(language: str) -> Language:
    """"de" for German, "en" for everything else (the answerer speaks these two)."""
    return "de" if language == "de" else "en"


def labels(language: str) -> dict[str, str]:
    """The label table of `language` (English for any language other than German)."""
    return LABELS[language_key(language)]


def label(language: str, key: str) -> str:
    return labels(language)[key]
