"""Each user's HMI language, remembered by the panel (issue 19: "chosen per user").

The choice lives in the GUI's own settings, an INI file keyed by user name
(``~/.config/cellctl/hmi.ini`` unless ``cellctl gui --settings`` names another): the language
is the operator's, not the cell's, so the controller never hears of it. A user never seen
before gets ``default`` (``cellctl gui --language``, else the machine's locale).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLocale, QSettings

from cellctl.gui.i18n import LANGUAGES, SOURCE_LANGUAGE, UnknownLanguage

ANONYMOUS = "anonymous"  # the key of the user who logs in without a name


def user_settings_path() -> Path:
    return Path.home() / ".config" / "cellctl" / "hmi.ini"


def machine_language() -> str:
    """zh_CN on a machine whose locale is Chinese, else English."""
    return "zh_CN" if QLocale.system().name().startswith("zh") else SOURCE_LANGUAGE


class LanguageChoices:
    """The language of every user who chose one, in one INI file. Qt thread only."""

    def __init__(self, path: Path, default: str | None = None) -> None:
        default = default or machine_language()
        if default not in LANGUAGES:
            raise UnknownLanguage(
                f"unknown HMI language {default!r}: expected one of {', '.join(LANGUAGES)}"
            )
        self.path = path
        self.default = default
        path.parent.mkdir(parents=True, exist_ok=True)
        self._settings = QSettings(str(path), QSettings.Format.IniFormat)

    def language_of(self, user: str | None) -> str:
        stored = self._settings.value(self._key(user))
        # A language this HMI no longer ships (a hand-edited file) falls back, never fails.
        return stored if isinstance(stored, str) and stored in LANGUAGES else self.default

    def remember(self, user: str | None, language: str) -> None:
        if language not in LANGUAGES:
            raise UnknownLanguage(f"unknown HMI language {language!r}")
        self._settings.setValue(self._key(user), language)
        self._settings.sync()

    @staticmethod
    def _key(user: str | None) -> str:
        # QSettings treats "/" as a group separator: keep a user's name one key.
        return "language/" + (user or ANONYMOUS).replace("/", "_")
