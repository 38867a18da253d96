"""Object storage: dalles and models read from ``s3://`` and ``https://``, outputs put to ``s3://``.

GDAL reads dalles through its virtual file systems (``/vsis3/``, ``/vsicurl/``) with the usual
settings from the environment: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``, ``AWS_S3_ENDPOINT`` (an S3-compatible store: MinIO, Ceph,
OVH…), ``AWS_HTTPS``, ``AWS_VIRTUAL_HOSTING``, ``AWS_NO_SIGN_REQUEST``. A folder or
a glob on a bucket (``s3://bucket/bdortho/D091/*.jp2``) is listed with obstore under the same
settings, so both see one store. Workers need the same environment as the client.

Outputs are put whole (:func:`put_file`): one PUT per file, which S3 stores only once it has
received every byte, so an upload killed midway leaves no object under the key (and, not being
multipart, no pending upload to abort). A model is fetched once per machine into a local cache
(:func:`cached`), keyed by its URL and ETag.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from costa.errors import OutputError, SourceReadError, first_line
from costa.io.atomic import atomic_path

__all__ = [
    "SETTINGS",
    "cached",
    "etags",
    "gdal_path",
    "is_remote",
    "list_objects",
    "opened",
    "put_file",
    "read_text",
]

MAX_PUT = 5 * 2**30
"""S3's largest single PUT (5 GiB); a dalle's COG is tens of MB."""

SCHEMES = ("s3://", "http://", "https://")
SETTINGS = {
    "GDAL_HTTP_MAX_RETRY": "6",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "VSI_CACHE": "TRUE",
}
"""GDAL's settings while costa opens a remote source (:func:`opened`), where the user has not set
them. A store that answers 429 or 5xx (or times out) is asked again, up to 6 times, doubling the
delay from 0.5 s. Opening a dalle does not list its folder in search of side-car files (one LIST
request per open, and a job opens each dalle for itself and its neighbours); the blocks read are
cached per file. Local files keep GDAL's defaults (their ``.aux.xml`` side-cars are found)."""


@contextlib.contextmanager
def opened(path: str | os.PathLike[str]) -> Iterator[Any]:
    """``rasterio.open(path)``, used under :data:`SETTINGS` when ``path`` is a GDAL remote path."""
    import rasterio

    if not str(path).startswith(("/vsis3/", "/vsicurl")):
        with rasterio.open(path) as ds:
            yield ds
        return
    with rasterio.Env(**{k: os.environ.get(k, v) for k, v in SETTINGS.items()}), rasterio.open(path) as ds:
        yield ds


def is_remote(spec: str) -> bool:
    """True for a URL costa reads from object storage or a web server.

    >>> is_remote("s3://bucket/dalle.tif"), is_remote("/data/dalle.tif")
    (True, False)
    """
    return str(spec).startswith(SCHEMES)


def gdal_path(url: str) -> str:
    """The GDAL path of an ``s3://`` or ``http(s)://`` URL (``/vsis3/``, ``/vsicurl?url=``).

    A web URL is given in GDAL's ``/vsicurl?url=`` form, percent-encoded, so that it survives
    as a :class:`~pathlib.Path` (which would fold the ``//`` of ``/vsicurl/https://``).

    >>> gdal_path("s3://ortho/D091/a.jp2"), gdal_path("https://x.org/a.tif")
    ('/vsis3/ortho/D091/a.jp2', '/vsicurl?url=https%3A%2F%2Fx.org%2Fa.tif')
    """
    if url.startswith("s3://"):
        return "/vsis3/" + url[len("s3://") :]
    return "/vsicurl?url=" + quote(url, safe="")


def list_objects(url: str, suffixes: tuple[str, ...]) -> list[str]:
    """Sorted ``s3://`` URLs of the objects with one of ``suffixes`` under a prefix or glob.

    A prefix (``s3://b/dir/``) is listed recursively; a glob (``s3://b/dir/*.jp2``) matches whole keys.
    """
    if not url.startswith("s3://"):
        raise SourceReadError(f"{url}: only s3:// folders and globs are listed (give each https:// file)")
    bucket, key = _split(url)
    star = min((key.index(c) for c in "*?[" if c in key), default=None)
    prefix = key if star is None else key[: key.rfind("/", 0, star) + 1]
    try:
        import obstore

        keys = [o["path"] for batch in obstore.list(_store(bucket), prefix=prefix or None) for o in batch]
    except Exception as e:  # obstore's errors: no such bucket, refused, credentials...
        raise SourceReadError(f"cannot list {url}: {first_line(e)}") from None
    if star is not None:
        keys = [k for k in keys if fnmatch.fnmatchcase(k, key)]
    elif prefix and not prefix.endswith("/"):
        keys = [k for k in keys if k.startswith(prefix + "/") or k == prefix]
    return sorted(f"s3://{bucket}/{k}" for k in keys if k.lower().endswith(suffixes))


