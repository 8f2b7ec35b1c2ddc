"""Lexicon sentiment for survey comments, scored in the comment's own language.

Each language has its own word list, with negation ('no', 'not', 'pas', 'nicht' up to two
words before flip the sign) and intensifiers ('muy', 'very', 'très', 'sehr' multiply by
1.5). The score is the mean of the matched words' scores, clipped to [-1, 1]; a comment
without a known word scores 0 and is labelled neutral. All of it is Spark built-ins over
the token array, with the lexicon as a literal map: no UDF, no join.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from c360.columns import string_map
from c360.silver.standardize import strip_accents

# Words are lower-case and accent-folded (strip_accents), as the tokens are.
LEXICON: dict[str, dict[str, float]] = {
    "es": {
        "bueno": 1,
        "buena": 1,
        "buen": 1,
        "bien": 0.5,
        "excelente": 1,
        "perfecto": 1,
        "perfecta": 1,
        "amable": 1,
        "rapido": 0.5,
        "rapida": 0.5,
        "contento": 1,
        "contenta": 1,
        "genial": 1,
        "recomiendo": 1,
        "volvere": 1,
        "vuelvo": 0.5,
        "encantado": 1,
        "satisfecho": 1,
        "satisfecha": 1,
        "gracias": 0.5,
        "correcto": 0.25,
        "normal": 0,
        "malo": -1,
        "mala": -1,
        "mal": -1,
        "pesimo": -1,
        "pesima": -1,
        "desastre": -1,
        "lento": -0.5,
        "lenta": -0.5,
        "caro": -0.5,
        "cara": -0.5,
        "enganaron": -1,
        "engano": -1,
        "horrible": -1,
        "fatal": -1,
        "queja": -1,
        "decepcionado": -1,
        "decepcionada": -1,
        "tardaron": -0.25,
        "sucio": -0.5,
    },
    "en": {
        "great": 1,
        "good": 1,
        "excellent": 1,
        "happy": 1,
        "quick": 0.5,
        "fast": 0.5,
        "friendly": 1,
        "helpful": 1,
        "recommend": 1,
        "perfect": 1,
        "thanks": 0.5,
        "okay": 0,
        "ok": 0,
        "average": 0,
        "bad": -1,
        "terrible": -1,
        "awful": -1,
        "slow": -0.5,
        "expensive": -0.5,
        "disappointed": -1,
        "poor": -1,
        "rude": -1,
        "worst": -1,
        "complaint": -1,
    },
    "fr": {
        "bon": 1,
        "bonne": 1,
        "excellent": 1,
        "excellente": 1,
        "merci": 0.5,
        "rapide": 0.5,
        "parfait": 1,
        "content": 1,
        "satisfait": 1,
        "accueil": 0.25,
        "correct": 0.25,
        "moyen": 0,
        "mauvais": -1,
        "mauvaise": -1,
        "lent": -0.5,
        "cher": -0.5,
        "decu": -1,
        "decue": -1,
        "nul": -1,
        "horrible": -1,
    },
    "de": {
        "gut": 1,
        "guter": 1,
        "gute": 1,
        "ausgezeichnet": 1,
        "schnell": 0.5,
        "danke": 0.5,
        "freundlich": 1,
        "zufrieden": 1,
        "perfekt": 1,
        "ordnung": 0.25,
        "durchschnittlicher": 0,
        "schlecht": -1,
        "schlechter": -1,
        "schlechte": -1,
        "langsam": -0.5,
        "teuer": -0.5,
        "enttauscht": -1,
        "furchtbar": -1,
    },
    "it": {
        "buono": 1,
        "ottimo": 1,
        "eccellente": 1,
        "veloce": 0.5,
        "grazie": 0.5,
        "gentile": 1,
        "cattivo": -1,
        "pessimo": -1,
        "lento": -0.5,
        "caro": -0.5,
        "deluso": -1,
    },
    "pt": {
        "bom": 1,
        "boa": 1,
        "otimo": 1,
        "excelente": 1,
        "rapido": 0.5,
        "obrigado": 0.5,
        "mau": -1,
        "ma": -1,
        "pessimo": -1,
        "lento": -0.5,
        "caro": -0.5,
        "decepcionado": -1,
    },
}
NEGATORS = [
    "no",
    "not",
    "never",
    "nunca",
    "jamas",
    "pas",
    "jamais",
    "nicht",
    "kein",
    "keine",
    "nie",
    "non",
    "nao",
]
INTENSIFIERS = ["muy", "very", "really", "tres", "sehr", "molto", "muito", "super"]
POSITIVE_ABOVE = 0.25
NEGATIVE_BELOW = -0.25


def _lexicon_map() -> Column:
    return string_map(
        {
            f"{lang}:{word}": float(score)
            for lang, words in LEXICON.items()
            for word, score in words.items()
        }
    )


def tokens(comment: Column) -> Column:
    words = F.split(F.lower(strip_accents(comment)), r"[^\p{L}]+")
    return F.filter(words, lambda w: w != "")


def sentiment_score(comment: Column, language: Column) -> Column:
    """Mean word score in [-1, 1]; NULL for a NULL comment."""
    return F.when(comment.isNotNull(), sentiment_from_tokens(tokens(comment), language))


def sentiment_from_tokens(toks: Column, language: Column) -> Column:
    """Pass a column reference: the token array is read once per word."""
    lex = _lexicon_map()
    lang = F.lower(F.coalesce(language, F.lit("es")))

    def word_score(w: Column, i: Column) -> Column:
        base = F.element_at(lex, F.concat(lang, F.lit(":"), w))
        prev1 = F.when(i >= 1, F.element_at(toks, i))  # element_at is 1-based: i = previous
        prev2 = F.when(i >= 2, F.element_at(toks, i - 1))
        negated = F.coalesce(prev1.isin(NEGATORS), F.lit(False)) | F.coalesce(
            prev2.isin(NEGATORS), F.lit(False)
        )
        boost = F.when(F.coalesce(prev1.isin(INTENSIFIERS), F.lit(False)), 1.5).otherwise(1.0)
        return base * boost * F.when(negated, -1.0).otherwise(1.0)

    scores = F.filter(F.transform(toks, word_score), lambda s: s.isNotNull())
    total = F.aggregate(scores, F.lit(0.0), lambda acc, s: acc + s)
    mean = F.when(F.size(scores) > 0, total / F.size(scores)).otherwise(F.lit(0.0))
    clipped = F.greatest(F.lit(-1.0), F.least(F.lit(1.0), mean))
    return F.round(clipped, 4)


def sentiment_label(score: Column) -> Column:
    return (
        F.when(score.isNull(), F.lit(None))
        .when(score > POSITIVE_ABOVE, "positive")
        .when(score < NEGATIVE_BELOW, "negative")
        .otherwise("neutral")
    )
