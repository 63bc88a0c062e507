"""The HTTP scoring service: ``soundsentry serve DETECTOR`` (FastAPI + uvicorn).

Endpoints:

* ``GET /health``: ``{"status": "ok"}``; never needs the token (for load balancers and probes).
* ``GET /info``: :meth:`Detector.info` (recipe, scorer, backend, groups with thresholds and false-alarm rates).
* ``GET /metrics``: Prometheus text format (:mod:`soundsentry.deploy.metrics`): requests by endpoint and status,
  latency, decisions per machine type / section, clips refused by the input-quality gate by reason. Needs the token
  when one is configured, as ``/info`` does.
* ``POST /score?machine_type=fan&section=00``: one clip as a raw body (``Content-Type: audio/wav``,
  ``audio/flac``, ``audio/ogg`` or ``audio/mpeg``), or one or more clips as ``multipart/form-data`` file parts
  (several files = a batch, one result per file, in order); ``machine_type`` and ``section`` come from the query or
  from form fields, and so does ``domain`` (``source`` / ``target``) when the client knows the recording's domain:
  that domain's threshold decides instead of the domain-unknown one. Answers ``{"machine_type", "section",
  "results": [{"name", "anomaly_score", "threshold", "decision", "quality", "expected_false_alarm_rate"}, ...]}``.

Errors are JSON ``{"detail": "<one line>"}`` with these codes:

* 401: a token is configured and the ``Authorization: Bearer <token>`` header is missing or wrong.
* 404: the detector has no such machine type / section (the message lists the known ones).
* 413: the request body is larger than ``max_upload_bytes``, or a clip is longer than ``max_seconds``.
* 415: a raw body whose content type is not WAV, FLAC, OGG or MP3.
* 422: missing machine type, no clip, or a clip the input-quality gate (:mod:`soundsentry.deploy.quality`) refuses:
  undecodable, empty, truncated, NaN / inf samples, shorter than the detector's minimum, recorded below its band,
  silent, near-silent or clipped. In a batch one bad clip fails the whole request and the message names it. A
  refusal by the gate (413 too long included) also carries ``quality`` (the first refused clip's problem) and
  ``results``: one ``{"name", "anomaly_score": null, "decision": "error", "quality", "error"}`` per refused clip.
* 504: scoring took longer than ``timeout_s`` (the request is answered; the worker finishes in the background).

Uploaded bytes are written only inside a :class:`tempfile.TemporaryDirectory`, deleted when the request ends.
Scoring runs in a thread pool so the event loop stays responsive; the detector is shared read-only (eval mode,
no gradients, no state changed by scoring), so no lock is needed.
"""

# no `from __future__ import annotations`: FastAPI resolves the endpoints' `Request` annotations at runtime
import asyncio
import contextlib
import hmac
import tempfile
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soundsentry.errors import ConfigError, SoundSentryError

if TYPE_CHECKING:
    import numpy as np
    from fastapi import FastAPI

    from soundsentry.deploy.detector import Detector

DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_SECONDS = 60.0
DEFAULT_TIMEOUT_S = 30.0
RAW_TYPES = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/vnd.wave": ".wav",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
}
INSTALL_HINT = "the service needs FastAPI and uvicorn: pip install 'soundsentry[serve]'"


def require_serve_extra() -> None:
    """Raise a one-line :class:`ConfigError` with the install command when the ``serve`` extra is missing."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"{INSTALL_HINT} (missing: {err.name})") from None


class ServiceError(Exception):
    """An error answered to the client as ``{"detail": message}`` with ``status``; ``quality`` names the problem
    of a clip that cannot be judged (a :class:`~soundsentry.deploy.quality.QualityProblem` value), counted in
    ``/metrics``."""

    def __init__(
        self, status: int, message: str, quality: str = "", results: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.quality = quality
        self.results = results  # the input-quality gate's verdict on each refused clip, sent next to ``detail``


@dataclass(frozen=True)
class Upload:
    """One clip of a request: the client's name for it and its bytes."""

    name: str
    data: bytes


def _suffix(upload: Upload) -> str:
    """File extension from the bytes' magic number (the client's name is only a fallback)."""
    if upload.data[:4] == b"RIFF":
        return ".wav"
    if upload.data[:4] == b"fLaC":
        return ".flac"
    if upload.data[:4] == b"OggS":
        return ".ogg"
    if upload.data[:3] == b"ID3" or (len(upload.data) > 1 and upload.data[0] == 0xFF and upload.data[1] >= 0xE0):
        return ".mp3"
    suffix = Path(upload.name).suffix.lower()
    return suffix if suffix in (".wav", ".flac", ".ogg", ".mp3") else ".wav"