def _split(url: str) -> tuple[str, str]:
    """Bucket and key of an ``s3://`` URL.

    >>> _split("s3://ortho/D091/a.jp2")
    ('ortho', 'D091/a.jp2')
    """
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key


def put_file(path: Path, url: str) -> str:
    """Upload a local file whole to an ``s3://`` URL in one PUT; returns the object's ETag.

    Raises OutputError (one line) if the store refuses it after obstore's retries.
    """
    import obstore

    size = path.stat().st_size
    if size > MAX_PUT:
        raise OutputError(
            f"{path.name} is {size / 2**30:.1f} GiB, over S3's 5 GiB single upload: use smaller chunks"
        )
    bucket, key = _split(url)
    try:
        result = obstore.put(_store(bucket), key, path, use_multipart=False)
    except Exception as e:  # obstore's errors: refused, credentials, no such bucket...
        raise OutputError(f"cannot upload {url}: {first_line(e)}") from None
    return str(result["e_tag"])


def etags(url: str) -> dict[str, str]:
    """ETag of every object directly under an ``s3://`` prefix (a folder), by name."""
    bucket, key = _split(url.rstrip("/") + "/")
    try:
        import obstore

        listed = obstore.list_with_delimiter(_store(bucket), prefix=key)
    except Exception as e:
        raise SourceReadError(f"cannot list {url}: {first_line(e)}") from None
    return {o["path"][len(key) :]: str(o["e_tag"]) for o in listed["objects"]}


def cached(url: str) -> Path:
    """A local copy of a small ``s3://`` object (a model), fetched once per machine.

    The copy is named by the URL and the object's ETag, so a model replaced on the store is
    fetched again; it is written atomically, so two workers fetching it at once both see it whole.
    """
    if not url.startswith("s3://"):
        raise SourceReadError(f"{url}: models are read from s3:// or local disk")
    import obstore

    bucket, key = _split(url)
    try:
        store = _store(bucket)
        tag = str(obstore.head(store, key)["e_tag"])
        local = _cache_dir() / (hashlib.sha256(f"{url}\n{tag}".encode()).hexdigest()[:24] + Path(key).suffix)
        if not local.is_file():
            with atomic_path(local) as tmp:
                tmp.write_bytes(bytes(obstore.get(store, key).bytes()))
    except Exception as e:  # obstore's errors (not found, refused, credentials), a full disk
        raise SourceReadError(f"cannot fetch {url}: {first_line(e)}") from None
    return local


def _cache_dir() -> Path:
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path(tempfile.gettempdir())) / "costa-models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _store(bucket: str) -> Any:
    """An obstore S3 store for ``bucket`` configured from GDAL's environment variables."""
    from obstore.store import S3Store

    env = os.environ.get
    config: dict[str, Any] = {"region": env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1"}
    endpoint = env("AWS_S3_ENDPOINT")
    if endpoint:
        https = env("AWS_HTTPS", "YES").upper() not in ("NO", "FALSE", "OFF", "0")
        config["endpoint"] = endpoint if "://" in endpoint else f"{'https' if https else 'http'}://{endpoint}"
        config["allow_http"] = not https
    hosting = env("AWS_VIRTUAL_HOSTING")
    if hosting is not None:
        config["virtual_hosted_style_request"] = hosting.upper() not in ("NO", "FALSE", "OFF", "0")
    if env("AWS_NO_SIGN_REQUEST", "NO").upper() in ("YES", "TRUE", "ON", "1"):
        config["skip_signature"] = True
    return S3Store(bucket, **config)


def read_text(url: str) -> str:
    """The text of a small object (a list file), read with the same settings as listings."""
    if not url.startswith("s3://"):
        raise SourceReadError(f"{url}: list files are read from s3:// or local disk")
    bucket, key = _split(url)
    try:
        import obstore

        return bytes(obstore.get(_store(bucket), key).bytes()).decode()
    except Exception as e:
        raise SourceReadError(f"cannot read {url}: {first_line(e)}") from None
