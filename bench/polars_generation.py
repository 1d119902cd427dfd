"""Which Python Polars release runs the same engine as the Rust crates Floe builds with.

Python Polars and the Rust crates come from one repository, but on different
release trains: a Python release does not say which crate version its engine
matches. Its compiled runtime does: panic locations embed the path of every
source file they come from (`crates/polars-stream/src/nodes/…rs`). A release
whose runtime holds source files the crates do not have was built from later
engine code, and one lacking files the crates have was built from earlier
code. This prints both counts for each Python Polars install given (over the
crates both have; files without a panic location never show in a runtime, so
the second count never reaches zero): the crates' generation is where both
are smallest.

    pip install --no-deps --target /tmp/pl144 polars==1.44.2 polars-runtime-32==1.44.2
    python bench/polars_generation.py /tmp/pl144 /tmp/pl200 $(python -c 'import polars, pathlib; print(pathlib.Path(polars.__file__).parents[1])')

Then time the same TPC-H queries against that release in process (its
streaming engine, as Floe runs):

    POLARS_ENGINE_AFFINITY=streaming PYTHONPATH=/tmp/pl144 python bench/tpch.py --sf 1 --timed --repeat 3 --engines floe,polars
"""

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = re.compile(rb"crates/(polars-[a-z-]+)/src/[A-Za-z0-9_/]+\.rs")


def crate_version() -> str:
    """The `polars` version Cargo.lock resolves."""
    lock = (ROOT / "Cargo.lock").read_text()
    found = re.search(r'\[\[package\]\]\nname = "polars"\nversion = "([^"]+)"', lock)
    if not found:
        sys.exit("no polars package in Cargo.lock")
    return found.group(1)


def crate_files(version: str) -> dict[str, set[str]]:
    """Source files of every polars crate at `version`, by crate name."""
    registry = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "registry" / "src"
    files: dict[str, set[str]] = {}
    for index in registry.iterdir():
        for crate in index.glob(f"polars*-{version}"):
            name = crate.name[: -len(version) - 1]
            files[name] = {f"crates/{name}/{p.relative_to(crate).as_posix()}" for p in (crate / "src").rglob("*.rs")}
    if not files:
        sys.exit(f"polars {version} is not in {registry}: build Floe once (cargo fetch)")
    return files


def runtime_files(site: Path) -> tuple[str, set[str]]:
    """The Polars version installed in `site` and its runtime's source files."""
    runtimes = sorted(site.glob("_polars_runtime*/*.so")) + sorted(site.glob("polars/*.so"))
    if not runtimes:
        sys.exit(f"no Polars runtime library under {site}")
    text = runtimes[0].read_bytes()
    versions = sorted(site.glob("polars-*.dist-info"))
    version = versions[0].name.removeprefix("polars-").removesuffix(".dist-info") if versions else "?"
    return version, {m.group(0).decode() for m in SOURCE.finditer(text)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sites", nargs="+", type=Path, help="site-packages (or --target) dirs, each holding one Polars")
    args = parser.parse_args()
    version = crate_version()
    crates = crate_files(version)
    print(f"Rust crates: polars {version} ({sum(map(len, crates.values()))} source files in {len(crates)} crates)")
    print(f"{'Python Polars':>14} {'files the crates lack':>22} {'crate files it lacks':>21}")
    for site in args.sites:
        python_version, files = runtime_files(site)
        shared = {f for f in files if f.split("/")[1] in crates}
        known = set().union(*(crates[name] for name in {f.split("/")[1] for f in shared}))
        print(f"{python_version:>14} {len(shared - known):>22} {len(known - shared):>21}")


if __name__ == "__main__":
    main()
