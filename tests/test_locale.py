"""Tests for whirlwind.locale with real CSV files and .mo catalogs written
at test time."""

from __future__ import annotations

import datetime
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

import whirlwind.locale as wl
from whirlwind.locale import CSVLocale, GettextLocale, Locale

CSV_DIR = os.path.join(os.path.dirname(__file__), "data", "locale", "csv")
UTC = datetime.timezone.utc


@pytest.fixture(autouse=True)
def _isolated_locale_state() -> Iterator[None]:
    names = ("_translations", "_supported_locales", "_use_gettext", "_default_locale")
    saved = {name: getattr(wl, name) for name in names}
    Locale._cache = {}
    yield
    for name, value in saved.items():
        setattr(wl, name, value)
    Locale._cache = {}


def write_mo(path: Path, messages: dict[str, str], plural_forms: str) -> None:
    """Write a GNU gettext .mo catalog.

    Keys are msgids, "ctx\\x04msgid" for a context and "one\\x00many" for a
    plural entry (whose value joins the forms with NUL), as in the format.
    """
    header = f"Content-Type: text/plain; charset=UTF-8\nPlural-Forms: {plural_forms}\n"
    entries = sorted({"": header, **messages}.items(), key=lambda kv: kv[0].encode())
    ids = [k.encode() for k, _ in entries]
    strs = [v.encode() for _, v in entries]
    count = len(entries)
    ids_table = 7 * 4
    strs_table = ids_table + 8 * count
    data_start = strs_table + 8 * count
    blob = b""
    id_index = []
    for item in ids:
        id_index.append((len(item), data_start + len(blob)))
        blob += item + b"\0"
    str_index = []
    for item in strs:
        str_index.append((len(item), data_start + len(blob)))
        blob += item + b"\0"
    out = struct.pack("<7I", 0x950412DE, 0, count, ids_table, strs_table, 0, 0)
    out += b"".join(struct.pack("<2I", n, off) for n, off in id_index)
    out += b"".join(struct.pack("<2I", n, off) for n, off in str_index)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out + blob)


FRENCH_CATALOG = {
    "school": "\u00e9cole",
    "law\x04right": "le droit",
    "good\x04right": "le bien",
    "organization\x04club\x00clubs": "le club\x00les clubs",
    "stick\x04club\x00clubs": "le b\u00e2ton\x00les b\u00e2tons",
    "apple\x00apples": "pomme\x00pommes",
    "card\x00cards": "carte\x00cartes",
    "April": "avril",
    "Sunday": "dimanche",
    "%(commas)s and %(last)s": "%(commas)s et %(last)s",
}


def test_csv_translations() -> None:
    wl.load_translations(CSV_DIR)
    assert set(wl.get_supported_locales()) == {"en_US", "es_LA", "fr_FR"}
    fr = wl.get("fr_FR")
    assert isinstance(fr, CSVLocale)
    assert fr.code == "fr_FR" and fr.name == "Fran\u00e7ais" and not fr.rtl
    assert fr.translate("school") == "\u00e9cole"
    assert fr.translate("untranslated") == "untranslated"
    liked = "%(name)s liked this"
    assert fr.translate(liked, liked, 1) == "%(name)s a aim\u00e9 \u00e7a"
    assert fr.translate(liked, liked, 3) == "%(name)s ont aim\u00e9 \u00e7a"
    assert fr.translate("one cat", "many cats", 2) == "many cats"
    assert wl.get("es_LA").translate("I love you") == "Te amo"


def test_csv_contexts() -> None:
    wl.load_translations(CSV_DIR)
    fr = wl.get("fr_FR")
    assert fr.pgettext("law", "right") == "le droit"
    assert fr.pgettext("good", "right") == "le bien"
    assert fr.pgettext("organization", "club", "clubs", 1) == "le club"
    assert fr.pgettext("organization", "club", "clubs", 2) == "les clubs"
    assert fr.pgettext("stick", "club", "clubs", 2) == "les b\u00e2tons"
    # No contextual entry: the plain translation, else the message itself.
    assert fr.pgettext("building", "school") == "\u00e9cole"
    assert fr.pgettext("x", "left") == "left"
    assert fr.pgettext("x", "club", "clubs", 5) == "clubs"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_csv_encodings_detected(tmp_path: Path, encoding: str) -> None:
    text = Path(CSV_DIR, "fr_FR.csv").read_text("utf-8")
    (tmp_path / "fr_FR.csv").write_bytes(text.encode(encoding))
    wl.load_translations(str(tmp_path))
    assert wl.get("fr_FR").translate("school") == "\u00e9cole"


def test_csv_explicit_encoding(tmp_path: Path) -> None:
    (tmp_path / "de_DE.csv").write_bytes('"street","Stra\u00dfe"\n'.encode("latin-1"))
    wl.load_translations(str(tmp_path), encoding="latin-1")
    assert wl.get("de_DE").translate("street") == "Stra\u00dfe"


