"""What ``kit notebook run`` is asked to run: the notebook, its parameters, and
where the run's output and log go.

Everything here is checked before a kernel starts, so a mistake costs exit 2
and nothing else: no output folder, no log, no half-run notebook.

Parameters never carry a secret. Credentials reach the notebook through the
settings file or the environment, which the notebook reads itself; a papermill
parameter is written in clear into the output notebook, where it would stay. So
a key that looks like a credential is refused whatever its value, and so is a
value that looks like one (a JWT, a ``Bearer`` header, or a credential the
settings hold) whatever its key.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any

from kit import logsafe
from kit.errors import ConfigurationError

SECRET_KEY_WORDS = (
    "api_key",
    "apikey",
    "secret",
    "password",
    "passwd",
    "pin",
    "totp",
    "token",
    "jwt",
    "client_code",
)
"""A parameter key containing any of these (case-insensitive) is refused.

Substrings, on purpose: ``mpin``, ``feed_token`` and ``TOTP_SECRET`` are all
caught. The price is the odd innocent name (``mapping`` contains ``pin``),
which costs a rename, never a leak.
"""

NOTEBOOKS_DIR = Path("notebooks")
SUFFIX = ".ipynb"


def looks_secret(key: str) -> bool:
    """Whether a parameter named ``key`` could hold a credential."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_KEY_WORDS)


def parse_value(text: str) -> Any:
    """A ``-p`` value as papermill's own command line reads it: ``True``,
    ``False`` and ``None`` by name, then an int, then a float, else the text."""
    named: dict[str, Any] = {"True": True, "False": False, "None": None}
    if text in named:
        return named[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def build_parameters(
    pairs: Iterable[tuple[str, str]], until: time | None = None
) -> dict[str, Any]:
    """The notebook's parameters from ``-p KEY VALUE`` pairs and ``--until``.

    Raises :class:`ConfigurationError` for a key that is not a Python name, a
    key or value that looks like a secret, or ``until`` given twice. Messages
    name the key, never the value.
    """
    parameters: dict[str, Any] = {}
    for key, text in pairs:
        if not key.isidentifier() or keyword.iskeyword(key):
            raise ConfigurationError(
                f"parameter {key!r} is not a Python name", field="parameters"
            )
        if looks_secret(key):
            raise ConfigurationError(
                f"parameter {key!r} looks like a secret and is refused: credentials "
                "come from the settings file or the environment, never from "
                "parameters (which are written into the output notebook)",
                field="parameters",
            )
        if logsafe.mask(text) != text:
            raise ConfigurationError(
                f"the value of parameter {key!r} looks like a secret (a token or a "
                "configured credential) and is refused",
                field="parameters",
            )
        parameters[key] = parse_value(text)

    if until is not None:
        if "until" in parameters:
            raise ConfigurationError(
                "until given twice: use --until HH:MM or -p until, not both",
                field="until",
            )
        parameters["until"] = until.strftime("%H:%M")
    return parameters


def resolve_notebook(name: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """The notebook ``name`` names: a path, with or without ``.ipynb``, or a
    notebook of ``notebooks_dir`` (``02_live_run`` is
    ``notebooks/02_live_run.ipynb``). Relative paths are from the current
    folder."""
    given = Path(name)
    with_suffix = (
        [given]
        if given.suffix == SUFFIX
        else [given.with_name(f"{given.name}{SUFFIX}"), given]
    )
    candidates = [*with_suffix, *(notebooks_dir / path for path in with_suffix)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = ", ".join(str(path) for path in candidates)
    raise ConfigurationError(
        f"no notebook {name!r} (looked for {tried})", field="notebook"
    )


@dataclass(frozen=True)
class RunPaths:
    """Where one run writes: ``<runs>/<YYYY-MM-DD>/<stem>-<HHMMSS>.ipynb``, the
    log beside it as ``.log``, and after the n-th restart ``...-restart<n>.ipynb``.

    A restart writes a new notebook rather than over the one whose kernel died:
    that notebook is the record of what happened up to the crash. The bot
    resumes from its store either way.
    """

    folder: Path
    name: str

    @classmethod
    def choose(cls, runs_dir: Path, notebook: Path, now: datetime) -> RunPaths:
        """The paths of a run of ``notebook`` starting ``now``; a run that
        started in the same second gets a ``-2``, ``-3``... name."""
        # Absolute: papermill runs the kernel in another folder (``cwd``).
        folder = runs_dir.absolute() / now.strftime("%Y-%m-%d")
        base = f"{notebook.stem}-{now:%H%M%S}"
        name, n = base, 1
        while (folder / f"{name}.log").exists() or (
            folder / f"{name}{SUFFIX}"
        ).exists():
            n += 1
            name = f"{base}-{n}"
        return cls(folder, name)

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def output(self, restart: int = 0) -> Path:
        """The output notebook of the first run (0) or of the n-th restart."""
        tail = f"-restart{restart}" if restart else ""
        return self.folder / f"{self.name}{tail}{SUFFIX}"
