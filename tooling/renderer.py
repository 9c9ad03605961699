"""Copies the AsyncAPI page's renderer into the package, from the npm version pinned in
`tooling/package.json` (`config.renderer`), so that the page never loads anything from a CDN.

`python tooling/renderer.py` (run by `make schemas`) does nothing when the committed copy is
already that version; otherwise it fetches the package tarball with `npm pack`, checks it
against the registry's integrity hash, and writes the standalone bundle, its stylesheet and
licences plus `manifest.json` (version, tarball integrity, SHA-256 of every file).
`--check` only verifies the committed copy against its manifest and the pinned version.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLING = ROOT / "tooling"
TARGET = ROOT / "service" / "process" / "static" / "asyncapi-react-component"
FILES = {
    # what the page needs (and the licences that come with it): tarball path -> file name here
    "package/browser/standalone/index.js": "standalone.js",
    "package/browser/standalone/index.js.LICENSE.txt": "standalone.js.LICENSE.txt",
    "package/styles/default.min.css": "default.min.css",
    "package/LICENSE": "LICENSE",
}


def pinned() -> str:
    """`@asyncapi/react-component@X.Y.Z`, as tooling/package.json pins it."""
    spec: str = json.loads((TOOLING / "package.json").read_text())["config"]["renderer"]
    return spec


def manifest() -> dict[str, object] | None:
    path = TARGET / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def problems() -> list[str]:
    """What is wrong with the committed copy (empty when it is the pinned version, intact)."""
    current = manifest()
    if current is None:
        return [f"{TARGET.relative_to(ROOT)}/manifest.json is missing"]
    found: list[str] = []
    if current.get("package") != pinned():
        found.append(f"the copy is {current.get('package')}, tooling/package.json pins {pinned()}")
    hashes = current.get("sha256", {})
    assert isinstance(hashes, dict)
    for name in FILES.values():
        path = TARGET / name
        if not path.exists():
            found.append(f"{name} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != hashes.get(name):
            found.append(f"{name} differs from the one the manifest records")
    return found


def _verified_integrity(tarball: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if actual != expected:
        raise SystemExit(f"the downloaded tarball does not match its integrity {integrity}")


def update() -> None:
    spec = pinned()
    if not problems():
        print(f"{TARGET.relative_to(ROOT)} already holds {spec}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run(
            ["npm", "pack", spec, "--json", "--pack-destination", scratch],
            check=True,
            capture_output=True,
            text=True,
            cwd=scratch,
        )
        [info] = json.loads(packed.stdout)
        tarball = (Path(scratch) / info["filename"]).read_bytes()
        _verified_integrity(tarball, info["integrity"])
        TARGET.mkdir(parents=True, exist_ok=True)
        hashes: dict[str, str] = {}
        with tarfile.open(Path(scratch) / info["filename"]) as archive:
            for member, name in FILES.items():
                extracted = archive.extractfile(member)
                if extracted is None:
                    raise SystemExit(f"{spec} has no {member}")
                content = extracted.read()
                (TARGET / name).write_bytes(content)
                hashes[name] = hashlib.sha256(content).hexdigest()
    record = {"package": spec, "integrity": info["integrity"], "sha256": hashes}
    (TARGET / "manifest.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"wrote {spec} into {TARGET.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 on a problem")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for problem in found:
            print(f"AsyncAPI renderer: {problem} (run `make schemas`)", file=sys.stderr)
        return 1 if found else 0
    update()
    return 0


if __name__ == "__main__":
    sys.exit(main())
