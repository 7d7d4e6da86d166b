"""The HMI's languages (issue 19): English, the source language, and Simplified Chinese (zh_CN)
through Qt's translation system.

Every text a screen shows is written as ``translate("Context", "English text")`` (Qt's
``QCoreApplication.translate``; ``pyside6-lupdate`` finds these calls and writes them into
``cellctl_zh_CN.ts``; ``pyside6-lrelease`` compiles it to the ``.qm`` loaded here:
``python -m cellctl.gui.i18n.build``, or ``make translations``). The fault catalogue lives
outside the GUI: its texts and operator actions are translated in the contexts ``Fault`` and
``FaultAction``, disambiguated by the fault code (``catalogue_strings.py``, generated from the
catalogue, is what lupdate reads for them).

``install(language)`` switches the whole application at run time: Qt's translator, the default
``QLocale`` (numbers, dates) and, the first time, the CJK font shipped in ``cellctl/gui/fonts``
(a subset of Noto Sans CJK SC, SIL Open Font License), so that a fresh machine without any
CJK font still draws Chinese. Screens set their static texts through ``Texts`` and say them
again when the language changes; nothing is restarted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QDateTime, QLocale, QTranslator
from PySide6.QtGui import QFontDatabase

from cellctl.cell.faults import CATALOGUE, FaultCode

translate = QCoreApplication.translate  # the name lupdate looks for

I18N_FOLDER = Path(__file__).resolve().parent
FONT_FOLDER = I18N_FOLDER.parent / "fonts"
SOURCE_LANGUAGE = "en"
# Each language by its own name: the operator who cannot read the current one finds theirs.
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
LOCALES = {"en": "en_GB", "zh_CN": "zh_CN"}


def qm_path(language: str) -> Path:
    return I18N_FOLDER / f"cellctl_{language}.qm"


def ts_path(language: str) -> Path:
    return I18N_FOLDER / f"cellctl_{language}.ts"


class UnknownLanguage(ValueError):
    pass


class _Installed:
    """Qt's translators belong to the application, not to a window: this holds the one
    installed (Qt keeps only a pointer, so Python must keep the object alive) and the fonts
    loaded. Touched from the Qt thread only."""

    translator: QTranslator | None = None
    language = SOURCE_LANGUAGE
    font_families: tuple[str, ...] | None = None


def current_language() -> str:
    return _Installed.language


def install(language: str) -> None:
    """Make ``language`` the application's: every ``translate`` from now on answers in it.
    Qt also posts a LanguageChange event to every widget; our screens retranslate when their
    window tells them (``HmiWindow.set_language``)."""
    if language not in LANGUAGES:
        raise UnknownLanguage(
            f"unknown HMI language {language!r}: expected one of {', '.join(LANGUAGES)}"
        )
    load_fonts()
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("install a language after the QApplication is made")
    if _Installed.translator is not None:
        app.removeTranslator(_Installed.translator)
        _Installed.translator = None
    if language != SOURCE_LANGUAGE:
        translator = QTranslator()
        path = qm_path(language)
        if not translator.load(str(path)):
            raise FileNotFoundError(
                f"{path}: the compiled translation is missing or unreadable "
                "(make translations builds it from the .ts)"
            )
        app.installTranslator(translator)
        _Installed.translator = translator
    locale = QLocale(LOCALES[language])
    locale.setNumberOptions(QLocale.NumberOption.OmitGroupSeparator)
    QLocale.setDefault(locale)
    _Installed.language = language


def load_fonts() -> tuple[str, ...]:
    """Register the shipped CJK font with Qt (once per application); returns its families.
    Qt falls back to it for every Han character the widget's own font lacks."""
    if _Installed.font_families is None:
        families: list[str] = []
        for path in sorted(FONT_FOLDER.glob("*.otf")):
            font_id = QFontDatabase.addApplicationFont(str(path))
            if font_id < 0:
                raise OSError(f"{path}: Qt could not load this font")
            families.extend(QFontDatabase.applicationFontFamilies(font_id))
        _Installed.font_families = tuple(dict.fromkeys(families))
    return _Installed.font_families


class Texts:
    """The static texts of one screen: each a setter and a function that says the text in the
    current language. ``bind`` sets it at once; ``apply`` says them all again (at a language
    change). Write ``say`` as ``lambda: translate("Context", "text")`` so lupdate finds it."""

    def __init__(self) -> None:
        self._bound: list[tuple[Callable[[str], object], Callable[[], str]]] = []

    def bind(self, setter: Callable[[str], object], say: Callable[[], str]) -> None:
        self._bound.append((setter, say))
        setter(say())

    def apply(self) -> None:
        for setter, say in self._bound:
            setter(say())


# -- the cell's own words, translated by table ---------------------------------------------------

