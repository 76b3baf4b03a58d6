"""Sphinx extension: author-year labels in the bibliography, matching the citations in the text.

The chapters cite with ``bibtex_reference_style: author_year`` ("Kingma and Ba, 2015"), but
pybtex's default label style gives the bibliography list alpha labels ("[KB15]"), so a reader
cannot match a citation with its entry. This registers a pybtex formatting style,
``rnnbook_author_year`` (the ``plain`` style, sorted by author, year and title), whose labels are
built from the same name template sphinxcontrib-bibtex uses for the in-text citations:
"Elman, 1990", "Kingma and Ba, 2015", "Bengio *et al.*, 1994". Two entries that would get the
same label are told apart by a letter after the year ("1997a", "1997b").
``_config.yml`` selects it with ``bibtex_default_style: rnnbook_author_year``.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.template import field, join
from sphinxcontrib.bibtex.style.referencing import PersonStyle

STYLE_NAME = "rnnbook_author_year"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Author, year" / "A and B, year" / "A et al., year", unique within a list."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        person = PersonStyle()  # the defaults of the author_year reference style
        self._data = SimpleNamespace(person=person)
        self._template = join(sep=", ")[
            person.author_or_editor_or_title(full=False), field("year", apply_func=str)
        ]

    def format_label(self, entry) -> str:
        text = self._template.format_data({"entry": entry, "style": self._data})
        return text.render_as("text")

    def format_labels(self, sorted_entries):
        labels = [self.format_label(entry) for entry in sorted_entries]
        count = Counter(labels)
        seen = Counter()
        for label in labels:
            if count[label] == 1:
                yield label
            else:
                yield label + chr(ord("a") + seen[label])
                seen[label] += 1


class AuthorYearStyle(PlainStyle):
    """pybtex's ``plain`` formatting with :class:`AuthorYearLabelStyle` labels."""

    default_label_style = STYLE_NAME
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabelStyle, force=True)
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle, force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
