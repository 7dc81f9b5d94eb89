"""Where verbs write files: parent directories a fresh machine does not have yet."""

from __future__ import annotations

import os
from pathlib import Path

from sluice.errors import ConfigError

__all__ = ["ensure_parent_dir"]


def ensure_parent_dir(path: str | os.PathLike[str]) -> None:
    """Create the missing parent directories of ``path``, each with mode 0700.

    Key files go there: a directory created for them is private. Directories that
    already exist are left as they are (``mkdir -p`` would also leave them).

    Raises:
        ConfigError: a parent cannot be created (one line, the path and why).
    """
    parent = Path(path).parent
    missing: list[Path] = []
    while not parent.exists():
        missing.append(parent)
        if parent.parent == parent:
            break
        parent = parent.parent
    for d in reversed(missing):
        try:
            # The explicit mode on each level: Path.mkdir(parents=True) gives the
            # intermediate ones the umask default.
            d.mkdir(mode=0o700)
            os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot create directory {d}: {exc.strerror}") from None
