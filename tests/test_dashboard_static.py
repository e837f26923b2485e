"""The dashboard's files: self-contained (no CDN, no build step) and served by the facade."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[1] / "api_facade" / "static"
OWN_JS = sorted((STATIC / "js").glob("*.js"))
IMPORT = re.compile(r"""^\s*import\s+(?:[^'"]+\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)


def _assets_of_index() -> list[str]:
    html = (STATIC / "index.html").read_text()
    return re.findall(r"""(?:src|href)="(static/[^"]+)\"""", html)


def test_every_asset_and_module_import_resolves_to_a_shipped_file():
    assets = _assets_of_index()
    assert "static/js/main.js" in assets
    for asset in assets:
        assert (STATIC.parent / asset).is_file(), f"index.html refers to missing {asset}"
    imported = 0
    for js in OWN_JS:
        for spec in IMPORT.findall(js.read_text()):
            # plain ES modules: only relative imports, nothing a bundler would resolve
            assert spec.startswith("./") or spec.startswith("../"), f"{js.name} imports {spec!r}"
            assert (js.parent / spec).resolve().is_file(), f"{js.name} imports missing {spec}"
            imported += 1
    assert imported >= 10


def test_nothing_is_loaded_from_outside_the_service():
    for path in [STATIC / "index.html", STATIC / "app.css", *OWN_JS]:
        text = path.read_text()
        urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text, re.IGNORECASE)
        assert not urls, f"{path.name} refers to outside URLs: {urls}"
    # the CSP in the page forbids it too
    assert "default-src 'self'" in (STATIC / "index.html").read_text()


def test_vendored_uplot_keeps_its_license_and_version():
    vendor = STATIC / "vendor" / "uplot"
    license_text = (vendor / "LICENSE").read_text()
    assert "MIT" in license_text and "Leon Sorokin" in license_text
    assert (vendor / "uPlot.esm.js").stat().st_size > 50_000
    assert (vendor / "uPlot.min.css").is_file()


def test_the_facade_serves_the_page_and_its_assets_without_a_token(tmp_path):
    pytest.importorskip("fastapi", reason="the facade needs the 'serve' extra")
    from fastapi.testclient import TestClient

    from api_facade.settings import Settings
    from api_facade.web.app import create_app

    settings = Settings(db_path=tmp_path / "r.duckdb", suite_root=tmp_path, token="secret-token")
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'src="static/js/main.js"' in page.text
        for asset in _assets_of_index() + [f"static/js/{p.name}" for p in OWN_JS]:
            response = client.get("/" + asset)
            assert response.status_code == 200, asset
            if asset.endswith(".js"):
                # browsers refuse module scripts served with a non-JavaScript type
                assert "javascript" in response.headers["content-type"], asset
        # the page holds no data: the API behind it still wants the token
        assert client.get("/api/test/runs").status_code == 401
