"""Given-name short forms and cross-language equivalents -> one canonical key.

Keys are accent-folded lower-case letters (as ``keys.name_key`` makes them). This is a
general-purpose list of common diminutives in the languages the car maker's customers
write (Spanish, Catalan, English, French, German, Italian, Portuguese); it is data, not
tuning: extend it when a steward finds a missed pair. A short form that belongs to both
a male and a female name maps to the male one only when the female reading is rare.
"""

from __future__ import annotations

_GROUPS: dict[str, tuple[str, ...]] = {
    # Spanish / Catalan
    "francisco": ("paco", "curro", "pancho", "fran", "quico", "cisco", "frasco"),
    "francisca": ("paca", "paqui", "paquita", "fanny"),
    "jose": ("pepe", "pepito", "joseph", "giuseppe", "josep"),
    "josefa": ("pepa", "pepita", "fina"),
    "josemaria": ("chema", "josema"),
    "manuel": ("manolo", "manu", "lolo"),
    "manuela": ("manoli", "manola"),
    "antonio": ("tono", "toni", "tonio", "antoni", "anthony", "tony"),
    "antonia": ("toni", "tona"),
    "ignacio": ("nacho", "inaki", "nacio"),
    "jesus": ("chus", "chucho", "suso"),
    "enrique": ("quique", "kike", "henry", "heinrich", "enric"),
    "guillermo": ("guille", "memo", "william", "willy", "bill", "billy", "will", "guillem"),
    "alejandro": ("alex", "alexander", "alexandre", "alessandro", "alejo", "sandro", "alexandros"),
    "alejandra": ("alexandra", "alessandra"),
    "dolores": ("lola", "loli", "lolita"),
    "rosario": ("charo", "chari", "rosarito"),
    "concepcion": ("concha", "conchi", "conchita"),
    "mercedes": ("merche", "meche"),
    "montserrat": ("montse", "montsita"),
    "inmaculada": ("inma", "macu"),
    "cristina": ("cris", "tina", "christina", "kristina"),
    "daniel": ("dani",),
    "daniela": ("dani",),
    "santiago": ("santi", "yago"),
    "eduardo": ("edu", "lalo", "edward", "ed", "eddie", "edouard"),
    "fernando": ("fer", "nando", "ferran"),
    "teresa": ("tere", "teresita", "tessa", "theresa", "therese"),
    "beatriz": ("bea", "beatrice", "beatrix"),
    "patricia": ("patri", "pati", "patty", "trish"),
    "veronica": ("vero",),
    "guadalupe": ("lupe", "lupita"),
    "joaquin": ("quino", "joaco", "ximo", "chimo"),
    "vicente": ("vicen", "chente", "vicent", "vincent", "vincenzo"),
    "rafael": ("rafa", "rafe"),
    "pilar": ("pili", "pilarica"),
    "mariateresa": ("maite", "marite"),
    "mariaisabel": ("marisa", "maribel"),
    "mariajose": ("majo", "marijose"),
    "mariacarmen": ("maricarmen", "mamen", "carmen"),
    "juanmanuel": ("juanma",),
    "josemiguel": ("josemi",),
    "josefina": ("fina", "pepi"),
    "encarnacion": ("encarni", "encarna"),
    "natividad": ("nati",),
    "soledad": ("sole", "marisol"),
    "susana": ("susi", "susan", "suzanne", "susanne"),
    "isabel": (
        "isa",
        "chabela",
        "elisabeth",
        "elizabeth",
        "liz",
        "beth",
        "betty",
        "elisabetta",
        "isabelle",
        "isabella",
    ),
    "victoria": ("vicky", "viki", "toya"),
    "jorge": ("george", "georges", "giorgio", "jordi"),
    "juan": ("john", "johnny", "jean", "giovanni", "joan", "johann", "hans", "jack"),
    "pedro": ("peter", "pierre", "pietro", "pere", "pete"),
    "miguel": ("michael", "mike", "mick", "michel", "michele", "mikel", "miquel"),
    "jaime": ("james", "jim", "jimmy", "jaume", "jacques", "giacomo"),
    "tomas": ("thomas", "tom", "tommy", "tomeu", "tommaso"),
    "cristobal": ("christopher", "chris", "cristof", "kit", "christophe"),
    "roberto": ("robert", "bob", "bobby", "rob", "robbie", "berto"),
    "alberto": ("albert", "bert", "tito"),
    "carlos": ("charles", "charlie", "carlo", "karl", "carles", "charly"),
    "catalina": (
        "katherine",
        "catherine",
        "kate",
        "katie",
        "cathy",
        "kathy",
        "caterina",
        "katharina",
        "cata",
    ),
    "margarita": ("margaret", "maggie", "meg", "peggy", "marga", "marguerite", "margherita"),
    "juana": ("jane", "jeanne", "juanita", "giovanna"),
    "jennifer": ("jenny", "jen"),
    "luis": ("lluis", "louis", "luigi", "lewis", "lucho", "ludwig"),
}

# A short form claimed by two groups (``toni``, ``dani``, ``chema``) goes to the first.
NICKNAMES: dict[str, str] = {}
for _canonical, _forms in _GROUPS.items():
    for _form in _forms:
        NICKNAMES.setdefault(_form, _canonical)