def score_uploads(
    detector: "Detector",
    uploads: Sequence[Upload],
    machine_type: str,
    section: str,
    *,
    max_seconds: float | None,
    domain: str | None = None,
) -> list[dict[str, Any]]:
    """Write the uploads into a temporary folder, score them, delete them; the work one request's thread does.
    ``domain`` (``source`` / ``target``), when the client knows it, picks that domain's threshold.

    Every clip first passes the input-quality gate (:meth:`Detector.gate_and_load`); a request with a clip that
    cannot be judged (undecodable, truncated, NaN, too short or too long, silent, clipped, a rate below the
    detector's band) is refused as a whole and scores nothing.

    Raises:
        ServiceError: 413 for a clip over ``max_seconds``, 422 for one that fails the gate or cannot be scored;
            for the gate, ``quality`` names the problem and ``results`` holds one ``decision: error`` entry per
            refused clip.
    """
    import torch

    info = detector.group(machine_type, section)
    results = []
    with tempfile.TemporaryDirectory(prefix="soundsentry-serve-") as tmp:
        paths = [Path(tmp) / f"clip{i}{_suffix(upload)}" for i, upload in enumerate(uploads)]
        labels = [f"clip {i} ({u.name})" if len(uploads) > 1 else u.name for i, u in enumerate(uploads)]
        for path, upload in zip(paths, uploads, strict=True):
            path.write_bytes(upload.data)
        waves = _gate(detector, uploads, paths, labels, max_seconds, info.threshold_for(domain))
        for path, upload, label, wave in zip(paths, uploads, labels, waves, strict=True):
            try:
                with torch.no_grad():
                    score = detector.score_waveform(wave, machine_type, section, name=upload.name, domain=domain)
            except SoundSentryError as err:
                # the temporary path means nothing to the client: name the upload instead
                message = str(err).splitlines()[0].replace(str(path), label)
                if not message.startswith(label):
                    message = f"{label}: {message}"
                raise ServiceError(422, message) from None
            results.append(
                {
                    "name": upload.name,
                    "anomaly_score": score.score,
                    "threshold": score.threshold,
                    "decision": score.decision,
                    "quality": "ok",
                    "expected_false_alarm_rate": info.expected_false_alarm_rate,
                }
            )
    return results


def _gate(
    detector: "Detector",
    uploads: Sequence[Upload],
    paths: Sequence[Path],
    labels: Sequence[str],
    max_seconds: float | None,
    threshold: float,
) -> "list[np.ndarray]":
    """Run the input-quality gate on every clip of a request and return the clips as the detector loads them
    (decoded once, by the gate); a :class:`ServiceError` when any fails: 413 for a clip over ``max_seconds``, else
    422, with the first refused clip's reason as ``detail``."""
    from soundsentry.deploy.quality import QualityProblem

    refused, waves = [], []
    for path, upload, label in zip(paths, uploads, labels, strict=True):
        verdict, wave = detector.gate_and_load(path, name=label, max_seconds=max_seconds)
        if wave is None:
            refused.append((upload.name, verdict))
        else:
            waves.append(wave)
    if not refused:
        return waves
    _, first = refused[0]
    entries = [
        {
            "name": name,
            "anomaly_score": None,
            "threshold": threshold,
            "decision": "error",
            "quality": verdict.label,
            "error": verdict.reason,
        }
        for name, verdict in refused
    ]
    status = 413 if first.label == QualityProblem.TOO_LONG.value else 422
    raise ServiceError(status, first.reason, quality=first.label, results=entries)


