"""Path rules of the real server: staging-path normalisation and part-filename sanitising."""

from __future__ import annotations

import re

_ILLEGAL = re.compile(r'[/?<>\\:*|"\x00-\x1f\x80-\x9f]')
_ONLY_DOTS = re.compile(r"^\.+$")


class InvalidPath(ValueError):
    """A path the server refuses; the message is the real server's wording."""


def normalize_staging_path(directory: str, filename: str) -> str:
    """``normalize(directory / filename)``: drop ``.`` and empty segments; refuse ``..``,
    absolute filenames and paths that normalise to nothing."""
    prefix = f'Invalid staging path (directory "{directory}", file "{filename}")'
    if filename.startswith("/"):
        raise InvalidPath(f"{prefix}: absolute paths are not allowed")
    parts = [p for p in f"{directory}/{filename}".split("/") if p and p != "."]
    if ".." in parts:
        raise InvalidPath(f"{prefix}: path cannot contain parent directory references (..)")
    if not parts:
        raise InvalidPath(f"{prefix}: path is empty")
    if any(_is_oxen_dir_name(part) for part in parts):  # new in 0.65.2
        joined = "/".join(parts)
        raise InvalidPath(
            f"{prefix}: {joined} is outside the working tree: it is inside a .oxen directory"
        )
    return "/".join(parts)


def sanitize_filename(name: str) -> str:
    """sanitize-filename 0.6 with Linux defaults: drop ``/ ? < > \\ : * | "`` and control
    characters, a name of only dots becomes empty, cut to 255 bytes."""
    cleaned = _ILLEGAL.sub("", name)
    if _ONLY_DOTS.match(cleaned):
        return ""
    encoded = cleaned.encode("utf-8")
    if len(encoded) > 255:
        cleaned = encoded[:255].decode("utf-8", "ignore")
    return cleaned


def _is_oxen_dir_name(segment: str) -> bool:
    """``.oxen`` on any filesystem the real server runs on: ASCII case ignored, a ``:stream``
    suffix and trailing dots and spaces dropped, the NTFS short name ``OXEN~<n>`` included."""
    name = segment.split(":", 1)[0].rstrip(". ")
    stem, digits = name[:5], name[5:]
    if stem.lower() == "oxen~" and digits.isascii() and digits.isdigit():
        return True
    return name.lower() == ".oxen"


def normalize_relative_path(path: str, label: str, *, allow_empty: bool) -> str:
    """0.65's ``request_relative_path``: ``.`` and empty segments collapse; an absolute path, a
    ``..`` segment or a ``.oxen`` segment is refused with ``Invalid {label}: ...`` (a 400)."""
    if path.startswith("/"):
        raise InvalidPath(f"Invalid {label}: {path} is outside the working tree: it is absolute")
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            reason = "it has a `..` component"
        elif _is_oxen_dir_name(segment):
            reason = "it is inside a .oxen directory"
        else:
            kept.append(segment)
            continue
        raise InvalidPath(f"Invalid {label}: {path} is outside the working tree: {reason}")
    if not kept and not allow_empty:
        raise InvalidPath(f"Invalid {label}: path cannot be empty")
    return "/".join(kept)
