"""``ipfs-accel models --cached``: what the local Hugging Face cache holds and what each entry resolves to."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cached_entries(hub_dir: str | None = None) -> list[dict]:
    """One row per model repository in the hub cache: its id, snapshot and what it resolves to.

    ``resolves_to`` is what ``ipfs-accel generate <id>`` would do with it: the
    model type and family, and whether the snapshot holds weights (a checkpoint
    the module loads) or only a config (a tiny random model of that type).
    Nothing touches the network.
    """
    from huggingface_hub import constants

    from generators.families import FamilyError
    from generators.resolve import ResolveError, resolve

    root = Path(hub_dir or constants.HF_HUB_CACHE)
    rows: list[dict] = []
    for repo in sorted(root.glob("models--*")) if root.is_dir() else []:
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        ref = repo / "refs" / "main"
        revision = ref.read_text().strip() if ref.is_file() else None
        snapshot = repo / "snapshots" / revision if revision else None
        row: dict = {"id": repo_id, "revision": revision,
                     "files": sorted(p.name for p in snapshot.iterdir()) if snapshot and snapshot.is_dir() else []}
        try:
            spec = resolve(repo_id)
        except (ResolveError, FamilyError) as exc:
            row.update(ok=False, error=str(exc))
        else:
            preprocessors = [name for name, has in (
                ("tokenizer", spec.has_tokenizer), ("feature extractor", spec.has_feature_extractor),
                ("image processor", spec.has_image_processor)) if has]
            row.update(ok=True, model_type=spec.model_type, family=spec.family, auto_class=spec.auto_class,
                       checkpoint=spec.checkpoint, preprocessors=preprocessors)
        rows.append(row)
    return rows


def describe(row: dict) -> str:
    """One line for a cache entry."""
    if not row["ok"]:
        return f"{row['id']}: does not resolve: {row['error']}"
    what = (f"checkpoint {row['checkpoint']}" if row["checkpoint"]
            else "config only (no weights): a tiny random model of that type")
    extra = f", with {', '.join(row['preprocessors'])}" if row["preprocessors"] else ""
    return f"{row['id']}: {row['model_type']} ({row['family']}, {row['auto_class']}) -> {what}{extra}"


def run(args: argparse.Namespace) -> int:
    from huggingface_hub import constants

    rows = cached_entries()
    if args.json:
        print(json.dumps({"hub_cache": str(constants.HF_HUB_CACHE), "models": rows}, indent=2))
        return 0
    print(f"Hugging Face hub cache {constants.HF_HUB_CACHE}: {len(rows)} model repositories")
    for row in rows:
        print("  " + describe(row))
    return 0