def create_app(
    detector: "Detector",
    *,
    token: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    workers: int = 2,
) -> "FastAPI":
    """The FastAPI application serving ``detector``.

    Args:
        detector: a loaded detector, shared read-only by all requests.
        token: API token required as ``Authorization: Bearer <token>`` on ``/info`` and ``/score``; None: open.
        max_upload_bytes: largest request body accepted (413 above).
        max_seconds: longest clip accepted, in seconds (413 above); None: no limit.
        timeout_s: longest scoring time of one request (504 above); None: no limit.
        workers: threads that score requests.
    """
    require_serve_extra()
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

    from soundsentry.deploy.metrics import MetricsMiddleware, ServiceMetrics

    if token is not None and not token:
        raise ConfigError("the API token is empty; put a non-empty token in the token file")
    for name, value in (("max_upload_bytes", max_upload_bytes), ("max_seconds", max_seconds), ("timeout_s", timeout_s)):
        if value is not None and not value > 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="soundsentry-score")

    @contextlib.asynccontextmanager
    async def lifespan(app: "FastAPI") -> AsyncIterator[None]:
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="soundsentry detector", description="Anomalous machine-sound detection.", lifespan=lifespan)
    app.state.detector = detector
    app.state.pool = pool
    metrics = app.state.metrics = ServiceMetrics()  # per app: several apps in one process do not collide
    app.add_middleware(MetricsMiddleware, metrics=metrics, endpoints=lambda: [r.path for r in app.routes])

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, err: ServiceError) -> JSONResponse:
        if err.quality:  # one count per refused clip of the request
            for entry in err.results or [{"quality": err.quality}]:
                metrics.observe_rejection(str(entry.get("quality") or err.quality))
        headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
        body: dict[str, Any] = {"detail": err.message}
        if err.quality:
            body.update(quality=err.quality, results=err.results or [])
        return JSONResponse(body, status_code=err.status, headers=headers)

    def check_token(request: Request) -> None:
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise ServiceError(401, "missing API token; send the header 'Authorization: Bearer <token>'")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ServiceError(401, "wrong API token")

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_upload_bytes:
            raise ServiceError(413, f"request body is {int(declared)} bytes, over the limit of {max_upload_bytes}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_upload_bytes:
                raise ServiceError(413, f"request body is over the limit of {max_upload_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info")
    async def info(request: Request) -> dict[str, Any]:
        check_token(request)
        return detector.info()

    @app.get("/metrics")
    async def metrics_text(request: Request) -> Response:
        check_token(request)
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.post("/score")
    async def score(request: Request) -> dict[str, Any]:
        check_token(request)
        body = await read_body(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fields: dict[str, str] = {}
        if content_type == "multipart/form-data":
            fields, uploads = parse_multipart(request.headers.get("content-type", ""), body)
        elif content_type in RAW_TYPES:
            uploads = [Upload(request.query_params.get("name", "clip" + RAW_TYPES[content_type]), body)]
        else:
            raise ServiceError(
                415,
                f"unsupported content type {content_type or '(none)'!r}; send multipart/form-data file parts or a "
                "raw audio/wav, audio/flac, audio/ogg or audio/mpeg body",
            )
        machine_type = request.query_params.get("machine_type") or fields.get("machine_type")
        section = request.query_params.get("section") or fields.get("section") or "00"
        if not machine_type:
            raise ServiceError(422, "machine_type is missing; pass it in the query (?machine_type=fan) or a form field")
        domain = request.query_params.get("domain") or fields.get("domain") or None
        if domain not in (None, "source", "target"):
            raise ServiceError(422, f"unknown domain {domain!r}; valid: source, target (or leave it out)")
        if not uploads or not any(u.data for u in uploads):
            raise ServiceError(422, "no clip in the request; send a WAV or FLAC file")
        try:
            info = detector.group(machine_type, section)
        except SoundSentryError as err:
            raise ServiceError(404, str(err)) from None
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(
            pool,
            lambda: score_uploads(detector, uploads, machine_type, section, max_seconds=max_seconds, domain=domain),
        )
        try:
            results = await asyncio.wait_for(job, timeout_s)
        except asyncio.TimeoutError:
            raise ServiceError(504, f"scoring took longer than the limit of {timeout_s:g} s; try again later") from None
        metrics.observe_decisions(info.machine_type, info.section, results)
        return {"machine_type": info.machine_type, "section": info.section, "results": results}

    return app


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], list[Upload]]:
    """Form fields and file parts (in order) of a ``multipart/form-data`` body held in memory.

    Parsed here rather than by Starlette so no upload is spooled to a file outside the request's temporary folder.
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ServiceError(422, "multipart body without a boundary; let the HTTP client build the form")
    parts: list[dict[str, Any]] = []
    header: list[bytes] = [b"", b""]

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def on_header_end() -> None:
        parts[-1]["headers"][header[0].decode("latin-1").lower()] = header[1].decode("latin-1")
        header[0], header[1] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"] += data[start:end]

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as err:  # the parser's own error types differ between versions
        raise ServiceError(422, f"malformed multipart body ({err})") from None
    fields: dict[str, str] = {}
    uploads: list[Upload] = []
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get("content-disposition", ""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disposition:
            filename = disposition[b"filename"].decode("utf-8", "replace")
            uploads.append(Upload(Path(filename).name or f"clip{len(uploads)}", bytes(part["data"])))
        elif name:
            fields[name] = bytes(part["data"]).decode("utf-8", "replace").strip()
    return fields, uploads


def read_token_file(path: str | Path) -> str:
    """The API token: the file's content without surrounding whitespace; a one-line error when unusable."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the token file ({err.__class__.__name__}); check the path") from None
    if not token:
        raise ConfigError(f"{path}: the token file is empty; write the API token into it")
    return token


def serve(
    detector: "Detector",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    workers: int = 2,
) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    app = create_app(
        detector,
        token=token,
        max_upload_bytes=max_upload_bytes,
        max_seconds=max_seconds,
        timeout_s=timeout_s,
        workers=workers,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")


__all__ = [
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_TIMEOUT_S",
    "ServiceError",
    "Upload",
    "create_app",
    "parse_multipart",
    "read_token_file",
    "require_serve_extra",
    "score_uploads",
    "serve",
]