SCREEN_TITLES = {
    "Overview": QT_TRANSLATE_NOOP("Screens", "Overview"),
    "Production": QT_TRANSLATE_NOOP("Screens", "Production"),
    "Faults": QT_TRANSLATE_NOOP("Screens", "Faults"),
    "Weld": QT_TRANSLATE_NOOP("Screens", "Weld"),
    "Tracking": QT_TRANSLATE_NOOP("Screens", "Tracking"),
}

PACKML_STATES = (
    QT_TRANSLATE_NOOP("PackML", "Idle"),
    QT_TRANSLATE_NOOP("PackML", "Starting"),
    QT_TRANSLATE_NOOP("PackML", "Execute"),
    QT_TRANSLATE_NOOP("PackML", "Completing"),
    QT_TRANSLATE_NOOP("PackML", "Complete"),
    QT_TRANSLATE_NOOP("PackML", "Resetting"),
    QT_TRANSLATE_NOOP("PackML", "Holding"),
    QT_TRANSLATE_NOOP("PackML", "Held"),
    QT_TRANSLATE_NOOP("PackML", "Unholding"),
    QT_TRANSLATE_NOOP("PackML", "Suspending"),
    QT_TRANSLATE_NOOP("PackML", "Suspended"),
    QT_TRANSLATE_NOOP("PackML", "Unsuspending"),
    QT_TRANSLATE_NOOP("PackML", "Stopping"),
    QT_TRANSLATE_NOOP("PackML", "Stopped"),
    QT_TRANSLATE_NOOP("PackML", "Clearing"),
    QT_TRANSLATE_NOOP("PackML", "Aborting"),
    QT_TRANSLATE_NOOP("PackML", "Aborted"),
    QT_TRANSLATE_NOOP("PackML", "No connection"),
    QT_TRANSLATE_NOOP("PackML", "Unknown"),
)

MODES = (
    QT_TRANSLATE_NOOP("Mode", "production"),
    QT_TRANSLATE_NOOP("Mode", "manual"),
    QT_TRANSLATE_NOOP("Mode", "dry_run"),
)

SEVERITIES = (
    QT_TRANSLATE_NOOP("Severity", "abort"),
    QT_TRANSLATE_NOOP("Severity", "stop"),
    QT_TRANSLATE_NOOP("Severity", "hold"),
    QT_TRANSLATE_NOOP("Severity", "warning"),
)

LINK_STATES = (
    QT_TRANSLATE_NOOP("Link", "up"),
    QT_TRANSLATE_NOOP("Link", "down"),
    QT_TRANSLATE_NOOP("Link", "connecting"),
)


ROLES = (
    QT_TRANSLATE_NOOP("Role", "anonymous"),
    QT_TRANSLATE_NOOP("Role", "operator"),
    QT_TRANSLATE_NOOP("Role", "engineer"),
)


def role_name(role: str) -> str:
    return translate("Role", role)


def screen_title(title: str) -> str:
    return translate("Screens", title)


def state_name(state: str) -> str:
    """A PackML state for the banner: the standard's English name in capitals and, in another
    language, the translation beside it (``EXECUTE  执行``)."""
    translated = translate("PackML", state)
    if translated == state:
        return state.upper()
    return f"{state.upper()}  {translated}"


def mode_name(mode: str) -> str:
    translated = translate("Mode", mode)
    return mode.replace("_", " ") if translated == mode else translated


def severity_name(severity: str) -> str:
    return translate("Severity", severity)


def link_state(state: str) -> str:
    return translate("Link", state)


def fault_text(code: str, english: str = "") -> str:
    """The fault's text in the current language: the catalogue's, translated by its code
    (context ``Fault``); a code the catalogue does not know keeps the controller's text."""
    kind = CATALOGUE.get(FaultCode(code)) if code in FaultCode._value2member_map_ else None
    if kind is None:
        return english or code
    return translate("Fault", kind.text, kind.code)


def fault_action(code: str) -> str:
    """What the operator should do about ``code``, in the current language ('' if unknown)."""
    kind = CATALOGUE.get(FaultCode(code)) if code in FaultCode._value2member_map_ else None
    return "" if kind is None else translate("FaultAction", kind.action, kind.code)


# -- numbers, times and dates in the current locale ----------------------------------------------


def number(value: float, digits: int) -> str:
    return QLocale().toString(float(value), "f", digits)


def clock(unix_s: float) -> str:
    """A time of today as the locale writes it (``13:05:09``); an earlier day with its date."""
    stamp = QDateTime.fromMSecsSinceEpoch(round(unix_s * 1000))
    locale = QLocale()
    if time.localtime(unix_s)[:3] == time.localtime()[:3]:
        return locale.toString(stamp.time(), "HH:mm:ss")
    return locale.toString(stamp, QLocale.FormatType.ShortFormat)


def date_time(unix_s: float) -> str:
    """A date and time as the locale writes them (``2026/12/4 13:05`` in zh_CN)."""
    return QLocale().toString(
        QDateTime.fromMSecsSinceEpoch(round(unix_s * 1000)), QLocale.FormatType.ShortFormat
    )