def test_csv_bad_names_and_rows_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "not-a-locale.csv").write_text('"a","b"\n', "utf-8")
    (tmp_path / "README.txt").write_text("ignored", "utf-8")
    (tmp_path / "it_IT.csv").write_text(
        '"yes","s\u00ec"\n"no","no","dual"\n\n"lonely"\n', "utf-8"
    )
    with caplog.at_level(logging.ERROR, logger="whirlwind.general"):
        wl.load_translations(str(tmp_path))
    messages = [r.getMessage() for r in caplog.records]
    assert any("Unrecognized locale 'not-a-locale'" in m for m in messages)
    assert any(
        "Unrecognized plural indicator 'dual' in it_IT.csv line 2" in m
        for m in messages
    )
    assert set(wl.get_supported_locales()) == {"en_US", "it_IT"}
    assert wl.get("it_IT").translate("yes") == "s\u00ec"
    assert wl.get("it_IT").translate("no") == "no"


def test_gettext_translations(tmp_path: Path) -> None:
    write_mo(
        tmp_path / "fr_FR" / "LC_MESSAGES" / "app.mo",
        FRENCH_CATALOG,
        "nplurals=2; plural=(n > 1);",
    )
    write_mo(
        tmp_path / "pl_PL" / "LC_MESSAGES" / "app.mo",
        {"card\x00cards": "karta\x00karty\x00kart"},
        "nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
    )
    wl.load_gettext_translations(str(tmp_path), "app")
    assert set(wl.get_supported_locales()) == {"en_US", "fr_FR", "pl_PL"}
    fr = wl.get("fr_FR")
    assert isinstance(fr, GettextLocale)
    assert fr.translate("school") == "\u00e9cole"
    assert fr.translate("missing") == "missing"
    # French uses the singular for 0 and 1: the catalog's rule, not English's.
    assert fr.translate("apple", "apples", 0) == "pomme"
    assert fr.translate("apple", "apples", 2) == "pommes"
    assert fr.pgettext("law", "right") == "le droit"
    assert fr.pgettext("good", "right") == "le bien"
    assert fr.pgettext("nowhere", "right") == "right"
    assert fr.pgettext("organization", "club", "clubs", 1) == "le club"
    assert fr.pgettext("organization", "club", "clubs", 2) == "les clubs"
    assert fr.pgettext("stick", "club", "clubs", 1) == "le b\u00e2ton"
    assert fr.pgettext("stick", "club", "clubs", 2) == "les b\u00e2tons"
    # Unknown context: the translation without context.
    assert fr.pgettext("deck", "card", "cards", 3) == "cartes"
    pl = wl.get("pl_PL")
    assert [pl.translate("card", "cards", n) for n in (1, 3, 5, 22)] == [
        "karta",
        "karty",
        "kart",
        "karty",
    ]
    # Month and weekday names come from the catalog too.
    day = datetime.datetime(2013, 4, 28, 18, 35)
    assert fr.format_day(day) == "dimanche, avril 28"
    assert fr.list(["a", "b", "c"]) == "a, b et c"


def test_gettext_broken_catalog_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "de_DE" / "LC_MESSAGES" / "app.mo"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a catalog")
    write_mo(
        tmp_path / "fr_FR" / "LC_MESSAGES" / "app.mo",
        FRENCH_CATALOG,
        "nplurals=2; plural=(n > 1);",
    )
    with caplog.at_level(logging.ERROR, logger="whirlwind.general"):
        wl.load_gettext_translations(str(tmp_path), "app")
    assert any(
        "Cannot load translation for 'de_DE'" in r.getMessage() for r in caplog.records
    )
    assert set(wl.get_supported_locales()) == {"en_US", "fr_FR"}


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (("fr_FR",), "fr_FR"),
        (("fr-fr",), "fr_FR"),
        (("FR_fr",), "fr_FR"),
        (("es",), "es"),
        (("es_MX",), "es"),
        (("de_DE", "es-AR"), "es"),
        (("pt_BR_extra", "", "fr_FR"), "fr_FR"),
        (("fr_CA",), "en_US"),
        ((), "en_US"),
    ],
)
def test_get_closest(tmp_path: Path, codes: tuple[str, ...], expected: str) -> None:
    (tmp_path / "fr_FR.csv").write_text('"a","b"\n', "utf-8")
    (tmp_path / "es.csv").write_text('"a","c"\n', "utf-8")
    wl.load_translations(str(tmp_path))
    assert wl.get(*codes).code == expected
    assert Locale.get_closest(*codes) is wl.get(*codes)


def test_default_locale() -> None:
    wl.set_default_locale("de_DE")
    assert "de_DE" in wl.get_supported_locales()
    assert wl.get("xx_YY").code == "de_DE"
    assert wl.get("de_DE").translate("Hello") == "Hello"
    with pytest.raises(ValueError):
        Locale.get("en_US")


def test_locale_names_and_direction() -> None:
    assert wl.LOCALE_NAMES["es_LA"]["name"] == "Espa\u00f1ol"
    assert wl.LOCALE_NAMES["ja_JP"]["name_en"] == "Japanese"
    assert len(wl.LOCALE_NAMES) >= 60
    assert CSVLocale("ar_AR", {}).rtl and CSVLocale("he_IL", {}).rtl
    assert not CSVLocale("en_US", {}).rtl
    assert CSVLocale("xx_XX", {}).name == "Unknown"


