"""Resolve Android-project libraries from Maven Central into local jars, versions from the catalog.

`android/gradle/libs.versions.toml` is the one place where versions live. This module reads
its ``[libraries]`` table with tomllib and resolves a set of library aliases (with their
transitive dependencies) by writing a throw-away ``pom.xml`` and running Maven's
``dependency:build-classpath``. Everything Maven downloads goes to ``android/.cache/m2``
(ignored by git); the resolved classpath is remembered in ``android/.cache/classpaths/`` so
a warm run does not start Maven at all.

Used by android/tools/jvm.py (Kotlin compiler, JUnit, module dependencies) and by the APK
pipeline. Aliases are the catalog's names (``kotlin-stdlib``); ``alias@aar`` asks for the
AAR artifact of an Android library (e.g. ``tflite@aar``)::

    python android/tools/deps.py kotlin-stdlib kotlinx-coroutines-core   # prints the classpath
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ANDROID = Path(__file__).resolve().parent.parent
CATALOG = ANDROID / "gradle" / "libs.versions.toml"
CACHE = ANDROID / ".cache"
M2 = CACHE / "m2"
CLASSPATHS = CACHE / "classpaths"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MAVEN_TIMEOUT_S = 1800


class DepsError(Exception):
    """A one-line, user-facing problem (bad alias, Maven missing or failing)."""


@dataclass(frozen=True)
class Coordinate:
    """One Maven artifact: ``group:artifact:version`` plus its packaging (``jar`` or ``aar``)."""

    group: str
    artifact: str
    version: str
    packaging: str = "jar"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}@{self.packaging}"


def load_catalog(path: Path = CATALOG) -> dict[str, Coordinate]:
    """All ``[libraries]`` of the version catalog, by alias, with ``version.ref`` resolved."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DepsError(f"{path} does not exist; run from a checkout of the repository") from None
    except tomllib.TOMLDecodeError as exc:
        raise DepsError(f"{path} is not valid TOML ({exc}); fix the file") from None
    versions = data.get("versions", {})
    libraries: dict[str, Coordinate] = {}
    for alias, entry in data.get("libraries", {}).items():
        module, ref = entry.get("module"), entry.get("version", {})
        version = versions.get(ref["ref"]) if isinstance(ref, dict) and "ref" in ref else ref
        if not isinstance(module, str) or module.count(":") != 1 or not isinstance(version, str):
            raise DepsError(f"{path}: library {alias!r} needs module 'group:artifact' and a version")
        group, artifact = module.split(":")
        libraries[alias] = Coordinate(group, artifact, version)
    return libraries


def version(name: str, path: Path = CATALOG) -> str:
    """One entry of the catalog's ``[versions]`` table (e.g. ``kotlin``)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    value = data.get("versions", {}).get(name)
    if not isinstance(value, str):
        raise DepsError(f"{path}: no version {name!r} in [versions]")
    return value


def coordinates(aliases: Sequence[str], catalog: dict[str, Coordinate] | None = None) -> list[Coordinate]:
    """Catalog coordinates of ``aliases`` (``alias`` or ``alias@aar``)."""
    catalog = load_catalog() if catalog is None else catalog
    found = []
    for spec in aliases:
        alias, _, packaging = spec.partition("@")
        if alias not in catalog:
            raise DepsError(
                f"library {alias!r} is not in {CATALOG.relative_to(ANDROID.parent)}; "
                f"known: {', '.join(sorted(catalog))}"
            )
        if packaging not in ("", "jar", "aar"):
            raise DepsError(f"library {spec!r}: packaging must be jar or aar")
        coord = catalog[alias]
        found.append(Coordinate(coord.group, coord.artifact, coord.version, packaging or "jar"))
    return found


def _pom(coords: Sequence[Coordinate]) -> str:
    deps = "".join(
        "    <dependency>"
        f"<groupId>{escape(c.group)}</groupId><artifactId>{escape(c.artifact)}</artifactId>"
        f"<version>{escape(c.version)}</version><type>{c.packaging}</type></dependency>\n"
        for c in coords
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>ai.edgesdsr.local</groupId><artifactId>resolve</artifactId><version>0</version>\n"
        "  <packaging>pom</packaging>\n"
        f"  <dependencies>\n{deps}  </dependencies>\n"
        "</project>\n"
    )


def resolve(aliases: Sequence[str], transitive: bool = True, quiet: bool = False) -> list[Path]:
    """Jar/AAR paths of ``aliases`` and (by default) their runtime dependencies, downloading once.

    The result is cached by the exact coordinates: editing a version in the catalog
    resolves again, everything else reuses ``android/.cache``.
    """
    coords = coordinates(aliases)
    key = hashlib.sha256("\n".join([str(transitive), *map(str, coords)]).encode()).hexdigest()[:16]
    stamp = CLASSPATHS / f"{key}.txt"
    if stamp.is_file():
        paths = [Path(p) for p in stamp.read_text(encoding="utf-8").split(os.pathsep) if p]
        if all(p.is_file() for p in paths):
            return paths
    if shutil.which("mvn") is None:
        raise DepsError("Maven (mvn) is not installed; install it (apt-get install maven) and retry")
    work = CACHE / "poms" / key
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_pom(coords), encoding="utf-8")
    out = work / "classpath.txt"
    command = [
        "mvn",
        "-B",
        "-q",
        f"-Dmaven.repo.local={M2}",
        "-f",
        str(work / "pom.xml"),
        f"{DEPENDENCY_PLUGIN}:build-classpath",
        f"-Dmdep.outputFile={out}",
        "-Dmdep.includeScope=runtime",
        f"-Dmdep.excludeTransitive={'false' if transitive else 'true'}",
    ]
    names = ", ".join(c.artifact for c in coords)
    if not quiet:
        print(f"deps: resolving {names} with Maven (cache {M2.relative_to(ANDROID.parent)})", flush=True)
    start = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise DepsError(
            f"Maven did not finish resolving {names} in {MAVEN_TIMEOUT_S} s; check the network"
        ) from None
    if result.returncode != 0:
        lines = [ln for ln in (result.stdout + result.stderr).splitlines() if "ERROR" in ln] or [
            "(no output)"
        ]
        raise DepsError(f"Maven could not resolve {names}: {lines[0].strip()}")
    paths = [Path(p) for p in out.read_text(encoding="utf-8").strip().split(os.pathsep) if p]
    if not quiet:
        print(f"deps: {len(paths)} artifact(s) in {time.monotonic() - start:.1f} s", flush=True)
    CLASSPATHS.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(os.pathsep.join(map(str, paths)), encoding="utf-8")
    tmp.replace(stamp)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Resolve catalog libraries (android/gradle/libs.versions.toml) from Maven Central "
        "into android/.cache/m2 and print their classpath.",
        epilog="example: python android/tools/deps.py kotlin-stdlib tflite@aar",
    )
    parser.add_argument("aliases", nargs="+", help="catalog library aliases; alias@aar for an AAR artifact")
    parser.add_argument("--no-transitive", action="store_true", help="only the named artifacts")
    args = parser.parse_args(argv)
    try:
        paths = resolve(args.aliases, transitive=not args.no_transitive, quiet=True)
    except DepsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(os.pathsep.join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
