"""Translations and locale-aware formatting of dates, lists and numbers.

Contents:

* `get`, `set_default_locale`, `get_supported_locales`.
* `load_translations` (a directory of ``LOCALE.csv`` files) and
  `load_gettext_translations` (a ``LOCALE/LC_MESSAGES/DOMAIN.mo`` tree).
* `Locale` (`Locale.get`, `Locale.get_closest`, ``translate``, ``pgettext``,
  ``format_date``, ``format_day``, ``list``, ``friendly_number``) and its
  two implementations `CSVLocale` and `GettextLocale`.
* `LOCALE_NAMES`, `CONTEXT_SEPARATOR`.

Usage::

    whirlwind.locale.load_translations("translations")
    user_locale = whirlwind.locale.get("es_LA")
    text = user_locale.translate("%(n)d apple", "%(n)d apples", n) % {"n": n}

Messages are written in the default locale's language (``en_US`` unless
`set_default_locale` says otherwise); without translations every message is
returned unchanged.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import gettext
import glob
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "CONTEXT_SEPARATOR",
    "CSVLocale",
    "GettextLocale",
    "LOCALE_NAMES",
    "Locale",
    "get",
    "get_supported_locales",
    "load_gettext_translations",
    "load_translations",
    "set_default_locale",
]

_log = logging.getLogger("whirlwind.general")

# Module state, replaced wholesale by the loaders (tests save and restore it).
_default_locale = "en_US"
_translations: dict[str, Any] = {}
_supported_locales: frozenset[str] = frozenset([_default_locale])
_use_gettext = False

# `Locale.get_closest`'s answers by codes. They hold while the state they
# were computed from does: `_supported_locales` and `_default_locale` (the
# loaders replace the set, never mutate it, so identity tells), and a hit is
# used only if it is still the object `Locale._cache` holds for its code.
_closest: dict[tuple[str, ...], Locale] = {}
_closest_for: tuple[frozenset[str], str] = (_supported_locales, _default_locale)
_CLOSEST_MAX = 512

#: Joins a message context and the message, as gettext's ``msgctxt`` does.
CONTEXT_SEPARATOR = "\x04"

_UTC = datetime.timezone.utc
_PLURAL_KINDS = ("plural", "singular", "unknown")
_LOCALE_FILE_RE = re.compile(r"[a-z]+(_[A-Z]+)?$")


def get(*locale_codes: str) -> Locale:
    """Return the `Locale` that best matches the given codes, tried in order
    (an exact match, then the bare language); else the default locale."""
    return Locale.get_closest(*locale_codes)


def set_default_locale(code: str) -> None:
    """Set the locale that messages are written in.

    It is always supported, needs no translation file, and is what `get`
    returns when nothing better matches.
    """
    global _default_locale, _supported_locales
    _default_locale = code
    _supported_locales = frozenset([*_translations, _default_locale])


def get_supported_locales() -> Iterable[str]:
    """The codes of the loaded locales plus the default one."""
    return _supported_locales


def _detect_encoding(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(2)
    if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    # "utf-8-sig" also reads plain UTF-8 and drops the BOM Excel writes.
    return "utf-8-sig"


def load_translations(directory: str, encoding: str | None = None) -> None:
    """Load every ``LOCALE.csv`` file in ``directory`` (e.g. ``es_GT.csv``).

    Each row is ``message,translation[,plural[,context]]``:

    * ``plural`` is ``singular`` or ``plural`` for the two forms used by
      ``translate(message, plural_message, count)``, or ``unknown`` / empty /
      absent for a message without plural forms. The plural row is keyed by
      the plural message.
    * ``context`` (a whirlwind extension) gives the translation that
      ``pgettext(context, message)`` returns.

    Messages may hold named placeholders such as ``%(name)s``. Files are read
    with the `csv` module's default dialect (no space after commas). Without
    an ``encoding`` each file's is detected: UTF-16 with a BOM, else UTF-8
    with or without a BOM. Bad file names and plural markers are logged and
    skipped. Replaces any translations loaded before.

    Example ``es_LA.csv``::

        "I love you","Te amo"
        "%(name)s liked this","A %(name)s le gustó esto","singular"
        "%(name)s liked this","A %(name)s les gustó esto","plural"
    """
    global _translations, _supported_locales, _use_gettext
    loaded: dict[str, dict[str, dict[str, str]]] = {}
    for filename in sorted(os.listdir(directory)):
        code, ext = os.path.splitext(filename)
        if ext != ".csv":
            continue
        path = os.path.join(directory, filename)
        if not _LOCALE_FILE_RE.match(code):
            _log.error("Unrecognized locale %r (path: %s)", code, path)
            continue
        table: dict[str, dict[str, str]] = {}
        with open(path, encoding=encoding or _detect_encoding(path), newline="") as f:
            for number, row in enumerate(csv.reader(f), 1):
                if len(row) < 2:
                    continue
                cells = [cell.strip() for cell in row]
                message, translation = cells[0], cells[1]
                kind = (cells[2] if len(cells) > 2 else "") or "unknown"
                if kind not in _PLURAL_KINDS:
                    _log.error(
                        "Unrecognized plural indicator %r in %s line %d",
                        kind,
                        filename,
                        number,
                    )
                    continue
                if len(cells) > 3 and cells[3]:
                    message = cells[3] + CONTEXT_SEPARATOR + message
                table.setdefault(kind, {})[message] = translation
        loaded[code] = table
    _translations = loaded
    _use_gettext = False
    _supported_locales = frozenset([*loaded, _default_locale])
    _log.debug("Supported locales: %s", sorted(_supported_locales))


def load_gettext_translations(directory: str, domain: str) -> None:
    """Load gettext catalogs ``{directory}/{locale}/LC_MESSAGES/{domain}.mo``.

    The usual workflow: ``xgettext --language=Python --keyword=_:1,2
    --keyword=pgettext:1c,2 --keyword=pgettext:1c,2,3 -d DOMAIN files...``
    to extract messages, ``msgmerge`` to update the ``.po`` files, and
    ``msgfmt DOMAIN.po -o {directory}/{locale}/LC_MESSAGES/DOMAIN.mo`` to
    compile them. Catalogs that fail to load are logged and skipped.
    Replaces any translations loaded before.
    """
    global _translations, _supported_locales, _use_gettext
    loaded: dict[str, gettext.NullTranslations] = {}
    pattern = os.path.join(directory, "*", "LC_MESSAGES", domain + ".mo")
    for path in sorted(glob.glob(pattern)):
        code = os.path.basename(os.path.dirname(os.path.dirname(path)))
        try:
            loaded[code] = gettext.translation(domain, directory, languages=[code])
        except Exception as e:
            _log.error("Cannot load translation for '%s': %s", code, e)
    _translations = loaded
    _use_gettext = True
    _supported_locales = frozenset([*loaded, _default_locale])
    _log.debug("Supported locales: %s", sorted(_supported_locales))


class Locale:
    """A language and the translations and formats that go with it.

    Obtain one with `get` or `Locale.get_closest` (after loading
    translations), not by calling the class.
    """

    _cache: dict[str, Locale] = {}

    @classmethod
    def get_closest(cls, *locale_codes: str) -> Locale:
        """Return the first supported locale among ``locale_codes``.

        Codes may use ``-`` or ``_`` and any case (``pt-br`` means
        ``pt_BR``); a code matches exactly or by its language alone (``fr``
        for ``fr_CA``). Falls back to the default locale.
        """
        # Browsers send a handful of distinct Accept-Language values, so
        # answers are remembered per codes (see `_closest`).
        global _closest_for
        if _closest_for[0] is not _supported_locales or (
            _closest_for[1] != _default_locale
        ):
            _closest.clear()
            _closest_for = (_supported_locales, _default_locale)
        found = _closest.get(locale_codes)
        if found is not None and cls._cache.get(found.code) is found:
            return found
        found = cls._find_closest(locale_codes)
        if len(_closest) >= _CLOSEST_MAX:
            _closest.clear()  # codes come from clients: bound the memory
        _closest[locale_codes] = found
        return found

    @classmethod
    def _find_closest(cls, locale_codes: tuple[str, ...]) -> Locale:
        for code in locale_codes:
            if not code:
                continue
            parts = code.replace("-", "_").split("_")
            if len(parts) > 2:
                continue
            language = parts[0].lower()
            full = f"{language}_{parts[1].upper()}" if len(parts) == 2 else parts[0]
            if full in _supported_locales:
                return cls.get(full)
            if language in _supported_locales:
                return cls.get(language)
        return cls.get(_default_locale)

    @classmethod
    def get(cls, code: str) -> Locale:
        """Return the `Locale` for the supported locale ``code`` (cached).

        Raises `ValueError` for a code that is not supported.
        """
        locale = cls._cache.get(code)
        if locale is None:
            if code not in _supported_locales:
                raise ValueError(f"unsupported locale {code!r}")
            translations = _translations.get(code)
            if translations is None:
                locale = CSVLocale(code, {})
            elif _use_gettext:
                locale = GettextLocale(code, translations)
            else:
                locale = CSVLocale(code, translations)
            cls._cache[code] = locale
        return locale

    def __init__(self, code: str) -> None:
        self.code = code
        self.name: str = LOCALE_NAMES.get(code, {}).get("name", "Unknown")
        self.rtl = code.startswith(("fa", "ar", "he"))
        _ = self.translate
        self._months = [
            _("January"),
            _("February"),
            _("March"),
            _("April"),
            _("May"),
            _("June"),
            _("July"),
            _("August"),
            _("September"),
            _("October"),
            _("November"),
            _("December"),
        ]
        self._weekdays = [
            _("Monday"),
            _("Tuesday"),
            _("Wednesday"),
            _("Thursday"),
            _("Friday"),
            _("Saturday"),
            _("Sunday"),
        ]

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        """Translate ``message``.

        With ``plural_message`` (and then ``count``, required), the plural
        form is chosen for ``count``; in the default language that is
        ``message`` when ``count == 1`` and ``plural_message`` otherwise.
        """
        raise NotImplementedError()

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """Like `translate`, for ``message`` in ``context`` (one English
        word may need several translations: ``pgettext("law", "right")``).
        Falls back to the translation without context."""
        raise NotImplementedError()

    def format_date(
        self,
        date: int | float | datetime.datetime,
        gmt_offset: int = 0,
        relative: bool = True,
        shorter: bool = False,
        full_format: bool = False,
    ) -> str:
        """Format ``date`` (a timestamp or a datetime; naive means UTC).

        Recent past dates read "2 minutes ago", "yesterday at 4:05 pm",
        "Monday at 4:05 pm" or "March 3 at 4:05 pm"; older ones, future ones
        and ``full_format=True`` read "March 3, 2024 at 4:05 pm".
        ``relative=False`` turns off the "... ago" and "yesterday" forms,
        ``shorter=True`` drops the time of day, and ``gmt_offset`` is the
        viewer's offset in minutes *west* of UTC (as JavaScript's
        ``getTimezoneOffset`` returns it).
        """
        if isinstance(date, (int, float)):
            date = datetime.datetime.fromtimestamp(date, _UTC)
        elif date.tzinfo is None:
            date = date.replace(tzinfo=_UTC)
        else:
            date = date.astimezone(_UTC)
        now = datetime.datetime.now(_UTC)
        if date > now:
            # Slightly future times are clock skew: call them "now".
            if relative and (date - now).total_seconds() < 60:
                date = now
            else:
                full_format = True
        shift = datetime.timedelta(minutes=gmt_offset)
        local_date = date - shift
        local_yesterday = now - shift - datetime.timedelta(hours=24)
        age = now - date
        days, seconds = age.days, age.seconds

        _ = self.translate
        template: str | None = None
        if not full_format:
            if relative and days == 0:
                if seconds < 50:
                    return _("1 second ago", "%(seconds)d seconds ago", seconds) % {
                        "seconds": seconds
                    }
                if seconds < 50 * 60:
                    minutes = round(seconds / 60)
                    return _("1 minute ago", "%(minutes)d minutes ago", minutes) % {
                        "minutes": minutes
                    }
                hours = round(seconds / 3600)
                return _("1 hour ago", "%(hours)d hours ago", hours) % {"hours": hours}
            if days == 0:
                template = _("%(time)s")
            elif days == 1 and relative and local_date.day == local_yesterday.day:
                template = _("yesterday") if shorter else _("yesterday at %(time)s")
            elif days < 5:
                template = _("%(weekday)s") if shorter else _("%(weekday)s at %(time)s")
            elif days < 334:  # not "March 3" for a March 3 almost a year ago
                template = (
                    _("%(month_name)s %(day)s")
                    if shorter
                    else _("%(month_name)s %(day)s at %(time)s")
                )
        if template is None:
            template = (
                _("%(month_name)s %(day)s, %(year)s")
                if shorter
                else _("%(month_name)s %(day)s, %(year)s at %(time)s")
            )
        return template % {
            "month_name": self._months[local_date.month - 1],
            "weekday": self._weekdays[local_date.weekday()],
            "day": str(local_date.day),
            "year": str(local_date.year),
            "time": self._clock(local_date.hour, local_date.minute),
        }

    def _clock(self, hour: int, minute: int) -> str:
        # English uses a 12-hour clock with am/pm, Simplified Chinese a
        # 12-hour clock with a morning/afternoon prefix, the rest 24 hours.
        twelve = hour % 12 or 12
        if self.code in ("en", "en_US"):
            return f"{twelve}:{minute:02d} {'pm' if hour >= 12 else 'am'}"
        if self.code == "zh_CN":
            half = "\u4e0b\u5348" if hour >= 12 else "\u4e0a\u5348"
            return f"{half}{twelve}:{minute:02d}"
        return f"{hour}:{minute:02d}"

    def format_day(
        self, date: datetime.datetime, gmt_offset: int = 0, dow: bool = True
    ) -> str:
        """Format the day of ``date``: "Monday, January 22", or with
        ``dow=False`` "January 22"."""
        local_date = date - datetime.timedelta(minutes=gmt_offset)
        _ = self.translate
        values = {
            "month_name": self._months[local_date.month - 1],
            "weekday": self._weekdays[local_date.weekday()],
            "day": str(local_date.day),
        }
        if dow:
            return _("%(weekday)s, %(month_name)s %(day)s") % values
        return _("%(month_name)s %(day)s") % values

    def list(self, parts: Sequence[str]) -> str:
        """Join ``parts`` as a list in prose: "A, B and C", "A and B", "A"."""
        if not parts:
            return ""
        if len(parts) == 1:
            return parts[0]
        separator = " \u0648 " if self.code.startswith("fa") else ", "
        return self.translate("%(commas)s and %(last)s") % {
            "commas": separator.join(parts[:-1]),
            "last": parts[-1],
        }

    def friendly_number(self, value: int) -> str:
        """Format an integer with thousands separators where the locale's
        convention is known (English: "1,000,000"); elsewhere plain digits."""
        if self.code in ("en", "en_US"):
            return f"{value:,}"
        return str(value)


class CSVLocale(Locale):
    """A locale whose translations come from `load_translations`.

    ``translations`` maps ``"singular"``, ``"plural"`` and ``"unknown"`` to
    dicts of ``{message: translation}``.
    """

    def __init__(self, code: str, translations: dict[str, dict[str, str]]) -> None:
        self.translations = translations
        super().__init__(code)

    def _lookup(
        self, message: str, plural_message: str | None, count: int | None
    ) -> tuple[str, bool]:
        if plural_message is None:
            table = self.translations.get("unknown", {})
        elif count is None:
            raise TypeError("translate() needs count with plural_message")
        elif count == 1:
            table = self.translations.get("singular", {})
        else:
            table = self.translations.get("plural", {})
            message = plural_message
        found = table.get(message)
        return (message, False) if found is None else (found, True)

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        return self._lookup(message, plural_message, count)[0]

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        prefix = context + CONTEXT_SEPARATOR
        plural = None if plural_message is None else prefix + plural_message
        text, found = self._lookup(prefix + message, plural, count)
        if found:
            return text
        return self.translate(message, plural_message, count)


class GettextLocale(Locale):
    """A locale whose translations are a `gettext` catalog."""

    def __init__(self, code: str, translations: gettext.NullTranslations) -> None:
        # Bound before Locale.__init__, which translates month names.
        self.gettext = translations.gettext
        self.ngettext = translations.ngettext
        super().__init__(code)

    def translate(
        self, message: str, plural_message: str | None = None, count: int | None = None
    ) -> str:
        if plural_message is None:
            return self.gettext(message)
        if count is None:
            raise TypeError("translate() needs count with plural_message")
        return self.ngettext(message, plural_message, count)

    def pgettext(
        self,
        context: str,
        message: str,
        plural_message: str | None = None,
        count: int | None = None,
    ) -> str:
        """Translate ``message`` in ``context``; see `Locale.pgettext`.

        Extract such messages with ``xgettext --keyword=pgettext:1c,2
        --keyword=pgettext:1c,2,3``.
        """
        prefix = context + CONTEXT_SEPARATOR
        # gettext returns its (prefixed) argument when a message is missing,
        # so a separator in the result means "no contextual translation".
        if plural_message is None:
            result = self.gettext(prefix + message)
            return message if CONTEXT_SEPARATOR in result else result
        if count is None:
            raise TypeError("pgettext() needs count with plural_message")
        result = self.ngettext(prefix + message, prefix + plural_message, count)
        if CONTEXT_SEPARATOR in result:
            return self.ngettext(message, plural_message, count)
        return result


def _names(table: str) -> dict[str, dict[str, str]]:
    # One "code|English name|native name" per line.
    result = {}
    for row in table.strip().splitlines():
        code, english, native = row.strip().split("|")
        result[code] = {"name_en": english, "name": native}
    return result


#: ``{code: {"name_en": English name, "name": name in the language itself}}``.
LOCALE_NAMES: dict[str, dict[str, str]] = _names(
    """
    af_ZA|Afrikaans|Afrikaans
    am_ET|Amharic|\u12a0\u121b\u122d\u129b
    ar_AR|Arabic|\u0627\u0644\u0639\u0631\u0628\u064a\u0629
    bg_BG|Bulgarian|\u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438
    bn_IN|Bengali|\u09ac\u09be\u0982\u09b2\u09be
    bs_BA|Bosnian|Bosanski
    ca_ES|Catalan|Catal\u00e0
    cs_CZ|Czech|\u010ce\u0161tina
    cy_GB|Welsh|Cymraeg
    da_DK|Danish|Dansk
    de_DE|German|Deutsch
    el_GR|Greek|\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac
    en_GB|English (UK)|English (UK)
    en_US|English (US)|English (US)
    es_ES|Spanish (Spain)|Espa\u00f1ol (Espa\u00f1a)
    es_LA|Spanish|Espa\u00f1ol
    et_EE|Estonian|Eesti
    eu_ES|Basque|Euskara
    fa_IR|Persian|\u0641\u0627\u0631\u0633\u06cc
    fi_FI|Finnish|Suomi
    fr_CA|French (Canada)|Fran\u00e7ais (Canada)
    fr_FR|French|Fran\u00e7ais
    ga_IE|Irish|Gaeilge
    gl_ES|Galician|Galego
    he_IL|Hebrew|\u05e2\u05d1\u05e8\u05d9\u05ea
    hi_IN|Hindi|\u0939\u093f\u0928\u094d\u0926\u0940
    hr_HR|Croatian|Hrvatski
    hu_HU|Hungarian|Magyar
    id_ID|Indonesian|Bahasa Indonesia
    is_IS|Icelandic|\u00cdslenska
    it_IT|Italian|Italiano
    ja_JP|Japanese|\u65e5\u672c\u8a9e
    ko_KR|Korean|\ud55c\uad6d\uc5b4
    lt_LT|Lithuanian|Lietuvi\u0173
    lv_LV|Latvian|Latvie\u0161u
    mk_MK|Macedonian|\u041c\u0430\u043a\u0435\u0434\u043e\u043d\u0441\u043a\u0438
    ml_IN|Malayalam|\u0d2e\u0d32\u0d2f\u0d3e\u0d33\u0d02
    ms_MY|Malay|Bahasa Melayu
    nb_NO|Norwegian (bokmal)|Norsk (bokm\u00e5l)
    nl_NL|Dutch|Nederlands
    nn_NO|Norwegian (nynorsk)|Norsk (nynorsk)
    pa_IN|Punjabi|\u0a2a\u0a70\u0a1c\u0a3e\u0a2c\u0a40
    pl_PL|Polish|Polski
    pt_BR|Portuguese (Brazil)|Portugu\u00eas (Brasil)
    pt_PT|Portuguese (Portugal)|Portugu\u00eas (Portugal)
    ro_RO|Romanian|Rom\u00e2n\u0103
    ru_RU|Russian|\u0420\u0443\u0441\u0441\u043a\u0438\u0439
    sk_SK|Slovak|Sloven\u010dina
    sl_SI|Slovenian|Sloven\u0161\u010dina
    sq_AL|Albanian|Shqip
    sr_RS|Serbian|\u0421\u0440\u043f\u0441\u043a\u0438
    sv_SE|Swedish|Svenska
    sw_KE|Swahili|Kiswahili
    ta_IN|Tamil|\u0ba4\u0bae\u0bbf\u0bb4\u0bcd
    te_IN|Telugu|\u0c24\u0c46\u0c32\u0c41\u0c17\u0c41
    th_TH|Thai|\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22
    tl_PH|Filipino|Filipino
    tr_TR|Turkish|T\u00fcrk\u00e7e
    uk_UA|Ukrainian|\u0423\u043a\u0440\u0430\u0457\u043d\u0441\u044c\u043a\u0430
    vi_VN|Vietnamese|Ti\u1ebfng Vi\u1ec7t
    zh_CN|Chinese (Simplified)|\u4e2d\u6587(\u7b80\u4f53)
    zh_TW|Chinese (Traditional)|\u4e2d\u6587(\u7e41\u9ad4)
    """
)