def test_format_date_absolute() -> None:
    en = wl.get("en_US")
    date = datetime.datetime(2013, 4, 28, 18, 35)
    assert en.format_date(date, full_format=True) == "April 28, 2013 at 6:35 pm"
    assert en.format_date(date, full_format=True, shorter=True) == "April 28, 2013"
    assert en.format_date(date, relative=False) == "April 28, 2013 at 6:35 pm"
    # gmt_offset is minutes west of UTC: 300 means UTC-5.
    assert (
        en.format_date(date, gmt_offset=300, full_format=True)
        == "April 28, 2013 at 1:35 pm"
    )
    midnight = datetime.datetime(2013, 4, 28, 0, 5)
    assert en.format_date(midnight, full_format=True) == "April 28, 2013 at 12:05 am"
    stamp = date.replace(tzinfo=UTC).timestamp()
    assert en.format_date(stamp, full_format=True) == "April 28, 2013 at 6:35 pm"
    assert en.format_date(int(stamp), full_format=True) == "April 28, 2013 at 6:35 pm"
    # An aware datetime in another zone is converted to UTC first.
    paris = datetime.timezone(datetime.timedelta(hours=2))
    aware = datetime.datetime(2013, 4, 28, 20, 35, tzinfo=paris)
    assert en.format_date(aware, full_format=True) == "April 28, 2013 at 6:35 pm"


def test_format_date_clock_styles() -> None:
    date = datetime.datetime(2013, 4, 28, 18, 35)
    assert (
        CSVLocale("de_DE", {}).format_date(date, full_format=True)
        == "April 28, 2013 at 18:35"
    )
    assert CSVLocale("zh_CN", {}).format_date(date, full_format=True) == (
        "April 28, 2013 at \u4e0b\u53486:35"
    )
    wl.load_translations(CSV_DIR)
    assert (
        wl.get("fr_FR").format_date(date, full_format=True)
        == "28 avril 2013 \u00e0 18:35"
    )


@pytest.mark.parametrize("aware", [True, False])
def test_format_date_relative(aware: bool) -> None:
    en = wl.get("en_US")
    now = datetime.datetime.now(UTC)
    if not aware:
        now = now.replace(tzinfo=None)
    ago = lambda **kw: en.format_date(now - datetime.timedelta(**kw))  # noqa: E731
    assert ago(seconds=10) in ("10 seconds ago", "11 seconds ago", "12 seconds ago")
    assert ago(seconds=0) in ("0 seconds ago", "1 second ago", "2 seconds ago")
    assert ago(minutes=2) == "2 minutes ago"
    assert ago(minutes=1) == "1 minute ago"
    assert ago(hours=2) == "2 hours ago"
    assert ago(hours=1) == "1 hour ago"
    shorter = lambda **kw: en.format_date(now - datetime.timedelta(**kw), shorter=True)  # noqa: E731
    assert shorter(days=1) == "yesterday"
    two_days = now - datetime.timedelta(days=2)
    assert shorter(days=2) == en._weekdays[two_days.weekday()]
    assert en.format_date(two_days).startswith(
        en._weekdays[two_days.weekday()] + " at "
    )
    far = now - datetime.timedelta(days=300)
    assert shorter(days=300) == f"{en._months[far.month - 1]} {far.day}"
    older = now - datetime.timedelta(days=500)
    assert (
        shorter(days=500) == f"{en._months[older.month - 1]} {older.day}, {older.year}"
    )
    future = now + datetime.timedelta(days=1, seconds=30)
    assert en.format_date(future, shorter=True) == (
        f"{en._months[future.month - 1]} {future.day}, {future.year}"
    )
    # Within a minute in the future is clock skew: treated as now.
    assert en.format_date(now + datetime.timedelta(seconds=20)) in (
        "0 seconds ago",
        "1 second ago",
    )


def test_format_day_list_and_numbers() -> None:
    en = wl.get("en_US")
    date = datetime.datetime(2013, 4, 28, 18, 35)
    assert en.format_day(date) == "Sunday, April 28"
    assert en.format_day(date, dow=False) == "April 28"
    assert en.format_day(date, gmt_offset=24 * 60) == "Saturday, April 27"
    assert en.list([]) == ""
    assert en.list(["A"]) == "A"
    assert en.list(["A", "B"]) == "A and B"
    assert en.list(["A", "B", "C"]) == "A, B and C"
    assert CSVLocale("fa_IR", {}).list(["A", "B", "C"]) == "A \u0648 B and C"
    assert en.friendly_number(1000000) == "1,000,000"
    assert en.friendly_number(999) == "999"
    assert en.friendly_number(-1234) == "-1,234"
    assert CSVLocale("de_DE", {}).friendly_number(1000000) == "1000000"
    wl.load_translations(CSV_DIR)
    fr = wl.get("fr_FR")
    assert fr.format_day(date) == "dimanche 28 avril"
    assert fr.list(["A", "B", "C"]) == "A, B et C"
