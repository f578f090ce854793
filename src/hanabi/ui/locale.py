"""A small translation table: one dict of fixed texts per language, English as the fallback.

Keys are short identifiers; values are `str.format` templates. A locale such as `de` or `pt-BR` is looked up as
given, then by its language part, then English. Extensions keep their own tables beside their code.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_LANGUAGE = "en"


class Translations:
    def __init__(self, tables: Mapping[str, Mapping[str, str]]) -> None:
        if DEFAULT_LANGUAGE not in tables:
            raise ValueError("a translation table needs English ('en') as the fallback")
        self._tables = {language.lower(): dict(table) for language, table in tables.items()}
        english = self._tables[DEFAULT_LANGUAGE]
        for language, table in self._tables.items():
            unknown = set(table) - set(english)
            if unknown:
                raise ValueError(f"{language}: keys missing from English: {sorted(unknown)}")

    @property
    def languages(self) -> list[str]:
        return sorted(self._tables)

    def get(self, locale: str | None, key: str, /, **values: object) -> str:
        template = self._lookup(locale, key)
        return template.format(**values) if values else template

    def _lookup(self, locale: str | None, key: str) -> str:
        if locale:
            wanted = str(locale).lower()
            for candidate in (wanted, wanted.split("-")[0]):
                table = self._tables.get(candidate)
                if table is not None and key in table:
                    return table[key]
        return self._tables[DEFAULT_LANGUAGE][key]
