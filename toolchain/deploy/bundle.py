"""Bundle folders on disk: hashing their files, writing the manifest, verifying, atomic replacement.

The manifest schema and its parser live in :mod:`toolchain.deploy.manifest` (that is what the
Android app mirrors); this module is what the toolchain does with a folder around it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from toolchain.atomic import atomic_dir, write_text_atomic
from toolchain.configio import dumps_compact, to_dict
from toolchain.deploy.manifest import MANIFEST_NAME, UNHASHED, FileEntry, Manifest, read_manifest
from toolchain.errors import ToolchainError
from toolchain.hashing import sha256_file


def file_entry(bundle_dir: Path, relative: str) -> FileEntry:
    """The :class:`FileEntry` of ``bundle_dir / relative`` (hashes the file)."""
    path = Path(bundle_dir) / relative
    return FileEntry(file=relative, sha256=sha256_file(path), size_bytes=path.stat().st_size)


def write_manifest(bundle_dir: Path, manifest: Manifest) -> Path:
    """Write ``bundle_dir/manifest.json`` atomically; returns its path.

    2-space indented JSON with lists of scalars (shapes, tile corners) on one line.
    """
    path = Path(bundle_dir) / MANIFEST_NAME
    write_text_atomic(path, dumps_compact(to_dict(manifest)) + "\n")
    return path


def _short(digest: str) -> str:
    return digest[:12] + "..."


def _bundle_files(bundle_dir: Path) -> list[str]:
    """Relative POSIX paths of every non-directory entry under ``bundle_dir`` (links included)."""
    found = []
    for root, dirs, files in os.walk(bundle_dir):
        rel_root = Path(root).relative_to(bundle_dir)
        links = [d for d in dirs if (Path(root) / d).is_symlink()]
        for name in [*files, *links]:
            found.append((rel_root / name).as_posix())
    return sorted(found)


def verify_bundle(bundle_dir: Path) -> Manifest:
    """Check a bundle folder against its manifest; returns the manifest.

    Every listed file must exist as a plain file with the listed size and sha256, and
    nothing else may be in the folder except ``manifest.json`` and ``report.md``. The
    schema and cross-field rules (graph files and context binaries listed in ``files``,
    tile spec parses and matches the example plan) are checked by :func:`read_manifest`.
    """
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    fix = "the bundle was modified or corrupted, re-export it"
    listed = {entry.file for entry in manifest.files}
    stray = [name for name in _bundle_files(bundle_dir) if name not in listed and name not in UNHASHED]
    if stray:
        more = f" and {len(stray) - 3} more" if len(stray) > 3 else ""
        raise ToolchainError(
            f"bundle {bundle_dir}: unlisted file(s) {', '.join(stray[:3])}{more} not in {MANIFEST_NAME}; "
            f"remove them or re-export the bundle"
        )
    for entry in manifest.files:
        path = bundle_dir / entry.file
        if path.is_symlink() or not path.is_file():
            state = "a link" if path.is_symlink() else "missing" if not path.exists() else "not a file"
            raise ToolchainError(f"bundle {bundle_dir}: {entry.file} is {state}; {fix}")
        size = path.stat().st_size
        if size != entry.size_bytes:
            raise ToolchainError(
                f"bundle {bundle_dir}: {entry.file} size mismatch (expected {entry.size_bytes} bytes, "
                f"got {size}); {fix}"
            )
    for entry in manifest.files:
        try:
            digest = sha256_file(bundle_dir / entry.file)
        except OSError as exc:
            raise ToolchainError(
                f"bundle {bundle_dir}: cannot read {entry.file} ({exc.strerror}); {fix}"
            ) from None
        if digest != entry.sha256:
            raise ToolchainError(
                f"bundle {bundle_dir}: {entry.file} sha256 mismatch (expected {_short(entry.sha256)}, "
                f"got {_short(digest)}); {fix}"
            )
    return manifest


@contextlib.contextmanager
def build_bundle_atomically(final_dir: Path, force: bool = False) -> Iterator[Path]:
    """Build a bundle in a temporary folder beside ``final_dir``; rename it into place on success.

    Raises before any work if ``final_dir`` exists and ``force`` is False. With ``force``
    an existing *bundle* (a folder holding ``manifest.json``) or an empty folder is
    replaced; any other existing path is refused, so a mistyped ``--out`` never deletes
    unrelated data. On any exception in the body the temporary folder is removed and
    ``final_dir`` is left as it was (:func:`toolchain.atomic.atomic_dir`).
    """

    def check(path: Path) -> None:
        check_bundle_out(path, force)

    with atomic_dir(final_dir, "; choose another --out", check) as tmp:
        yield tmp


def check_bundle_out(final_dir: Path, force: bool) -> None:
    """Refuse a ``--out`` that cannot become a bundle folder: any existing path without ``force``,
    and even with it a file, a link or a folder that is neither empty nor a bundle."""
    final_dir = Path(final_dir)
    if not (final_dir.exists() or final_dir.is_symlink()):
        return
    if final_dir.is_symlink() or not final_dir.is_dir():
        kind = "a link" if final_dir.is_symlink() else "a file"
        raise ToolchainError(
            f"--out {final_dir} is {kind}, not a bundle folder; pass the path of a folder as --out"
        )
    if not force:
        raise ToolchainError(f"{final_dir} exists; pass --force to overwrite or choose another --out")
    if not (final_dir / MANIFEST_NAME).is_file() and any(final_dir.iterdir()):
        raise ToolchainError(
            f"{final_dir} is a non-empty folder without {MANIFEST_NAME} (not a bundle); "
            "--force only replaces bundles, choose another --out"
        )
