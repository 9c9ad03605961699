"""The TypeScript types of every command, result and event: what `make schemas` generates from
the committed schemas (no drift), and usable as the README shows, under `tsc --strict` with
kafkajs' own types."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.tooling import ROOT, SCHEMAS, TOOLING, node

COMMITTED = ROOT / "contracts" / "typescript"


def test_committed_types_are_what_the_schemas_generate(tmp_path: Path) -> None:
    done = subprocess.run(
        [node(), str(TOOLING / "typescript.mjs"), str(SCHEMAS), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    generated = {path.name: path.read_text() for path in sorted(tmp_path.glob("*.ts"))}
    committed = {path.name: path.read_text() for path in sorted(COMMITTED.glob("*.ts"))}
    assert sorted(committed) == sorted(generated)
    stale = [name for name in generated if committed[name] != generated[name]]
    assert stale == [], f"contracts/typescript is stale ({stale}): run `make schemas`"


def test_every_message_has_a_type() -> None:
    index = (COMMITTED / "index.ts").read_text()
    titles = {json.loads(p.read_text())["title"] for p in SCHEMAS.glob("*.schema.json")}
    exported = set(re.findall(r"^\s+(\w+),$", index, re.MULTILINE))
    assert titles <= exported
    assert {"ProgramCreate", "SeriesUpdate", "Batch"} <= exported


def test_the_readme_example_type_checks(tmp_path: Path) -> None:
    """The README's kafkajs producer and consumer, in an app that copied contracts/typescript/
    as the README says, compile under `tsc --strict`; and a wrong field is caught."""
    readme = (ROOT / "README.md").read_text()
    [example] = re.findall(r"```ts\n(.*?)```", readme, re.DOTALL)
    shutil.copytree(COMMITTED, tmp_path / "program-builder")
    (tmp_path / "example.ts").write_text(example)
    (tmp_path / "wrong.ts").write_text(
        'import type { SeriesUpdate } from "./program-builder";\n'
        'export const wrong: SeriesUpdate = { commandId: "c", type: "series.update", '
        'tenantId: "t", programId: "p", programExerciseId: "e", index: "1", set: {} };\n'
    )
    modules = TOOLING / "node_modules"
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "skipLibCheck": True,
            "target": "es2022",
            "module": "esnext",
            "moduleResolution": "bundler",
            "types": ["node"],
            "typeRoots": [str(modules / "@types")],
            "paths": {"kafkajs": [str(modules / "kafkajs" / "types" / "index.d.ts")]},
        },
        "files": ["example.ts", "wrong.ts"],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    node()  # the tools are there (or the test is skipped locally / fails in CI)
    done = subprocess.run(
        [node(), str(modules / "typescript" / "bin" / "tsc"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
    )
    errors = [line for line in done.stdout.splitlines() if "error TS" in line]
    assert [e for e in errors if not e.startswith("wrong.ts")] == [], done.stdout
    assert any(e.startswith("wrong.ts(2,") and "TS2322" in e for e in errors), done.stdout
